"""Azure AD (Microsoft Entra ID) client secret: bearer tokens for Azure OpenAI.

Exchanges an app registration's client secret for an access token at the Microsoft identity
platform v2.0 token endpoint (the client-credentials grant); the engine caches it and
refreshes it ahead of expiry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._env import environment, optional, require
from ..errors import ConfigurationError
from ..provider import StaticTokenProvider
from ..secret import SecretString
from ._common import DEFAULT_AUTHORITY_HOST, DEFAULT_SCOPE
from ._confidential import ConfidentialClientProvider

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..provider import ProviderOptions

__all__ = ["AzureAdCredentialProvider"]

_PROVIDER = "azure.client_secret"
_INSTEAD = "or set AZURE_CLIENT_SECRET or AZURE_AD_TOKEN for this one"
#: Variables of Azure flows other providers handle, the flow each selects and that provider:
#: when one is set and AZURE_CLIENT_SECRET is not, `from_env()` names the flow and the
#: provider rather than only the missing secret, since the environment was plainly meant for it.
_OTHER_FLOWS: tuple[tuple[str, str, str], ...] = (
    ("AZURE_FEDERATED_TOKEN_FILE", "workload identity", "WorkloadIdentityCredentialProvider"),
    ("AZURE_CLIENT_CERTIFICATE_PATH", "certificate authentication", "ClientCertificateCredentialProvider"),
)


class AzureAdCredentialProvider(ConfidentialClientProvider):
    """Bearer tokens from the Microsoft identity platform v2.0 client-credentials grant.

    `client_secret` may be a `str`; it is wrapped in a `SecretString` at once. `scope` is
    one resource with the `/.default` suffix, as the client-credentials grant requires.
    `authority_host` selects the cloud (`https://login.microsoftonline.us` for US
    Government, `https://login.chinacloudapi.cn` for China). See `ProviderOptions` for the
    caching and HTTP options.
    """

    provider_name = _PROVIDER
    #: What `from_env()` needs when AZURE_AD_TOKEN is not set.
    REQUIRED_ENV = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET")

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        client_secret: SecretString | str,
        *,
        scope: str = DEFAULT_SCOPE,
        authority_host: str = DEFAULT_AUTHORITY_HOST,
        **options: Unpack[ProviderOptions],
    ) -> None:
        self._client_secret = _check_secret(_PROVIDER, client_secret)
        super().__init__(
            tenant_id, client_id, self._client_secret, scope=scope, authority_host=authority_host, **options
        )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **options: Unpack[ProviderOptions]
    ) -> AzureAdCredentialProvider | StaticTokenProvider:
        """A provider configured from environment variables (`os.environ` when `environ` is None).

        `AZURE_AD_TOKEN`, when set, wins: a `StaticTokenProvider` for it is returned and no
        other variable is read. Otherwise `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and
        `AZURE_CLIENT_SECRET` are required; `AZURE_AD_SCOPE` and `AZURE_AUTHORITY_HOST`
        override the defaults when set and not empty. Values are stripped of surrounding
        whitespace (a stray newline or CR from a .env file is never meant).

        Without AZURE_CLIENT_SECRET, a set AZURE_FEDERATED_TOKEN_FILE (workload identity) or
        AZURE_CLIENT_CERTIFICATE_PATH (certificate authentication) makes the
        `ConfigurationError` name that flow and the provider for it
        (`WorkloadIdentityCredentialProvider`, `ClientCertificateCredentialProvider`).
        """
        env = environment(environ)
        token = env.get("AZURE_AD_TOKEN")
        if token is not None:
            if not token.strip():
                raise ConfigurationError(
                    "AZURE_AD_TOKEN is set but empty; unset it to use AZURE_TENANT_ID, "
                    "AZURE_CLIENT_ID and AZURE_CLIENT_SECRET instead"
                )
            return StaticTokenProvider(SecretString(token.strip()))
        _refuse_other_flow(env)
        values = require(
            env,
            cls.REQUIRED_ENV,
            provider=_PROVIDER,
            hint="set all of AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, "
            "or AZURE_AD_TOKEN for a ready-made token",
        )
        scope = optional(env, "AZURE_AD_SCOPE") or DEFAULT_SCOPE
        authority = optional(env, "AZURE_AUTHORITY_HOST") or DEFAULT_AUTHORITY_HOST
        return cls(
            values["AZURE_TENANT_ID"],
            values["AZURE_CLIENT_ID"],
            SecretString(values["AZURE_CLIENT_SECRET"]),
            scope=scope,
            authority_host=authority,
            **options,
        )

    def _identity_args(self) -> tuple[Any, ...]:
        return (self._tenant_id, self._client_id, self._client_secret)


def _refuse_other_flow(env: Mapping[str, str]) -> None:
    """`ConfigurationError` naming the flow and its provider when the environment sets up another flow.

    Only when AZURE_CLIENT_SECRET is unset or blank: a client secret, when given, is used.
    """
    if optional(env, "AZURE_CLIENT_SECRET") is not None:
        return
    for variable, flow, provider in _OTHER_FLOWS:
        if optional(env, variable) is not None:
            raise ConfigurationError(
                f"{_PROVIDER}: {variable} is set, which selects {flow}: use {provider} (literauth.azure), {_INSTEAD}"
            )


def _check_secret(provider: str, client_secret: object) -> SecretString:
    if not isinstance(client_secret, (str, SecretString)):
        raise ConfigurationError(
            f"{provider}: client_secret must be a str or SecretString, not {type(client_secret).__name__}"
        )
    secret = SecretString(client_secret)
    if not secret.expose_secret().strip():
        raise ConfigurationError(f"{provider}: client_secret is empty")
    return secret
