"""AWS: temporary keys from STS for Bedrock and other AWS APIs, signed with literauth's own SigV4.

One module per mechanism: `web_identity` is `AssumeRoleWithWebIdentity` (EKS IRSA),
`assume_role` is `AssumeRole` with a source provider's keys (cross-account, role chaining),
`process` runs a `credential_process` helper.
"""

from .assume_role import AssumeRoleProvider
from .process import ProcessCredentialsProvider
from .web_identity import WebIdentityCredentialProvider

__all__ = ["AssumeRoleProvider", "ProcessCredentialsProvider", "WebIdentityCredentialProvider"]
