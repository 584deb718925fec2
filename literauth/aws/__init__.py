"""AWS: temporary keys for Bedrock and other AWS APIs, signed with literauth's own SigV4.

One module per mechanism: `web_identity` is `AssumeRoleWithWebIdentity` (EKS IRSA),
`environment` the ``AWS_ACCESS_KEY_ID`` variables, `container` the ECS / EKS Pod Identity
endpoint, `instance_metadata` EC2 IMDSv2, `assume_role` is `AssumeRole` with a source
provider's keys (cross-account, role chaining), `process` runs a `credential_process` helper,
`shared_config` a profile of ``~/.aws/config``, `sso` IAM Identity Center; `default_chain()`
finds credentials where botocore would, in botocore's order.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from .._lazy import attach as _attach

if _TYPE_CHECKING:
    from ._chain import default_chain
    from .assume_role import AssumeRoleProvider
    from .container import ContainerCredentialsProvider
    from .environment import EnvironmentCredentialsProvider
    from .instance_metadata import InstanceMetadataCredentialsProvider
    from .process import ProcessCredentialsProvider
    from .shared_config import SharedConfigProvider
    from .sso import SsoCredentialProvider
    from .web_identity import WebIdentityCredentialProvider

__getattr__, __dir__ = _attach(__name__, {
    "AssumeRoleProvider": ".assume_role",
    "ContainerCredentialsProvider": ".container",
    "EnvironmentCredentialsProvider": ".environment",
    "InstanceMetadataCredentialsProvider": ".instance_metadata",
    "ProcessCredentialsProvider": ".process",
    "SharedConfigProvider": ".shared_config",
    "SsoCredentialProvider": ".sso",
    "WebIdentityCredentialProvider": ".web_identity",
    "default_chain": "._chain",
})

__all__ = [
    "AssumeRoleProvider",
    "ContainerCredentialsProvider",
    "EnvironmentCredentialsProvider",
    "InstanceMetadataCredentialsProvider",
    "ProcessCredentialsProvider",
    "SharedConfigProvider",
    "SsoCredentialProvider",
    "WebIdentityCredentialProvider",
    "default_chain",
]
