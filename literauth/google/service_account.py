"""Google service account: access tokens (Vertex AI and every Google API) by signed JWT assertion (RFC 7523).

The provider signs a short RS256 JWT with the service account's private key and trades it
at Google's token endpoint for an hour-long access token. `cryptography` and `pyjwt` (the
`vertex-auth` extra) are imported when a provider is built, never when this module is.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from .. import _safejson
from .._env import environment, optional, require
from .._http import ErrorDetails, TokenResponse
from .._oauth import jwt_bearer, parse_oauth_error
from .._url import check_endpoint_url
from ..credentials import BearerToken
from ..errors import ConfigurationError
from ..provider import RefreshingCredentialProvider
from ..secret import SecretString
from ._files import read_json_file
from ._scopes import normalize_scopes

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from typing_extensions import Unpack

    from ..provider import ProviderOptions

__all__ = ["DEFAULT_SCOPE", "DEFAULT_TOKEN_URI", "VertexOAuthCredentialProvider"]

DEFAULT_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
ASSERTION_LIFETIME = 3600  # Google refuses an assertion that lives longer than an hour
BACKDATE = 30  # iat this far back: a clock running slightly ahead is otherwise refused
INSTALL_HINT = 'pip install "literauth[vertex-auth]"'
_PROVIDER = "google.service_account"

_NOT_A_SERVICE_ACCOUNT = {
    "authorized_user": "a user's login (gcloud auth application-default login)",
    "external_account": "a workload identity federation configuration",
    "impersonated_service_account": "a service-account impersonation configuration",
}


def _crypto_modules() -> tuple[Any, Any, Any]:
    """`jwt`, cryptography's `serialization` and `rsa` modules, or a ConfigurationError."""
    try:
        import jwt
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
    except ImportError:
        raise ConfigurationError(
            "VertexOAuthCredentialProvider needs the cryptography and pyjwt packages: "
            f"{INSTALL_HINT}"
        ) from None
    return jwt, serialization, rsa


@dataclasses.dataclass(frozen=True, repr=False)
class _ServiceAccount:
    """The validated parts of a key file the provider uses; the PEM text is not kept."""

    client_email: str
    key_id: str
    token_uri: str
    signing_key: RSAPrivateKey

    def as_info(self) -> Mapping[str, Any]:
        """Service-account info holding the loaded key, to build a sibling provider from."""
        return MappingProxyType({
            "type": "service_account",
            "client_email": self.client_email,
            "private_key_id": self.key_id,
            "private_key": self.signing_key,
            "token_uri": self.token_uri,
        })


def _required_text(info: Mapping[str, Any], field: str, source: str) -> str:
    value = info.get(field)
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(
            f"{_PROVIDER}: {source}: field {field!r} must be a string, not {_json_kind(value)}"
        )
    if value is None or not value.strip():
        raise ConfigurationError(f"{_PROVIDER}: {source}: field {field!r} is missing or empty")
    return value.strip()


def _json_kind(value: object) -> str:
    """The JSON name of a value's type, for messages that must not quote the value."""
    names = {bool: "a boolean", int: "a number", float: "a number", list: "an array", dict: "an object"}
    return names.get(type(value), type(value).__name__)


def _check_type(info: Mapping[str, Any], source: str) -> None:
    kind = info.get("type")
    if kind == "service_account":
        return
    if kind is None:
        raise ConfigurationError(
            f"{_PROVIDER}: {source}: field 'type' is missing; a service-account key file has "
            "\"type\": \"service_account\""
        )
    what = _NOT_A_SERVICE_ACCOUNT.get(kind) if isinstance(kind, str) else None
    described = f"holds {what} (type {kind!r})" if what else f"has field 'type' = {str(kind)[:40]!r}"
    raise ConfigurationError(
        f"{_PROVIDER}: {source} {described}; VertexOAuthCredentialProvider needs a service-account "
        "key file (type 'service_account'): create a key for the service account in the console "
        "or with 'gcloud iam service-accounts keys create'"
    )


