"""AWS: temporary keys for Bedrock and other AWS APIs, signed with literauth's own SigV4.

One module per mechanism: `web_identity` is `AssumeRoleWithWebIdentity` (EKS IRSA),
`environment` the ``AWS_ACCESS_KEY_ID`` variables, `container` the ECS / EKS Pod Identity
endpoint, `instance_metadata` EC2 IMDSv2, `assume_role` is `AssumeRole` with a source
provider's keys (cross-account, role chaining), `process` runs a `credential_process` helper.
"""

from .assume_role import AssumeRoleProvider
from .container import ContainerCredentialsProvider
from .environment import EnvironmentCredentialsProvider
from .instance_metadata import InstanceMetadataCredentialsProvider
from .process import ProcessCredentialsProvider
from .web_identity import WebIdentityCredentialProvider

__all__ = [
    "AssumeRoleProvider",
    "ContainerCredentialsProvider",
    "EnvironmentCredentialsProvider",
    "InstanceMetadataCredentialsProvider",
    "ProcessCredentialsProvider",
    "WebIdentityCredentialProvider",
]
