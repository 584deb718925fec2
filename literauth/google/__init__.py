"""Google: OAuth access tokens for Vertex AI and other Google APIs.

One module per source: `service_account` signs a JWT with a service-account key (RFC 7523),
`compute_engine` asks the metadata server, `authorized_user` refreshes a gcloud user login,
`external_account` exchanges another issuer's token at STS (workload identity federation),
`impersonated` buys a service account's token with another token (IAM Credentials);
`default()` is Application Default Credentials, a chain over them.
"""

from ._adc import GoogleDefaultChain, default
from .authorized_user import AuthorizedUserCredentialProvider
from .compute_engine import ComputeEngineCredentialProvider
from .external_account import ExternalAccountCredentialProvider
from .impersonated import ImpersonatedCredentialProvider
from .service_account import VertexOAuthCredentialProvider

__all__ = [
    "AuthorizedUserCredentialProvider",
    "ComputeEngineCredentialProvider",
    "ExternalAccountCredentialProvider",
    "GoogleDefaultChain",
    "ImpersonatedCredentialProvider",
    "VertexOAuthCredentialProvider",
    "default",
]
