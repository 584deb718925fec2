"""Fake Google OAuth 2.0 token endpoint for service-account JWT assertions (RFC 7523).

It keeps the public keys of the service accounts registered with it and checks each
assertion the way Google does: grant type, signature, header, issuer, audience, scope and
lifetime. Refusals carry Google's `{"error", "error_description"}` body and HTTP 400.
`cryptography` and `pyjwt` are imported only when an account is registered or a request
is checked, so `literauth.testing` imports without them.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import pathlib
import secrets
import shutil
import tempfile
import threading
import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeGuard

from .._oauth import FormField, OAuthTokenEndpoint
from .._server import FakeUnavailable, RecordedRequest, Refusal, Reply, ServerCore

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import (
        RSAPrivateKey,
        RSAPublicKey,
    )

    from ...google.service_account import VertexOAuthCredentialProvider

__all__ = ["GoogleOAuthEndpoint", "VerifiedAssertion"]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 3600  # Google refuses assertions that live longer than an hour
CLOCK_LEEWAY = 60.0  # seconds an iat may lie in the server's future
SCOPE_PREFIX = "https://www.googleapis.com/auth/"  # scopes the fake knows

_BAD_SIGNATURE = "Invalid JWT Signature."
_BAD_TIME = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)
_NO_ACCOUNT = "Invalid grant: account not found"
_BAD_AUDIENCE = "Invalid JWT: Failed audience check."
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # what google-auth always names
_BAD_SCOPE = "Invalid OAuth scope or ID token audience provided."

_shared_key_lock = threading.Lock()
_shared_key: RSAPrivateKey | None = None
_account_numbers = itertools.count(1)


def _rsa_key(private_key: RSAPrivateKey | str | bytes | None) -> RSAPrivateKey:
    """The given key (object or PEM), or one 2048-bit key generated once per process."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    global _shared_key
    if private_key is None:
        with _shared_key_lock:
            if _shared_key is None:
                _shared_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return _shared_key
    if isinstance(private_key, str):
        private_key = private_key.encode()
    if isinstance(private_key, bytes):
        loaded = serialization.load_pem_private_key(private_key, password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise TypeError("a service account needs an RSA key")
        return loaded
    return private_key


def _pem(key: RSAPrivateKey, key_format: str) -> str:
    from cryptography.hazmat.primitives import serialization

    formats = {
        "pkcs8": serialization.PrivateFormat.PKCS8,
        "pkcs1": serialization.PrivateFormat.TraditionalOpenSSL,
    }
    if key_format not in formats:
        raise ValueError("key_format must be 'pkcs8' or 'pkcs1'")
    data = key.private_bytes(serialization.Encoding.PEM, formats[key_format], serialization.NoEncryption())
    return data.decode("ascii")


def _refusal(error: str, description: str) -> Refusal:
    """An assertion the endpoint turns down, with Google's error code and description (HTTP 400)."""
    return Refusal(error, description)


_FORM = (
    FormField(
        "grant_type", lambda: _refusal("unsupported_grant_type", "Invalid grant_type: "), frozenset({JWT_BEARER}),
        lambda value: _refusal("unsupported_grant_type", f"Invalid grant_type: {value}"),
    ),
    FormField("assertion", lambda: _refusal("invalid_request", "Missing required parameter: assertion")),
)


@dataclasses.dataclass(frozen=True)
class VerifiedAssertion:
    """An assertion the endpoint accepted: its JOSE header and claims, as decoded."""

    header: Mapping[str, Any]
    claims: Mapping[str, Any]


class GoogleOAuthEndpoint(OAuthTokenEndpoint):
    """Google's `POST /token` for service-account assertions (`grant_type=...jwt-bearer`).

    Register accounts with `register_service_account()` (or `write_key_file()`); tokens
    are issued only to assertions signed by a registered key. `require_kid` (default
    True) refuses a header without `kid` (Google itself would try every key of the
    account); `clock_leeway` is how far in the future an `iat` may lie.
    """

    name = "google"
    secret_fields = frozenset({"assertion"})
    routes = OAuthTokenEndpoint.token_route("/token")
    form_fields = _FORM
    reply_headers: ClassVar[Mapping[str, str]] = {
        "Cache-Control": "no-cache, no-store, max-age=0, must-revalidate", "Pragma": "no-cache",
    }
    requires: ClassVar[Mapping[str, str]] = {"cryptography": "cryptography", "jwt": "pyjwt"}
    fixture_alias = "fake_vertex_provider"

    def __init__(self, server: ServerCore) -> None:
        super().__init__(server)
        self._key_dir: str | None = None
        self._keys: dict[str, dict[str, RSAPublicKey]] = {}  # client_email -> kid -> public key
        self._accepted: list[VerifiedAssertion] = []
        self._issued: list[str] = []
        self.require_kid = True
        self.clock_leeway = CLOCK_LEEWAY

    # -- accounts ---------------------------------------------------------------------------

    @property
    def token_uri(self) -> str:
        """The URL assertions are posted to, and the audience they must name."""
        return f"{self.server.url}/token"

    def register_service_account(
        self,
        client_email: str | None = None,
        *,
        private_key: RSAPrivateKey | str | bytes | None = None,
        key_format: str = "pkcs8",
        project_id: str = "literauth-test",
    ) -> dict[str, str]:
        """Register a service account and return its key-file content, `token_uri` set here.

        `private_key` (an RSA key object or PEM) defaults to one key generated per process,
        so tests stay fast; each call gets its own `private_key_id`, and its own
        `client_email` unless one is given (then the key is added to that account).
        `key_format` is "pkcs8" (what Google issues) or "pkcs1".
        """
        key = _rsa_key(private_key)
        number = next(_account_numbers)
        email = client_email or f"literauth-test-{number}@{project_id}.iam.gserviceaccount.com"
        key_id = secrets.token_hex(20)
        self.register_public_key(email, key_id, key.public_key())
        return {
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": key_id,
            "private_key": _pem(key, key_format),
            "client_email": email,
            "client_id": str(100_000_000_000_000_000_000 + number),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com",
        }

    def write_key_file(
        self, path: str | os.PathLike[str], info: Mapping[str, str] | None = None, **register: Any
    ) -> pathlib.Path:
        """Write `info` (default: a newly registered account) as a key file readable by its owner only."""
        data = dict(info) if info is not None else self.register_service_account(**register)
        target = pathlib.Path(path)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=2)
        return target

    def register_public_key(self, client_email: str, key_id: str, public_key: RSAPublicKey) -> None:
        """Accept assertions from `client_email` signed by the key matching `public_key`."""
        with self._lock:
            self._keys.setdefault(client_email, {})[key_id] = public_key

    def revoke_key(self, client_email: str, key_id: str) -> None:
        """Delete one key of an account, as an administrator deleting it in the console."""
        with self._lock:
            self._keys.get(client_email, {}).pop(key_id, None)

    def delete_account(self, client_email: str) -> None:
        """Delete an account and all its keys."""
        with self._lock:
            self._keys.pop(client_email, None)

    @property
    def accepted(self) -> list[VerifiedAssertion]:
        """The assertions accepted so far, oldest first."""
        with self._lock:
            return list(self._accepted)

    @property
    def issued_tokens(self) -> list[str]:
        """The access tokens handed out so far, oldest first (fakes, for comparison in tests)."""
        with self._lock:
            return list(self._issued)

    def reset(self) -> None:
        """Forget faults, requests and issued tokens; registered accounts stay."""
        super().reset()
        with self._lock:
            self._accepted.clear()
            self._issued.clear()
        self.require_kid = True
        self.clock_leeway = CLOCK_LEEWAY

    def make_provider(self, **options: Any) -> VertexOAuthCredentialProvider:
        """A `VertexOAuthCredentialProvider` for a newly registered account pointed here."""
        self._require()
        from ...google.service_account import VertexOAuthCredentialProvider

        info = self.register_service_account()
        return VertexOAuthCredentialProvider.from_service_account_json(info, **options)

    def environ(self, directory: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """`GOOGLE_APPLICATION_CREDENTIALS`: a key file of a new account, written into `directory`.

        `FakeUnavailable` (naming the package) when `cryptography` or `pyjwt` is missing.
        """
        self._require()
        folder = os.fspath(directory) if directory is not None else self._scratch()
        key_file = self.write_key_file(os.path.join(folder, "service-account.json"))
        return {"GOOGLE_APPLICATION_CREDENTIALS": os.fspath(key_file)}

    def _require(self) -> None:
        missing = self.missing_packages()
        if missing:
            raise FakeUnavailable(f"needs {', '.join(missing)}: pip install 'literauth[vertex-auth]'")

    def _scratch(self) -> str:
        """A private directory for key files, removed when the endpoint is collected."""
        with self._lock:
            if self._key_dir is None:
                self._key_dir = tempfile.mkdtemp(prefix="literauth-google-")
                weakref.finalize(self, shutil.rmtree, self._key_dir, True)
            return self._key_dir

    # -- serving ---------------------------------------------------------------------------------

    def respond(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        verified = self._verify(form)
        token = "ya29.literauth-fake." + secrets.token_urlsafe(48)
        with self._lock:
            self._accepted.append(verified)
            self._issued.append(token)
        return self.token_reply(token)

    def _verify(self, form: Mapping[str, str]) -> VerifiedAssertion:
        """Check the request as Google does; raise `Refusal` at the first fault found."""
        import jwt

        self.check_form(form)
        assertion = form["assertion"]
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise _refusal("invalid_grant", "Invalid JWT: the assertion is not a well-formed JWT.") from None
        public_key = self._signing_key(header, claims)
        try:
            jwt.decode(
                assertion, public_key, algorithms=["RS256"],
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
            )
        except jwt.PyJWTError:
            raise _refusal("invalid_grant", _BAD_SIGNATURE) from None
        self._check_claims(claims)
        return VerifiedAssertion(header, claims)

    def _signing_key(self, header: Mapping[str, Any], claims: Mapping[str, Any]) -> RSAPublicKey:
        """The registered public key named by `iss` and `kid`, after the header checks."""
        if header.get("alg") != "RS256":
            raise _refusal("invalid_grant", _BAD_SIGNATURE)
        if header.get("typ", "JWT") != "JWT":
            raise _refusal("invalid_grant", "Invalid JWT: unsupported typ in the JWT header.")
        issuer = claims.get("iss")
        with self._lock:
            account = self._keys.get(issuer) if isinstance(issuer, str) else None
            keys = None if account is None else dict(account)
        if keys is None:
            raise _refusal("invalid_grant", _NO_ACCOUNT)
        kid = header.get("kid")
        if kid is None and not self.require_kid and len(keys) == 1:
            return next(iter(keys.values()))
        if not isinstance(kid, str) or kid not in keys:
            raise _refusal("invalid_grant", _BAD_SIGNATURE)  # a deleted key looks like this
        return keys[kid]

    def _check_claims(self, claims: Mapping[str, Any]) -> None:
        """Audience, lifetime and scope, in that order."""
        if claims.get("aud") not in (self.token_uri, GOOGLE_TOKEN_URI):
            raise _refusal("invalid_grant", _BAD_AUDIENCE)  # Google takes its public URI too
        iat, exp = claims.get("iat"), claims.get("exp")
        if not _is_number(iat) or not _is_number(exp):
            raise _refusal("invalid_grant", _BAD_TIME)
        now = self.now()
        if exp - iat > MAX_ASSERTION_LIFETIME or exp <= iat or iat > now + self.clock_leeway or exp <= now:
            raise _refusal("invalid_grant", _BAD_TIME)
        scope = claims.get("scope")
        if not isinstance(scope, str) or not _known_scopes(scope.split(" ")):
            raise _refusal("invalid_scope", _BAD_SCOPE)


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _known_scopes(scopes: Iterable[str]) -> bool:
    """Every scope is a Google API scope; empty pieces (double spaces) are refused."""
    items = list(scopes)
    return bool(items) and all(s.startswith(SCOPE_PREFIX) and len(s) > len(SCOPE_PREFIX) for s in items)