def _load_signing_key(value: object, source: str) -> RSAPrivateKey:
    """The RSA key from a PEM string (PKCS#8 or PKCS#1) or an already-loaded key object."""
    _, serialization, rsa = _crypto_modules()
    from cryptography.exceptions import UnsupportedAlgorithm

    if isinstance(value, rsa.RSAPrivateKey):
        return value  # type: ignore[no-any-return]
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(
            f"{_PROVIDER}: {source}: field 'private_key' must be a PEM string, not {_json_kind(value)}"
        )
    if value is None or not value.strip():
        raise ConfigurationError(f"{_PROVIDER}: {source}: field 'private_key' is missing or empty")
    marker = _pem_label(value)
    if marker is not None and "PRIVATE KEY" not in marker:
        raise ConfigurationError(
            f"{_PROVIDER}: {source}: field 'private_key' holds a {marker.lower()}, not a private key; "
            "use the private_key of a service-account key file"
        )
    problem = None  # raised below, outside the handlers: an encoding error would hold the key text
    try:
        key = serialization.load_pem_private_key(value.strip().encode("utf-8"), password=None)
    except TypeError:  # the PEM is encrypted
        problem = "is an encrypted PEM key; service-account key files hold an unencrypted one"
    except (ValueError, UnsupportedAlgorithm):  # say what is wrong, never quote the key
        problem = "is not a readable PEM private key (corrupt, truncated, or with its newlines lost)"
    if problem is not None:
        raise ConfigurationError(f"{_PROVIDER}: {source}: field 'private_key' {problem}")
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigurationError(
            f"{_PROVIDER}: {source}: field 'private_key' holds {_key_kind(key)} key; "
            "Google service-account keys are RSA"
        )
    return key  # type: ignore[no-any-return]


def _key_kind(key: object) -> str:
    """"an EC", "an Ed25519", ... for a private key that is not RSA."""
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519

    kinds = ((ec.EllipticCurvePrivateKey, "an EC"), (ed25519.Ed25519PrivateKey, "an Ed25519"),
             (ed448.Ed448PrivateKey, "an Ed448"), (dsa.DSAPrivateKey, "a DSA"))
    return next((name for cls, name in kinds if isinstance(key, cls)), "a non-RSA")


def _pem_label(text: str) -> str | None:
    """The label of the first PEM block ("CERTIFICATE", "PUBLIC KEY", "RSA PRIVATE KEY"), if any."""
    match = _PEM_BEGIN.search(text)
    return match.group(1) if match else None


def _load_service_account(info: object, source: str) -> _ServiceAccount:
    """Validate service-account info and load its key once; errors name source and field."""
    if not isinstance(info, Mapping):
        raise ConfigurationError(f"{_PROVIDER}: {source} is not a JSON object")
    _check_type(info, source)
    client_email = _required_text(info, "client_email", source)
    key_id = _required_text(info, "private_key_id", source)
    signing_key = _load_signing_key(info.get("private_key"), source)
    token_uri = info.get("token_uri") or DEFAULT_TOKEN_URI
    if not isinstance(token_uri, str):
        raise ConfigurationError(f"{_PROVIDER}: {source}: field 'token_uri' is not a string")
    token_uri = check_endpoint_url(token_uri, f"{_PROVIDER}: {source}: field 'token_uri'")
    return _ServiceAccount(client_email, key_id, token_uri, signing_key)


def _read_key_file(path: str | os.PathLike[str]) -> Any:
    """The parsed JSON of a key file; errors name the file, never its content."""
    return read_json_file(path, provider=_PROVIDER, what="service-account key file")


_PEM_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9 ]{1,40})-----")
_ABOUT_TIME = re.compile(r"\b(iat|exp|timeframe|short-lived|clock|expired|too early|future)\b")


def _hint(error_code: str | None, description: str | None) -> str | None:
    """What the user should check for the invalid_grant and invalid_scope answers."""
    text = (description or "").lower()
    if error_code == "invalid_grant":
        if "signature" in text:
            return (
                "Check that the service-account key (private_key_id) still exists and is enabled: "
                "a deleted, disabled or rotated key is refused this way; download a new key file"
            )
        if _ABOUT_TIME.search(text):
            return (
                "Check this machine's clock: it must be within a minute of real time "
                "(enable NTP time synchronisation)"
            )
        if "account not found" in text or "deleted" in text:
            return "Check that the service account (client_email) still exists in its project"
        if "audience" in text:
            return "Check token_uri in the key file: the assertion is addressed to that endpoint"
    if error_code == "invalid_scope":
        return "Check the scopes requested (VERTEX_AI_SCOPE or scopes=)"
    return None


def _parse_error(response: TokenResponse) -> ErrorDetails:
    """Google's `{"error", "error_description"}` answer, with a hint when one helps."""
    info = parse_oauth_error(response)
    hint = _hint(info.error_code, info.description)
    return dataclasses.replace(info, hint=hint) if hint else info


