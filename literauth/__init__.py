"""literauth: short-lived cloud credentials, cached and refreshed, for LLM and cloud APIs.

    import literauth
    provider = literauth.AzureAdCredentialProvider.from_env()
    token = provider.resolve()          # cached; refreshed five minutes before expiry
    session.auth = literauth.BearerAuth(provider)
"""

import logging

from ._version import __version__
from .azure_ad import AzureAdCredentialProvider
from .bedrock_sts import WebIdentityCredentialProvider
from .config import ModelConfigError, ModelEntry, ModelTable, load_models
from .credentials import AwsCredentials, BearerToken, Credential
from .errors import (
    ConfigurationError,
    CredentialError,
    LiterAuthError,
    MalformedResponseError,
    TokenEndpointError,
    TransportError,
)
from .provider import (
    CredentialProvider,
    ProviderStats,
    RefreshingCredentialProvider,
    StaticTokenProvider,
    SupportsResolve,
)
from .secret import SecretString
from .vertex_oauth import VertexOAuthCredentialProvider

logging.getLogger("literauth").addHandler(logging.NullHandler())

__all__ = [
    "AwsCredentials",
    "AzureAdCredentialProvider",
    "BearerToken",
    "ConfigurationError",
    "Credential",
    "CredentialError",
    "CredentialProvider",
    "LiterAuthError",
    "MalformedResponseError",
    "ModelConfigError",
    "ModelEntry",
    "ModelTable",
    "ProviderStats",
    "RefreshingCredentialProvider",
    "SecretString",
    "StaticTokenProvider",
    "SupportsResolve",
    "TokenEndpointError",
    "TransportError",
    "VertexOAuthCredentialProvider",
    "WebIdentityCredentialProvider",
    "__version__",
    "load_models",
]
