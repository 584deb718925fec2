"""Google: OAuth access tokens for Vertex AI and other Google APIs.

One module per mechanism; `service_account` signs a JWT with a service-account key (RFC 7523).
"""

from .service_account import VertexOAuthCredentialProvider

__all__ = ["VertexOAuthCredentialProvider"]
