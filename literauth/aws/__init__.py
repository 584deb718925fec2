"""AWS: temporary keys for Bedrock and other AWS APIs, signed with literauth's own SigV4.

One module per mechanism: `web_identity` is `AssumeRoleWithWebIdentity` (EKS IRSA),
`environment` the ``AWS_ACCESS_KEY_ID`` variables, `container` the ECS / EKS Pod Identity
endpoint, `instance_metadata` EC2 IMDSv2.
"""

from .container import ContainerCredentialsProvider
from .environment import EnvironmentCredentialsProvider
from .instance_metadata import InstanceMetadataCredentialsProvider
from .web_identity import WebIdentityCredentialProvider

__all__ = [
    "ContainerCredentialsProvider",
    "EnvironmentCredentialsProvider",
    "InstanceMetadataCredentialsProvider",
    "WebIdentityCredentialProvider",
]
