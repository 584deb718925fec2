"""Azure client certificate: an app registration's certificate signs the client assertion.

The v2.0 client-credentials grant, authenticated by a short RS256 JWT signed with the
certificate's private key (Entra ID's ``private_key_jwt``): the app registration holds the
certificate, Entra ID finds it by the SHA-1 thumbprint in the JWT header (``x5t``) and checks
the signature. The certificate file (PEM with key and certificate, or PKCS#12) is read,
validated and loaded once, at construction; a fresh assertion is signed for every fetch.
`cryptography` and `pyjwt` (the `azure-auth` extra) are imported when a provider is built,
never when this module is.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .._env import environment, optional, require
from .._files import check_path
from ..credentials import UTC
from ..errors import ConfigurationError, SourceNotConfigured
from ..secret import SecretString
from ._common import DEFAULT_AUTHORITY_HOST, DEFAULT_SCOPE
from ._confidential import ConfidentialClientProvider

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from cryptography.x509 import Certificate
    from typing_extensions import Self, Unpack  # noqa: UP035 - Python 3.10 has no typing.Self

    from ..provider import ProviderOptions

__all__ = ["ASSERTION_LIFETIME", "ClientCertificateCredentialProvider"]

_PROVIDER = "azure.client_certificate"
ASSERTION_LIFETIME = 600  # seconds, as MSAL signs them
INSTALL_HINT = 'pip install "literauth[azure-auth]"'
_MAX_FILE = 1024 * 1024  # a certificate file is a few kB; refuse to read a huge file into memory
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]{1,40})-----\r?\n.*?-----END \1-----", re.DOTALL)
_TRUE = ("1", "true")


def _crypto_modules() -> tuple[Any, Any]:
    """`jwt` and `cryptography`'s x509 module, or a ConfigurationError saying how to install them."""
    try:
        import jwt
        from cryptography import x509
    except ImportError:
        raise ConfigurationError(
            f"ClientCertificateCredentialProvider needs the cryptography and pyjwt packages: {INSTALL_HINT}"
        ) from None
    return jwt, x509


@dataclasses.dataclass(frozen=True, repr=False)
class _LoadedCertificate:
    """The signing key, the certificate chain (DER, leaf first) and the leaf's thumbprint."""

    key: RSAPrivateKey
    chain: tuple[bytes, ...]
    x5t: str  # base64url (unpadded) SHA-1 of the leaf's DER

    def __repr__(self) -> str:
        return f"<certificate x5t={self.x5t}>"


@dataclasses.dataclass(frozen=True, repr=False)
class _Source:
    """Where the certificate came from and how it is used: what `with_scope()` rebuilds from."""

    path: str | None
    data: bytes  # the file's content: a sibling provider loads it again without re-reading the file
    password: SecretString | None
    send_chain: bool
    loaded: _LoadedCertificate

    def __repr__(self) -> str:
        return f"<certificate source {self.path or 'certificate_bytes'}>"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _load(data: bytes, password: SecretString | None, source: str) -> _LoadedCertificate:
    """Validate and load a PEM or PKCS#12 certificate file; errors name the mistake, never the key."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    secret = None if password is None else password.expose_secret().encode("utf-8")
    if b"-----BEGIN" in data:
        key, certificates = _load_pem(data, secret, source)
    else:
        key, certificates = _load_pkcs12(data, secret, source)
    if key is None:
        raise ConfigurationError(f"{_PROVIDER}: {source} holds no private key; it needs the key and the certificate")
    if not certificates:
        raise ConfigurationError(f"{_PROVIDER}: {source} holds no certificate; it needs the key and the certificate")
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigurationError(
            f"{_PROVIDER}: {source} holds {_key_kind(key)} key; Entra ID certificate credentials need an RSA key"
        )
    public = key.public_key().public_numbers()
    leaf = next((c for c in certificates if _public_numbers(c) == public), None)
    if leaf is None:
        raise ConfigurationError(
            f"{_PROVIDER}: {source}: the private key does not match the certificate "
            "(they come from different key pairs)"
        )
    _check_validity(leaf, source)
    chain = [leaf] + [c for c in certificates if c is not leaf]
    ders = tuple(c.public_bytes(serialization.Encoding.DER) for c in chain)
    digest = hashes.Hash(hashes.SHA1())
    digest.update(ders[0])
    return _LoadedCertificate(key, ders, _b64url(digest.finalize()))


def _key_kind(key: object) -> str:
    """"an EC", "an Ed25519", ... for a private key that is not RSA."""
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519

    kinds = ((ec.EllipticCurvePrivateKey, "an EC"), (ed25519.Ed25519PrivateKey, "an Ed25519"),
             (ed448.Ed448PrivateKey, "an Ed448"), (dsa.DSAPrivateKey, "a DSA"))
    return next((name for cls, name in kinds if isinstance(key, cls)), "a non-RSA")


def _public_numbers(certificate: Certificate) -> object:
    """The certificate's RSA public numbers; None for a non-RSA certificate."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = certificate.public_key()
    return key.public_numbers() if isinstance(key, rsa.RSAPublicKey) else None


