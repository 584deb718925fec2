"""AWS: temporary keys for Bedrock and other AWS APIs, signed with literauth's own SigV4.

One module per mechanism: `web_identity` is `AssumeRoleWithWebIdentity` (EKS IRSA),
`environment` the ``AWS_ACCESS_KEY_ID`` variables, `container` the ECS / EKS Pod Identity
endpoint, `instance_metadata` EC2 IMDSv2, `shared_config` a profile of ``~/.aws/config``,
`sso` IAM Identity Center; `default_chain()` finds credentials where botocore would, in
botocore's order.
"""

from ._chain import default_chain
from .container import ContainerCredentialsProvider
from .environment import EnvironmentCredentialsProvider
from .instance_metadata import InstanceMetadataCredentialsProvider
from .shared_config import SharedConfigProvider
from .sso import SsoCredentialProvider
from .web_identity import WebIdentityCredentialProvider

__all__ = [
    "ContainerCredentialsProvider",
    "EnvironmentCredentialsProvider",
    "InstanceMetadataCredentialsProvider",
    "SharedConfigProvider",
    "SsoCredentialProvider",
    "WebIdentityCredentialProvider",
    "default_chain",
]
