"""`default_chain()`: the Azure credential this machine is set up for, and why it was chosen.

The order follows azure-identity's `DefaultAzureCredential` where it matters (environment,
workload identity, managed identity, developer login) but decides differently: every source
but managed identity is chosen or skipped from variables and files alone, and managed identity
costs one probe bounded by one deadline (`probe_timeout`), so a laptop off Azure decides in
milliseconds when 169.254.169.254 refuses and in at most `probe_timeout` when it swallows
packets. A source that is configured but broken stops the chain with its own error.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._env import environment, optional
from ..chain import ChainProvider
from ..credentials import BearerToken
from ..errors import ConfigurationError, SourceNotConfigured
from ..provider import CredentialProvider, StaticTokenProvider, check_options
from ..secret import SecretString
from .cli import AzureCliCredentialProvider
from .client_certificate import ClientCertificateCredentialProvider
from .client_secret import AzureAdCredentialProvider
from .managed_identity import ManagedIdentityCredentialProvider
from .workload_identity import WorkloadIdentityCredentialProvider

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..provider import ProviderOptions

__all__ = ["DEFAULT_PROBE_TIMEOUT", "default_chain"]

#: Seconds the managed-identity probe may take in all (connect and read): a real IMDS answers
#: it in a few milliseconds; off Azure a refused connection costs about one.
DEFAULT_PROBE_TIMEOUT = 0.5


def default_chain(
    *,
    scope: str | None = None,
    environ: Mapping[str, str] | None = None,
    probe_timeout: float = DEFAULT_PROBE_TIMEOUT,
    **options: Unpack[ProviderOptions],
) -> ChainProvider:
    """A `ChainProvider` over every Azure source, in this order; nothing is read until first use.

    1. ``AZURE_AD_TOKEN``: a ready-made token (`StaticTokenProvider`);
    2. a client secret (``AZURE_CLIENT_SECRET`` with ``AZURE_TENANT_ID``, ``AZURE_CLIENT_ID``);
    3. a client certificate (``AZURE_CLIENT_CERTIFICATE_PATH``, ...);
    4. workload identity (``AZURE_FEDERATED_TOKEN_FILE``, as the AKS webhook sets it);
    5. managed identity: App Service when ``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER`` are
       set, else IMDS if its probe answers within `probe_timeout` seconds;
    6. the Azure CLI (``az`` on PATH, after ``az login``).

    `scope` (default ``AZURE_AD_SCOPE``, else Azure OpenAI's) applies to every source;
    `environ` defaults to `os.environ` and is read when the chain chooses. `options` go to
    the chosen provider (see `ProviderOptions`). `describe()` tells which source was chosen
    and why each earlier one was skipped; when none is configured, `resolve()` raises one
    `SourceNotConfigured` (a `ConfigurationError`) listing them all.
    """
    if not isinstance(probe_timeout, (int, float)) or isinstance(probe_timeout, bool) or not 0 < probe_timeout <= 60:
        raise ConfigurationError(f"azure default chain: probe_timeout must be seconds in (0, 60], got {probe_timeout!r:.40}")
    if scope is not None and not isinstance(scope, str):
        raise ConfigurationError(f"azure default chain: scope must be a str, not {type(scope).__name__}")
    check_options("default_chain", "azure default chain", options)  # a typo fails here, not at first use
    settings = _Sources(environ, scope, probe_timeout, options)
    return ChainProvider(
        [
            ("environment token (AZURE_AD_TOKEN)", settings.static_token),
            ("client secret", settings.client_secret),
            ("client certificate", settings.client_certificate),
            ("workload identity", settings.workload_identity),
            ("managed identity", settings.managed_identity),
            ("Azure CLI", settings.azure_cli),
        ],
        name="azure default chain",
        credential_type=BearerToken,
    )


class _Sources:
    """The chain's sources: each builds its provider from one snapshot of the environment."""

    def __init__(
        self, environ: Mapping[str, str] | None, scope: str | None, probe_timeout: float, options: Mapping[str, Any]
    ) -> None:
        self._environ = environ
        self._scope = scope
        self._probe_timeout = probe_timeout
        self._options = dict(options)

    def _env(self) -> Mapping[str, str]:
        """The environment as the sources read it: `scope`, when given, replaces AZURE_AD_SCOPE."""
        env = environment(self._environ)
        if self._scope is None:
            return env
        return {**env, "AZURE_AD_SCOPE": self._scope}


    def static_token(self) -> CredentialProvider:
        token = self._env().get("AZURE_AD_TOKEN")
        if token is None:
            raise SourceNotConfigured("AZURE_AD_TOKEN is not set")
        if not token.strip():
            raise ConfigurationError("AZURE_AD_TOKEN is set but empty; unset it to use the next sources")
        return StaticTokenProvider(SecretString(token.strip()))

    def client_secret(self) -> CredentialProvider:
        env = self._env()
        if optional(env, "AZURE_CLIENT_SECRET") is None:
            raise SourceNotConfigured("AZURE_CLIENT_SECRET is not set")
        without_token = {k: v for k, v in env.items() if k != "AZURE_AD_TOKEN"}
        return AzureAdCredentialProvider.from_env(without_token, **self._options)

    def client_certificate(self) -> CredentialProvider:
        return ClientCertificateCredentialProvider.from_env(self._env(), **self._options)

    def workload_identity(self) -> CredentialProvider:
        return WorkloadIdentityCredentialProvider.from_env(self._env(), **self._options)

    def managed_identity(self) -> CredentialProvider:
        provider = ManagedIdentityCredentialProvider.from_env(self._env(), **self._options)
        try:
            provider.probe(self._probe_timeout)
        except BaseException:
            provider.close()
            raise
        return provider

    def azure_cli(self) -> CredentialProvider:
        env = self._env()
        cli = AzureCliCredentialProvider.from_env(env, **self._options)
        scope = optional(env, "AZURE_AD_SCOPE")
        return cli if scope is None or scope == cli.scope else cli.with_scope(scope)