def _load_pem(data: bytes, password: bytes | None, source: str) -> tuple[object, list[Certificate]]:
    """The private key and certificates of PEM text, in any order."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    blocks = [(match.group(1).decode("ascii"), match.group(0)) for match in _PEM_BLOCK.finditer(data)]
    keys = [block for label, block in blocks if "PRIVATE KEY" in label]
    problem = None  # raised outside the handlers: an exception's text or context may hold key material
    certificates: list[Certificate] = []
    try:
        certificates = [x509.load_pem_x509_certificate(block) for label, block in blocks if label == "CERTIFICATE"]
    except ValueError:
        problem = "holds a certificate that cannot be read (corrupt or truncated)"
    if problem is None and len(keys) > 1:
        problem = "holds more than one private key"
    key: object = None
    if problem is None and keys:
        try:
            key = serialization.load_pem_private_key(keys[0], password=password)
        except TypeError:  # encrypted without a password, or a password for a plain key
            problem = ("holds an encrypted private key; pass its password (AZURE_CLIENT_CERTIFICATE_PASSWORD)"
                       if password is None else "holds an unencrypted private key, but a password was given")
        except ValueError:
            problem = ("holds a private key that cannot be decrypted with the password given (wrong password)"
                       if password is not None and b"ENCRYPTED" in keys[0]
                       else "holds a private key that cannot be read (corrupt or truncated)")
        except Exception:  # noqa: BLE001 - UnsupportedAlgorithm and the like; never show the message
            problem = "holds a private key of an unsupported kind"
    if problem is not None:
        raise ConfigurationError(f"{_PROVIDER}: {source} {problem}")
    return key, certificates


def _load_pkcs12(data: bytes, password: bytes | None, source: str) -> tuple[object, list[Certificate]]:
    """The private key and certificates of a PKCS#12 (.pfx) file."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    problem = None
    try:
        key, certificate, additional = pkcs12.load_key_and_certificates(data, password)
    except ValueError:
        problem = ("is not a PEM or PKCS#12 file, or the password given is wrong" if password is not None
                   else "is not a PEM or PKCS#12 file, or it is a PKCS#12 file that needs a password "
                   "(AZURE_CLIENT_CERTIFICATE_PASSWORD)")
    except Exception:  # noqa: BLE001 - an unsupported algorithm; never show the message
        problem = "is a PKCS#12 file that cannot be read (unsupported algorithm)"
    if problem is not None:
        raise ConfigurationError(f"{_PROVIDER}: {source} {problem}")
    return key, ([certificate] if certificate is not None else []) + list(additional)


