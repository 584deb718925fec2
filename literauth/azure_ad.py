"""Azure AD (Microsoft Entra ID) client-credentials provider: bearer tokens for Azure OpenAI.

Exchanges an app registration's client secret for an access token at the Microsoft identity
platform v2.0 token endpoint; the engine caches it and refreshes it ahead of expiry.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ._env import environment, optional, require
from ._http import EndpointError, TokenResponse, check_endpoint_url
from ._oauth import parse_bearer_token
from .credentials import BearerToken
from .errors import ConfigurationError
from .provider import (
    CredentialProvider,
    RefreshingCredentialProvider,
    StaticTokenProvider,
)
from .secret import SecretString

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .provider import ProviderOptions

__all__ = ["DEFAULT_AUTHORITY_HOST", "DEFAULT_SCOPE", "AzureAdCredentialProvider"]

DEFAULT_SCOPE = "https://cognitiveservices.azure.com/.default"  # Azure OpenAI and other AI services
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"  # the public cloud

_PROVIDER = "azure_ad"
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DNS_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


class AzureAdCredentialProvider(RefreshingCredentialProvider):
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
        super().__init__(**options)
        self._tenant_id = _check_tenant(tenant_id)
        self._client_id = _check_client_id(client_id)
        self._client_secret = _check_secret(client_secret)
        self._scope = _check_scope(scope)
        self._authority_host = _check_authority(authority_host)
        self._token_url = f"{self._authority_host}/{self._tenant_id}/oauth2/v2.0/token"
        self._token_fetcher = self._make_fetcher(self._token_url)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **options: Unpack[ProviderOptions]
    ) -> CredentialProvider:
        """A provider configured from environment variables (`os.environ` when `environ` is None).

        `AZURE_AD_TOKEN`, when set, wins: a `StaticTokenProvider` for it is returned and no
        other variable is read. Otherwise `AZURE_TENANT_ID`, `AZURE_CLIENT_ID` and
        `AZURE_CLIENT_SECRET` are required; `AZURE_AD_SCOPE` and `AZURE_AUTHORITY_HOST`
        override the defaults when set and not empty. Values are stripped of surrounding
        whitespace (a stray newline or CR from a .env file is never meant).
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

    def with_scope(self, scope: str) -> AzureAdCredentialProvider:
        """The same identity for another scope: a new provider with its own, empty cache."""
        return type(self)(
            self._tenant_id,
            self._client_id,
            self._client_secret,
            scope=scope,
            authority_host=self._authority_host,
            **self._options,
        )

    @property
    def tenant_id(self) -> str:
        """The directory (tenant) GUID or domain tokens are requested from."""
        return self._tenant_id

    @property
    def client_id(self) -> str:
        """The application (client) ID of the app registration."""
        return self._client_id

    @property
    def scope(self) -> str:
        """The scope tokens are requested for."""
        return self._scope

    @property
    def authority_host(self) -> str:
        """The identity platform's base URL, without a trailing slash."""
        return self._authority_host

    @property
    def token_url(self) -> str:
        """The v2.0 token endpoint requests are posted to."""
        return self._token_url

    def _fetch(self) -> BearerToken:
        """Post the client-credentials grant and read the bearer token from the answer."""
        form: dict[str, str | SecretString] = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
            "scope": self._scope,
        }
        response = self._token_fetcher.post_form(form, _parse_error, accept="application/json")
        return parse_bearer_token(response, _PROVIDER, self._token_fetcher.host)

    def _repr_fields(self) -> dict[str, object]:
        return {"tenant_id": self._tenant_id, "client_id": self._client_id, "scope": self._scope}


# -- validation -------------------------------------------------------------------------


def _check_tenant(tenant_id: object) -> str:
    """A tenant GUID or a domain name: it becomes a URL path segment, so nothing else passes."""
    if not isinstance(tenant_id, str) or not tenant_id:
        raise ConfigurationError(f"{_PROVIDER}: tenant_id must be a non-empty string")
    if _GUID.fullmatch(tenant_id) or _is_domain(tenant_id):
        return tenant_id
    if tenant_id.lower() in ("common", "organizations", "consumers"):
        raise ConfigurationError(
            f"{_PROVIDER}: tenant_id {tenant_id!r} cannot issue client-credentials tokens; "
            "use the directory (tenant) ID GUID or a verified domain"
        )
    raise ConfigurationError(
        f"{_PROVIDER}: tenant_id {tenant_id[:80]!r} is neither a GUID nor a domain name "
        "like contoso.onmicrosoft.com"
    )


