"""Google: OAuth access tokens for Vertex AI and other Google APIs.

One module per mechanism; `service_account` signs a JWT with a service-account key (RFC 7523),
`external_account` exchanges another issuer's token at STS (workload identity federation),
`impersonated` buys a service account's token with another token (IAM Credentials).
"""

from .external_account import ExternalAccountCredentialProvider
from .impersonated import ImpersonatedCredentialProvider
from .service_account import VertexOAuthCredentialProvider

__all__ = ["ExternalAccountCredentialProvider", "ImpersonatedCredentialProvider", "VertexOAuthCredentialProvider"]
