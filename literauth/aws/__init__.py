"""AWS: temporary keys from STS for Bedrock and other AWS APIs, signed with literauth's own SigV4.

One module per mechanism; `web_identity` is `AssumeRoleWithWebIdentity` (EKS IRSA).
"""

from .web_identity import WebIdentityCredentialProvider

__all__ = ["WebIdentityCredentialProvider"]
