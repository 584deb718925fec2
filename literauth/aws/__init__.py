"""AWS: temporary keys from STS for Bedrock and other AWS APIs, signed with literauth's own SigV4.

One module per mechanism; `web_identity` is `AssumeRoleWithWebIdentity` (EKS IRSA),
`shared_config` a profile of ``~/.aws/config``, `sso` IAM Identity Center; `default_chain()`
finds credentials where botocore would, in botocore's order.
"""

from ._chain import default_chain
from .shared_config import SharedConfigProvider
from .sso import SsoCredentialProvider
from .web_identity import WebIdentityCredentialProvider

__all__ = ["SharedConfigProvider", "SsoCredentialProvider", "WebIdentityCredentialProvider", "default_chain"]
