"""literauth: short-lived cloud credentials, cached and refreshed, for LLM and cloud APIs.

    import literauth
    provider = literauth.AzureAdCredentialProvider.from_env()
    token = provider.resolve()          # cached; refreshed five minutes before expiry
    session.auth = literauth.BearerAuth(provider)
"""

import importlib as _importlib
import logging as _logging
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from ._policy import RefreshPolicy, RetryPolicy
from ._registry import SPECS as _SPECS
from ._version import __version__
from .credentials import AwsCredentials, BearerToken, Credential
from .errors import (
    ConfigurationError,
    CredentialError,
    CredentialSourceError,
    LiterAuthError,
    MalformedResponseError,
    ModelConfigError,
    SourceNotConfigured,
    TokenEndpointError,
    TransportError,
    TransportReason,
)
from .provider import (
    CredentialProvider,
    ProviderStats,
    RefreshingCredentialProvider,
    StaticTokenProvider,
    SupportsResolve,
)
from .secret import SecretString

if _TYPE_CHECKING:
    from .aws import (
        AssumeRoleProvider,
        ContainerCredentialsProvider,
        EnvironmentCredentialsProvider,
        InstanceMetadataCredentialsProvider,
        ProcessCredentialsProvider,
        WebIdentityCredentialProvider,
    )
    from .azure import (
        AzureAdCredentialProvider,
        AzureCliCredentialProvider,
        ClientCertificateCredentialProvider,
        ManagedIdentityCredentialProvider,
        WorkloadIdentityCredentialProvider,
    )
    from .chain import ChainProvider
    from .client import Client, ClientConfig, DefaultClient
    from .config import ModelEntry, ModelTable, load_models, loads_models
    from .google import (
        AuthorizedUserCredentialProvider,
        ComputeEngineCredentialProvider,
        ExternalAccountCredentialProvider,
        ImpersonatedCredentialProvider,
        VertexOAuthCredentialProvider,
    )
    from .integrations.requests import BearerAuth, SigV4Auth, bearer_token_callable

# Names loaded on first use, so `import literauth` stays cheap: providers come from the
# registry (importing one need not load the others); `requests` is imported at the first fetch.
_LAZY = {
    **{spec.class_name: spec.module for spec in _SPECS},
    "BearerAuth": "literauth.integrations.requests",
    "SigV4Auth": "literauth.integrations.requests",
    "bearer_token_callable": "literauth.integrations.requests",
    "ChainProvider": "literauth.chain",
    "Client": "literauth.client",
    "ClientConfig": "literauth.client",
    "DefaultClient": "literauth.client",
    "ModelEntry": "literauth.config",
    "ModelTable": "literauth.config",
    "load_models": "literauth.config",
    "loads_models": "literauth.config",
}

_logging.getLogger("literauth").addHandler(_logging.NullHandler())


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'literauth' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # The contract is __all__; submodules and helpers stay reachable but out of the listing.
    return sorted(set(__all__) | {name for name in globals() if name.startswith("_")})


__all__ = [
    "AssumeRoleProvider",
    "AuthorizedUserCredentialProvider",
    "AwsCredentials",
    "AzureAdCredentialProvider",
    "AzureCliCredentialProvider",
    "BearerAuth",
    "BearerToken",
    "ChainProvider",
    "Client",
    "ClientCertificateCredentialProvider",
    "ClientConfig",
    "ComputeEngineCredentialProvider",
    "ConfigurationError",
    "ContainerCredentialsProvider",
    "Credential",
    "CredentialError",
    "CredentialProvider",
    "CredentialSourceError",
    "DefaultClient",
    "EnvironmentCredentialsProvider",
    "ExternalAccountCredentialProvider",
    "ImpersonatedCredentialProvider",
    "InstanceMetadataCredentialsProvider",
    "LiterAuthError",
    "MalformedResponseError",
    "ManagedIdentityCredentialProvider",
    "ModelConfigError",
    "ModelEntry",
    "ModelTable",
    "ProcessCredentialsProvider",
    "ProviderStats",
    "RefreshPolicy",
    "RefreshingCredentialProvider",
    "RetryPolicy",
    "SecretString",
    "SigV4Auth",
    "SourceNotConfigured",
    "StaticTokenProvider",
    "SupportsResolve",
    "TokenEndpointError",
    "TransportError",
    "TransportReason",
    "VertexOAuthCredentialProvider",
    "WebIdentityCredentialProvider",
    "WorkloadIdentityCredentialProvider",
    "__version__",
    "bearer_token_callable",
    "load_models",
    "loads_models",
]
