"""Google: OAuth access tokens for Vertex AI and other Google APIs.

One module per source: `service_account` signs a JWT with a service-account key (RFC 7523),
`compute_engine` asks the metadata server, `authorized_user` refreshes a gcloud user login;
`default()` is Application Default Credentials, a chain over them.
"""

from ._adc import GoogleDefaultChain, default
from .authorized_user import AuthorizedUserCredentialProvider
from .compute_engine import ComputeEngineCredentialProvider
from .service_account import VertexOAuthCredentialProvider

__all__ = [
    "AuthorizedUserCredentialProvider",
    "ComputeEngineCredentialProvider",
    "GoogleDefaultChain",
    "VertexOAuthCredentialProvider",
    "default",
]