class VertexOAuthCredentialProvider(RefreshingCredentialProvider):
    """Access tokens for a Google service account, cached and refreshed before they expire.

    `service_account_info` is the parsed key file; `source` names it in error messages.
    `scopes` is one scope, several separated by spaces, or an iterable of them. The key is
    validated and loaded here, once; `private_key` may be PEM text (PKCS#8 or PKCS#1) or an
    already-loaded cryptography RSA private key.
    """

    provider_name = _PROVIDER
    credential_type: ClassVar[type[BearerToken]] = BearerToken
    #: What `from_env()` needs.
    REQUIRED_ENV = ("GOOGLE_APPLICATION_CREDENTIALS",)

    def __init__(
        self,
        service_account_info: Mapping[str, Any],
        *,
        scopes: str | Iterable[str] = DEFAULT_SCOPE,
        source: str = "service account info",
        **options: Unpack[ProviderOptions],
    ) -> None:
        super().__init__(**options)
        self._jwt = _crypto_modules()[0]  # first: without the extra, say how to install it
        self._scopes = normalize_scopes(_PROVIDER, scopes)
        self._source = source
        self._account = _load_service_account(service_account_info, source)
        self._fetcher = self._make_fetcher(self._account.token_uri)

    # -- constructors ------------------------------------------------------------------

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **options: Unpack[ProviderOptions]
    ) -> VertexOAuthCredentialProvider:
        """Build from `GOOGLE_APPLICATION_CREDENTIALS` (required) and `VERTEX_AI_SCOPE` (optional).

        `environ` defaults to `os.environ`; tests pass a dict.
        """
        env = environment(environ)
        path = require(
            env,
            cls.REQUIRED_ENV,
            provider=cls.provider_name,
            hint="point it at a service-account key file (JSON)",
        )["GOOGLE_APPLICATION_CREDENTIALS"]
        scope = optional(env, "VERTEX_AI_SCOPE") or DEFAULT_SCOPE
        return cls.from_key_file(path, scopes=scope, **options)

    @classmethod
    def from_key_file(
        cls,
        path: str | os.PathLike[str],
        *,
        scopes: str | Iterable[str] = DEFAULT_SCOPE,
        **options: Unpack[ProviderOptions],
    ) -> VertexOAuthCredentialProvider:
        """Build from a service-account key file downloaded from Google Cloud."""
        info = _read_key_file(path)
        return cls(info, scopes=scopes, source=f"key file {os.fspath(path)}", **options)

    @classmethod
    def from_service_account_json(
        cls,
        info: Mapping[str, Any] | str,
        *,
        scopes: str | Iterable[str] = DEFAULT_SCOPE,
        **options: Unpack[ProviderOptions],
    ) -> VertexOAuthCredentialProvider:
        """Build from key-file content: a dict, or the JSON text (from a secret store)."""
        parsed: Any = _safejson.loads(info) if isinstance(info, str) else info
        if isinstance(parsed, _safejson.Invalid):
            raise ConfigurationError(f"{_PROVIDER}: service account info is {parsed}")
        return cls(parsed, scopes=scopes, **options)

    def with_scope(self, scope: str | Iterable[str]) -> VertexOAuthCredentialProvider:
        """A provider for the same service account and options but other scopes, with its own cache."""
        return type(self)(self._account.as_info(), scopes=scope, source=self._source, **self._options)

    # -- what it is ------------------------------------------------------------------------

    @property
    def client_email(self) -> str:
        """The service account's e-mail address (not a secret)."""
        return self._account.client_email

    @property
    def scopes(self) -> tuple[str, ...]:
        """The OAuth scopes requested."""
        return self._scopes

    @property
    def token_uri(self) -> str:
        """Where assertions are exchanged for tokens; also the JWT's audience."""
        return self._account.token_uri

    def _repr_fields(self) -> dict[str, object]:
        return {"client_email": self.client_email, "scopes": " ".join(self._scopes)}

    def _cache_identity(self) -> tuple[dict[str, str], bytes]:
        """Account, key id, scopes and token URI; the private key is the secret."""
        serialization = _crypto_modules()[1]
        key = self._account.signing_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption(),
        )
        fields = {"client_email": self._account.client_email, "key_id": self._account.key_id,
                  "scopes": " ".join(self._scopes), "endpoint": self._account.token_uri}
        return fields, key

    # -- the token request -------------------------------------------------------------------

    def _assertion(self, now: float) -> SecretString:
        """The signed JWT: valid from 30 s ago for exactly one hour, for our scopes and endpoint."""
        issued_at = int(now) - BACKDATE
        claims = {
            "iss": self._account.client_email,
            "scope": " ".join(self._scopes),
            "aud": self._account.token_uri,
            "iat": issued_at,
            "exp": issued_at + ASSERTION_LIFETIME,
        }
        headers = {"alg": "RS256", "typ": "JWT", "kid": self._account.key_id}
        token = self._jwt.encode(claims, self._account.signing_key, algorithm="RS256", headers=headers)
        return SecretString(token)

    def _fetch(self) -> BearerToken:
        """Sign a fresh assertion and trade it for an access token (RFC 7523)."""
        return jwt_bearer(self._fetcher, self._assertion(self._clock()), parse_error=_parse_error)
