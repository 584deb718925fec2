"""Google user credentials: the refresh token ``gcloud auth application-default login`` writes (RFC 6749 §6).

The ADC file (``type: authorized_user``) holds an OAuth client id and secret and the user's
refresh token; each fetch trades the refresh token for an hour-long access token. A
``token_uri`` in the file is honoured when it is https (or loopback, for tests); google-auth
always posts to oauth2.googleapis.com instead.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from .._env import environment
from .._http import ErrorDetails, TokenResponse
from .._oauth import parse_oauth_error, refresh_token
from .._url import check_endpoint_url
from ..credentials import BearerToken
from ..errors import ConfigurationError
from ..provider import RefreshingCredentialProvider
from ..secret import SecretString
from ._files import read_json_file
from ._scopes import normalize_scopes

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..provider import ProviderOptions

__all__ = ["DEFAULT_TOKEN_URI", "LOGIN_COMMAND", "AuthorizedUserCredentialProvider", "parse_error"]

_PROVIDER = "google.authorized_user"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
LOGIN_COMMAND = "gcloud auth application-default login"


def _text(value: object, field: str, source: str, *, required: bool = True) -> str | None:
    """A non-empty string field, stripped; errors name the field, never the value."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ConfigurationError(f"{_PROVIDER}: {source}: {field} is missing or empty")
        return None
    if not isinstance(value, (str, SecretString)):
        raise ConfigurationError(f"{_PROVIDER}: {source}: {field} must be a string, not {type(value).__name__}")
    text = value.expose_secret() if isinstance(value, SecretString) else value
    if not text.strip():
        raise ConfigurationError(f"{_PROVIDER}: {source}: {field} is missing or empty")
    if any(c.isspace() or not c.isprintable() for c in text.strip()):
        raise ConfigurationError(f"{_PROVIDER}: {source}: {field} contains whitespace or control characters")
    return text.strip()


@dataclasses.dataclass(frozen=True, repr=False)
class _Login:
    """The validated login: who the client is, where to refresh, and the two secrets."""

    client_id: str
    client_secret: SecretString
    refresh_token: SecretString
    token_uri: str
    quota_project_id: str | None


