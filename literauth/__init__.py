"""literauth: short-lived cloud credentials, cached and refreshed, for LLM and cloud APIs.

    import literauth
    provider = literauth.AzureAdCredentialProvider.from_env()
    token = provider.resolve()          # cached; refreshed five minutes before expiry
    session.auth = literauth.BearerAuth(provider)
"""

import importlib
import logging
from typing import TYPE_CHECKING, Any

from ._policy import RefreshPolicy, RetryPolicy
from ._version import __version__
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

if TYPE_CHECKING:
    from .auth import BearerAuth, bearer_token_callable
    from .azure_ad import AzureAdCredentialProvider
    from .bedrock_sts import WebIdentityCredentialProvider
    from .client import Client, ClientConfig, DefaultClient
    from .config import ModelConfigError, ModelEntry, ModelTable, load_models
    from .sigv4 import SigV4Auth
    from .vertex_oauth import VertexOAuthCredentialProvider

# Names that need `requests` (or a TOML parser) at import are loaded on first use, so
# importing a provider stays cheap; `requests` itself is imported at the first token fetch.
_LAZY = {
    "AzureAdCredentialProvider": "azure_ad",  # importing one provider need not load the other two
    "WebIdentityCredentialProvider": "bedrock_sts",
    "VertexOAuthCredentialProvider": "vertex_oauth",
    "BearerAuth": "auth",
    "bearer_token_callable": "auth",
    "Client": "client",
    "ClientConfig": "client",
    "DefaultClient": "client",
    "ModelConfigError": "config",
    "ModelEntry": "config",
    "ModelTable": "config",
    "load_models": "config",
    "SigV4Auth": "sigv4",
}

logging.getLogger("literauth").addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'literauth' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

__all__ = [
    "AwsCredentials",
    "AzureAdCredentialProvider",
    "BearerAuth",
    "BearerToken",
    "Client",
    "ClientConfig",
    "ConfigurationError",
    "Credential",
    "CredentialError",
    "CredentialProvider",
    "DefaultClient",
    "LiterAuthError",
    "MalformedResponseError",
    "ModelConfigError",
    "ModelEntry",
    "ModelTable",
    "ProviderStats",
    "RefreshPolicy",
    "RefreshingCredentialProvider",
    "RetryPolicy",
    "SecretString",
    "SigV4Auth",
    "StaticTokenProvider",
    "SupportsResolve",
    "TokenEndpointError",
    "TransportError",
    "VertexOAuthCredentialProvider",
    "WebIdentityCredentialProvider",
    "__version__",
    "bearer_token_callable",
    "load_models",
]