def _is_domain(name: str) -> bool:
    labels = name.split(".")
    return (
        len(name) <= 253
        and len(labels) >= 2
        and all(_DNS_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
    )


def _check_client_id(client_id: object) -> str:
    if not isinstance(client_id, str) or not client_id.strip():
        raise ConfigurationError(f"{_PROVIDER}: client_id must be a non-empty string")
    if client_id != client_id.strip() or any(ch.isspace() for ch in client_id):
        raise ConfigurationError(f"{_PROVIDER}: client_id {client_id[:80]!r} contains whitespace")
    return client_id


def _check_secret(client_secret: object) -> SecretString:
    if not isinstance(client_secret, (str, SecretString)):
        raise ConfigurationError(
            f"{_PROVIDER}: client_secret must be a str or SecretString, not {type(client_secret).__name__}"
        )
    secret = SecretString(client_secret)
    if not secret.expose_secret().strip():
        raise ConfigurationError(f"{_PROVIDER}: client_secret is empty")
    return secret


def _check_scope(scope: object) -> str:
    """One resource with the `/.default` suffix: the only form the client-credentials grant takes."""
    if not isinstance(scope, str) or not scope.strip():
        raise ConfigurationError(f"{_PROVIDER}: scope must be a non-empty string")
    if any(ch.isspace() for ch in scope):
        raise ConfigurationError(
            f"{_PROVIDER}: scope {scope[:120]!r} holds more than one value; the client-credentials "
            "grant takes a single '<resource>/.default' scope (use with_scope() for another resource)"
        )
    if not scope.endswith("/.default") or scope == "/.default":
        raise ConfigurationError(
            f"{_PROVIDER}: scope {scope[:120]!r} must be a resource followed by '/.default', "
            f"e.g. {DEFAULT_SCOPE!r}"
        )
    return scope


def _check_authority(authority_host: object) -> str:
    """https (or http on loopback) with no path, query or fragment; a bare host means https."""
    if not isinstance(authority_host, str) or not authority_host.strip():
        raise ConfigurationError(f"{_PROVIDER}: authority_host must be a non-empty URL")
    url = authority_host.strip()
    if "://" not in url:  # azure-identity accepts "login.microsoftonline.us"
        url = "https://" + url
    url = check_endpoint_url(url, f"{_PROVIDER} authority_host").rstrip("/")
    parts = urlsplit(url)
    if parts.path or parts.query or parts.fragment:
        shown = f"{parts.scheme}://{parts.netloc}{parts.path}"  # a query or fragment may carry a secret
        raise ConfigurationError(
            f"{_PROVIDER}: authority_host must be a bare URL such as {DEFAULT_AUTHORITY_HOST!r}, "
            f"without a path, query or fragment; got {shown!r}{' with a query or fragment' if shown != url else ''}"
        )
    return url


# -- reading error answers --------------------------------------------------------------


def _parse_error(response: TokenResponse) -> EndpointError:
    """The AADSTS code, the first line of the description and the ids Azure support asks for."""
    try:
        data = json.loads(response.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deeply
        return EndpointError(None)
    if not isinstance(data, dict):
        return EndpointError(None)
    error = _scrub(data.get("error"))
    codes = data.get("error_codes")
    first = codes[0] if isinstance(codes, list) and codes else None
    code = f"AADSTS{first}" if isinstance(first, int) and not isinstance(first, bool) else error
    ids = [f"{name}={value}" for name in ("correlation_id", "trace_id") if (value := _scrub(data.get(name)))]
    return EndpointError(
        error_code=code,
        description=_first_line(_scrub(data.get("error_description")), code),
        retryable=True if error == "temporarily_unavailable" else None,
        reference=", ".join(ids) or None,
    )


def _scrub(value: object) -> str | None:
    """A non-empty string field of the body, stripped, else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def _first_line(text: str | None, code: str | None) -> str | None:
    """The description's first line, without the `AADSTSnnn:` prefix `code` already shows."""
    if text is None:
        return None
    line = text.splitlines()[0].strip()
    if code and line.startswith(f"{code}:"):
        line = line[len(code) + 1 :].strip()
    return line or None