class AuthorizedUserCredentialProvider(RefreshingCredentialProvider):
    """Access tokens for a user's gcloud ADC login, by the refresh-token grant.

    `token_uri` must be https (plain http only on loopback). `scopes` None sends no scope:
    Google then grants what the user consented to at login (cloud-platform for gcloud),
    as google-auth does. `quota_project_id` is kept for clients that send
    ``x-goog-user-project``; it does not change the token request. See `ProviderOptions`
    for the caching and HTTP options.
    """

    provider_name = _PROVIDER
    credential_type: ClassVar[type[BearerToken]] = BearerToken
    #: Nothing is required: `from_env()` reads gcloud's well-known ADC file.
    REQUIRED_ENV: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        client_id: str,
        client_secret: SecretString | str,
        refresh_token: SecretString | str,
        *,
        token_uri: str = DEFAULT_TOKEN_URI,
        quota_project_id: str | None = None,
        scopes: str | Iterable[str] | None = None,
        source: str = "authorized_user credentials",
        **options: Unpack[ProviderOptions],
    ) -> None:
        super().__init__(**options)
        uri = _text(token_uri, "token_uri", source)
        assert uri is not None  # required
        self._login = _Login(
            client_id=str(_text(client_id, "client_id", source)),
            client_secret=SecretString(str(_text(client_secret, "client_secret", source))),
            refresh_token=SecretString(str(_text(refresh_token, "refresh_token", source))),
            token_uri=check_endpoint_url(uri, f"{_PROVIDER}: {source}: token_uri"),
            quota_project_id=_text(quota_project_id, "quota_project_id", source, required=False),
        )
        self._scopes = () if scopes is None else normalize_scopes(_PROVIDER, scopes)
        self._source = source
        self._fetcher = self._make_fetcher(self._login.token_uri)

    # -- constructors ------------------------------------------------------------------

    @classmethod
    def from_info(
        cls, info: Mapping[str, Any], *, source: str = "authorized_user info", **options: Any
    ) -> AuthorizedUserCredentialProvider:
        """Build from the parsed ADC file (``type: authorized_user``); `options` go to the constructor."""
        if not isinstance(info, Mapping):
            raise ConfigurationError(f"{_PROVIDER}: {source} is not a JSON object")
        kind = info.get("type", "authorized_user")
        if kind != "authorized_user":
            raise ConfigurationError(
                f"{_PROVIDER}: {source} has type {str(kind)[:40]!r}; a gcloud user login has type 'authorized_user'"
            )
        token_uri = info.get("token_uri") or DEFAULT_TOKEN_URI
        return cls(
            info.get("client_id"),  # type: ignore[arg-type]  # checked by the constructor
            info.get("client_secret"),  # type: ignore[arg-type]
            info.get("refresh_token"),  # type: ignore[arg-type]
            token_uri=token_uri, quota_project_id=info.get("quota_project_id"), source=source, **options,
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **options: Any) -> AuthorizedUserCredentialProvider:
        """Build from an ADC file written by ``gcloud auth application-default login``."""
        info = read_json_file(path, provider=_PROVIDER, what="ADC file")
        return cls.from_info(info, source=f"ADC file {os.fspath(path)}", **options)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **options: Any
    ) -> AuthorizedUserCredentialProvider:
        """Build from gcloud's well-known ADC file (``$CLOUDSDK_CONFIG/application_default_credentials.json``)."""
        from ._adc_file import well_known_file

        path = well_known_file(environment(environ))
        if path is None:
            raise ConfigurationError(f"{_PROVIDER}: neither CLOUDSDK_CONFIG nor HOME is set: no gcloud ADC file")
        if not os.path.isfile(path):
            raise ConfigurationError(f"{_PROVIDER}: no gcloud ADC file at {path}; run '{LOGIN_COMMAND}'")
        return cls.from_file(path, **options)

    def with_scope(self, scope: str | Iterable[str]) -> AuthorizedUserCredentialProvider:
        """The same login for other scopes: a new provider with its own, empty cache."""
        login = self._login
        return type(self)(login.client_id, login.client_secret, login.refresh_token, token_uri=login.token_uri,
                          quota_project_id=login.quota_project_id, scopes=scope, source=self._source,
                          **self._options)

    # -- what it is ------------------------------------------------------------------------

    @property
    def client_id(self) -> str:
        """The OAuth client the login was made with (not a secret)."""
        return self._login.client_id

    @property
    def token_uri(self) -> str:
        """Where the refresh token is traded."""
        return self._login.token_uri

    @property
    def quota_project_id(self) -> str | None:
        """The project billed for quota (``x-goog-user-project``), None when the file names none."""
        return self._login.quota_project_id

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes asked for; empty when the login's own scopes apply."""
        return self._scopes

    def _repr_fields(self) -> dict[str, object]:
        return {"client_id": self._login.client_id, "token_uri": self._login.token_uri}

    def _cache_identity(self) -> tuple[dict[str, str], bytes | None] | None:
        """Client, endpoint and scopes; the refresh token and client secret are the local secret."""
        login = self._login
        secret = b"\0".join(s.expose_secret().encode() for s in (login.refresh_token, login.client_secret))
        return {"client": login.client_id, "endpoint": login.token_uri, "scope": " ".join(self._scopes)}, secret

    # -- the token request ---------------------------------------------------------------

    def _fetch(self) -> BearerToken:
        """One refresh-token grant; a rotated refresh token in the answer is not kept (gcloud keeps the file)."""
        login = self._login
        return refresh_token(self._fetcher, login.refresh_token, client_id=login.client_id,
                             client_secret=login.client_secret, scope=self._scopes or None,
                             parse_error=parse_error)


_HINTS: Mapping[str, str] = {
    "invalid_grant": f"The login has expired or was revoked: run '{LOGIN_COMMAND}' again",
    "invalid_client": f"The OAuth client in the ADC file is not valid: run '{LOGIN_COMMAND}' again",
    "invalid_scope": "The login does not cover the scopes asked for: pass other scopes, or log in with "
                     f"'{LOGIN_COMMAND} --scopes=...'",
    "invalid_rapt": f"The organisation requires re-authentication: run '{LOGIN_COMMAND}' again",
}


def parse_error(response: TokenResponse) -> ErrorDetails:
    """Google's OAuth error answer, with a hint saying what to run for the usual ones."""
    info = parse_oauth_error(response)
    code = info.error_code
    if code == "invalid_grant" and "rapt" in (info.description or "").lower():
        code = "invalid_rapt"
    hint = _HINTS.get(code or "")
    return dataclasses.replace(info, hint=hint) if hint else info
