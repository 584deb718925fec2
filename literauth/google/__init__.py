"""Google: OAuth access tokens for Vertex AI and other Google APIs.

One module per source: `service_account` signs a JWT with a service-account key (RFC 7523),
`compute_engine` asks the metadata server, `authorized_user` refreshes a gcloud user login,
`external_account` exchanges another issuer's token at STS (workload identity federation),
`impersonated` buys a service account's token with another token (IAM Credentials);
`default()` is Application Default Credentials, a chain over them.
"""

from typing import TYPE_CHECKING as _TYPE_CHECKING

from .._lazy import attach as _attach

if _TYPE_CHECKING:
    from ._adc import GoogleDefaultChain, default
    from .authorized_user import AuthorizedUserCredentialProvider
    from .compute_engine import ComputeEngineCredentialProvider
    from .external_account import ExternalAccountCredentialProvider
    from .impersonated import ImpersonatedCredentialProvider
    from .service_account import VertexOAuthCredentialProvider

__getattr__, __dir__ = _attach(__name__, {
    "AuthorizedUserCredentialProvider": ".authorized_user",
    "ComputeEngineCredentialProvider": ".compute_engine",
    "ExternalAccountCredentialProvider": ".external_account",
    "GoogleDefaultChain": "._adc",
    "ImpersonatedCredentialProvider": ".impersonated",
    "VertexOAuthCredentialProvider": ".service_account",
    "default": "._adc",
})

__all__ = [
    "AuthorizedUserCredentialProvider",
    "ComputeEngineCredentialProvider",
    "ExternalAccountCredentialProvider",
    "GoogleDefaultChain",
    "ImpersonatedCredentialProvider",
    "VertexOAuthCredentialProvider",
    "default",
]