def _check_validity(certificate: Certificate, source: str) -> None:
    """Entra ID refuses assertions signed with a certificate outside its validity period."""
    after = getattr(certificate, "not_valid_after_utc", None) or certificate.not_valid_after.replace(tzinfo=UTC)
    before = getattr(certificate, "not_valid_before_utc", None) or certificate.not_valid_before.replace(tzinfo=UTC)
    now = datetime.now(UTC)
    if now >= after:
        raise ConfigurationError(
            f"{_PROVIDER}: {source}: the certificate expired on {after:%Y-%m-%d %H:%M:%S} UTC; "
            "upload a new certificate to the app registration and use it"
        )
    if now < before:
        raise ConfigurationError(
            f"{_PROVIDER}: {source}: the certificate is not valid until {before:%Y-%m-%d %H:%M:%S} UTC "
            "(check this machine's clock)"
        )


def _read_file(path: str) -> bytes:
    """The certificate file's bytes; errors name the file, never its content."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(_MAX_FILE + 1)
    except FileNotFoundError:
        raise ConfigurationError(f"{_PROVIDER}: certificate file {path} does not exist") from None
    except IsADirectoryError:
        raise ConfigurationError(f"{_PROVIDER}: certificate file {path} is a directory") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigurationError(f"{_PROVIDER}: certificate file {path} cannot be read ({reason})") from None
    if len(raw) > _MAX_FILE:
        raise ConfigurationError(f"{_PROVIDER}: certificate file {path} is larger than 1 MiB; it is not a certificate")
    if not raw.strip():
        raise ConfigurationError(f"{_PROVIDER}: certificate file {path} is empty")
    return raw


class ClientCertificateCredentialProvider(ConfidentialClientProvider):
    """Bearer tokens for an app registration's certificate (a signed client assertion per fetch).

    Exactly one of `certificate_path` (a file) and `certificate_bytes` (its content, from a
    secret store) is required: PEM holding the private key and the certificate (any order),
    or PKCS#12; `password` decrypts an encrypted key. The key must be RSA, match the
    certificate, and the certificate must be valid now: each mistake is a `ConfigurationError`
    here, at construction, rather than an AADSTS error at the first request. With
    `send_certificate_chain` the assertion carries the chain (``x5c``), which subject
    name/issuer authentication needs. `scope` and `authority_host` are as for
    `AzureAdCredentialProvider`; see `ProviderOptions` for caching and HTTP options.
    """

    provider_name = _PROVIDER
    #: What `from_env()` needs (as azure-identity's EnvironmentCredential reads them).
    REQUIRED_ENV = ("AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_TENANT_ID", "AZURE_CLIENT_ID")

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        certificate_path: str | os.PathLike[str] | None = None,
        *,
        certificate_bytes: bytes | None = None,
        password: SecretString | str | None = None,
        send_certificate_chain: bool = False,
        scope: str = DEFAULT_SCOPE,
        authority_host: str = DEFAULT_AUTHORITY_HOST,
        **options: Unpack[ProviderOptions],
    ) -> None:
        self._jwt = _crypto_modules()[0]  # first: without the extra, say how to install it
        if (certificate_path is None) == (certificate_bytes is None):
            raise ConfigurationError(f"{_PROVIDER}: pass exactly one of certificate_path and certificate_bytes")
        if password is not None and not isinstance(password, (str, SecretString)):
            raise ConfigurationError(f"{_PROVIDER}: password must be a str or SecretString, not {type(password).__name__}")
        secret = None if password is None else SecretString(password)
        path: str | None = None
        if certificate_path is not None:
            path = check_path(_PROVIDER, "certificate_path", certificate_path)
            data, source = _read_file(path), f"certificate file {path}"
        else:
            if not isinstance(certificate_bytes, (bytes, bytearray)):
                raise ConfigurationError(
                    f"{_PROVIDER}: certificate_bytes must be bytes, not {type(certificate_bytes).__name__}"
                )
            data, source = bytes(certificate_bytes), "certificate_bytes"
        self._source = _Source(path, data, secret, bool(send_certificate_chain), _load(data, secret, source))
        super().__init__(
            tenant_id, client_id, self._sign_assertion, scope=scope, authority_host=authority_host, **options
        )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **options: Unpack[ProviderOptions]
    ) -> ClientCertificateCredentialProvider:
        """A provider from azure-identity's certificate variables (`os.environ` when `environ` is None).

        `SourceNotConfigured` when AZURE_CLIENT_CERTIFICATE_PATH is unset or blank (a chain then
        tries its next source); `ConfigurationError` naming AZURE_TENANT_ID or AZURE_CLIENT_ID
        when the path is set but they are not. AZURE_CLIENT_CERTIFICATE_PASSWORD decrypts the
        key; AZURE_CLIENT_SEND_CERTIFICATE_CHAIN is on for "1" or "true" (any case) only, not
        for any non-empty value as in azure-identity; AZURE_AUTHORITY_HOST selects the cloud.
        """
        env = environment(environ)
        if optional(env, "AZURE_CLIENT_CERTIFICATE_PATH") is None:
            raise SourceNotConfigured(f"{_PROVIDER}: AZURE_CLIENT_CERTIFICATE_PATH is not set")
        values = require(
            env,
            cls.REQUIRED_ENV,
            provider=_PROVIDER,
            hint="set AZURE_TENANT_ID and AZURE_CLIENT_ID of the app registration holding the certificate",
        )
        send_chain = (optional(env, "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN") or "").lower() in _TRUE
        password = env.get("AZURE_CLIENT_CERTIFICATE_PASSWORD")  # not stripped: a password may hold spaces
        return cls(
            values["AZURE_TENANT_ID"],
            values["AZURE_CLIENT_ID"],
            values["AZURE_CLIENT_CERTIFICATE_PATH"],
            password=SecretString(password) if password else None,
            send_certificate_chain=send_chain,
            authority_host=optional(env, "AZURE_AUTHORITY_HOST") or DEFAULT_AUTHORITY_HOST,
            **options,
        )

    def with_scope(self, scope: str) -> Self:
        """The same certificate for another scope: a new provider with its own, empty cache."""
        source = self._source
        sibling = type(self)(
            self._tenant_id, self._client_id,
            certificate_bytes=source.data, password=source.password, send_certificate_chain=source.send_chain,
            scope=scope, authority_host=self._authority_host, **self._options,
        )
        sibling._source = source  # the same file, already loaded: keep its path for repr and properties
        return sibling

    def _identity_args(self) -> tuple[Any, ...]:
        return (self._tenant_id, self._client_id, self._source.path)

    @property
    def certificate_path(self) -> str | None:
        """The certificate file read at construction; None when built from `certificate_bytes`."""
        return self._source.path

    @property
    def thumbprint(self) -> str:
        """The certificate's SHA-1 thumbprint as hex (upper case), as the Azure portal shows it."""
        x5t = self._source.loaded.x5t
        padded = x5t + "=" * (-len(x5t) % 4)
        return base64.urlsafe_b64decode(padded).hex().upper()

    @property
    def send_certificate_chain(self) -> bool:
        """Whether assertions carry the certificate chain (``x5c``)."""
        return self._source.send_chain

    def _sign_assertion(self) -> SecretString:
        """A fresh RS256 assertion for the token endpoint, valid for ten minutes from now."""
        now = int(self._clock())
        claims = {
            "aud": self._token_url, "iss": self._client_id, "sub": self._client_id,
            "jti": str(uuid.uuid4()), "nbf": now, "iat": now, "exp": now + ASSERTION_LIFETIME,
        }
        loaded = self._source.loaded
        headers: dict[str, Any] = {"alg": "RS256", "typ": "JWT", "x5t": loaded.x5t}
        if self._source.send_chain:
            headers["x5c"] = [base64.b64encode(der).decode("ascii") for der in loaded.chain]
        token: str = self._jwt.encode(claims, loaded.key, algorithm="RS256", headers=headers)
        return SecretString(token)

    def _cache_secret(self) -> bytes:
        """The certificate file's bytes (with its private key) and the password that opens it."""
        password = self._source.password
        return self._source.data + b"\x00" + (b"" if password is None else password.expose_secret().encode("utf-8"))

    def _repr_fields(self) -> dict[str, object]:
        fields = {**super()._repr_fields(), "thumbprint": self.thumbprint}
        if self._source.path is not None:
            fields["certificate_path"] = self._source.path
        return fields
