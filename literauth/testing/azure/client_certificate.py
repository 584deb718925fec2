"""Fake Entra ID certificate credentials, and test certificates generated at runtime.

`AzureCertificateEndpoint` serves the v2.0 token requests whose client assertion is a JWT
with an ``x5t`` (certificate thumbprint) header, and checks it the way Entra ID checks a
certificate credential: the thumbprint names a certificate registered for the app, the
signature verifies with its public key, ``aud`` is the token URL, ``iss`` and ``sub`` are
the client id, and the assertion is within its validity period. Errors carry Entra's AADSTS
codes (AADSTS700027 signature or unknown certificate, AADSTS700024 expired assertion).

`make_test_certificate()` generates an RSA key and a self-signed (or CA-issued) certificate
in PEM and PKCS#12 form: key material is never committed to the repository.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import hashlib
import json
import os
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ...azure.client_certificate import ClientCertificateCredentialProvider
from ...credentials import UTC
from .._oauth import b64url_decode
from .._scratch import ScratchFiles
from .._server import RecordedRequest, Refusal, Reply
from .client_secret import (
    _DISCOVERY_PATH,
    _SCOPE,
    AzureAdEndpoint,
    _Client,
    _refusal,
    _resource,
    _Tenant,
    is_certificate_assertion,
)
from .workload_identity import _ASSERTION, _ASSERTION_TYPE, _invalid_assertion, _stamp

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

__all__ = ["AzureCertificateEndpoint", "TestCertificate", "make_test_certificate"]


@dataclasses.dataclass(frozen=True, repr=False)
class TestCertificate:
    """A generated key and certificate chain (leaf first), serialisable as an app's certificate file."""

    __test__ = False  # not a pytest test class

    key: Any  #: the cryptography private key (RSA unless asked otherwise)
    chain: tuple[Any, ...]  #: cryptography certificates, leaf first

    def __repr__(self) -> str:
        return f"<TestCertificate {self.thumbprint}>"

    @property
    def certificate_der(self) -> bytes:
        """The leaf certificate, DER-encoded."""
        from cryptography.hazmat.primitives import serialization

        return bytes(self.chain[0].public_bytes(serialization.Encoding.DER))

    @property
    def x5t(self) -> str:
        """base64url of the SHA-1 of the leaf's DER, unpadded: what assertions carry in ``x5t``."""
        digest = hashlib.sha1(self.certificate_der).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    @property
    def thumbprint(self) -> str:
        """The SHA-1 thumbprint as upper-case hex, as the Azure portal shows it."""
        return hashlib.sha1(self.certificate_der).hexdigest().upper()

    def key_pem(self, password: str | None = None) -> bytes:
        """The private key as PKCS#8 PEM, encrypted with `password` when given."""
        from cryptography.hazmat.primitives import serialization

        encryption = (serialization.NoEncryption() if password is None
                      else serialization.BestAvailableEncryption(password.encode("utf-8")))
        return bytes(self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))

    def certificates_pem(self) -> bytes:
        """The chain as PEM certificates, leaf first."""
        from cryptography.hazmat.primitives import serialization

        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)

    def pem(self, password: str | None = None, *, key_first: bool = True) -> bytes:
        """A PEM certificate file: the key and the chain (the key first, or last)."""
        key, certificates = self.key_pem(password), self.certificates_pem()
        return key + certificates if key_first else certificates + key

    def pkcs12(self, password: str | None = None) -> bytes:
        """A PKCS#12 (.pfx) file holding the key and the chain, encrypted with `password` when given."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import pkcs12

        encryption = (serialization.NoEncryption() if password is None
                      else serialization.BestAvailableEncryption(password.encode("utf-8")))
        return bytes(pkcs12.serialize_key_and_certificates(
            b"literauth-test", self.key, self.chain[0], list(self.chain[1:]) or None, encryption,
        ))

    def write(self, path: str | os.PathLike[str], data: bytes) -> str:
        """Write `data` (from `pem()` or `pkcs12()`) to `path`, readable by its owner only."""
        target = os.fspath(path)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        return target


def make_test_certificate(
    common_name: str = "literauth-test",
    *,
    chain: bool = False,
    key: Any = None,
    valid_from: float | None = None,
    valid_for: float = 86400.0 * 30,
) -> TestCertificate:
    """An RSA-2048 key and a certificate for it, generated now.

    `chain` issues it from a generated CA (the chain is then leaf, CA); `key` uses another
    private key (an EC key, for tests of refusals); `valid_from` (epoch seconds, default an
    hour ago) and `valid_for` (seconds) set its validity period, so it may be expired or not
    yet valid.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    start = _dt.datetime.fromtimestamp(
        valid_from if valid_from is not None else _dt.datetime.now(UTC).timestamp() - 3600, UTC
    )
    end = start + _dt.timedelta(seconds=valid_for)
    leaf_key = key if key is not None else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    issuer_name, issuer_key, certificates = subject, leaf_key, []
    if chain:
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        issuer_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{common_name} CA")])
        ca = (x509.CertificateBuilder().subject_name(issuer_name).issuer_name(issuer_name)
              .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(start).not_valid_after(end)
              .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
              .sign(ca_key, hashes.SHA256()))
        issuer_key, certificates = ca_key, [ca]
    leaf = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name)
            .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end)
            .sign(issuer_key, hashes.SHA256()))
    return TestCertificate(leaf_key, (leaf, *certificates))


def _signature_failed(text: str) -> Refusal:
    return _refusal(401, "invalid_client", 700027, f"Client assertion failed signature validation. {text}")


class AzureCertificateEndpoint(AzureAdEndpoint):
    """The token endpoint for certificate assertions, with certificates registered per app.

    It shares the tenant and app ids of the server's other Azure fakes; `certificate` (a
    `TestCertificate` generated on first use) is registered for the default app.
    `add_certificate()` registers more (for any app), `remove_certificates()` forgets an
    app's. The ``private_key_jwt`` checks are `_verify()`'s.
    """

    name = "azure_certificate"
    fixture_alias: ClassVar[str | None] = None
    requires: ClassVar[Mapping[str, str]] = {"cryptography": "cryptography", "jwt": "pyjwt"}

    def __init__(self, server: Any) -> None:
        self._certificate: TestCertificate | None = None
        self._certificate_lock = threading.Lock()
        self._certificates: dict[str, dict[str, RSAPublicKey]] = {}
        self._scratch = ScratchFiles(self, "literauth-azure-cert-")
        super().__init__(server)

    def _register_defaults(self) -> None:
        """The default tenant and app, with no client secret; the default certificate once generated."""
        with self._registry_lock:
            self._certificates = {}
        self._register_default_tenant(secretless_app=True)
        if self._certificate is not None:
            self.add_certificate(self._certificate)

    # -- registry -----------------------------------------------------------------------

    @property
    def certificate(self) -> TestCertificate:
        """The default app's certificate (generated, and registered, on first use)."""
        with self._certificate_lock:
            if self._certificate is None:
                self._certificate = make_test_certificate()
                self.add_certificate(self._certificate)
            return self._certificate

    def add_certificate(self, certificate: TestCertificate, client_id: str | None = None) -> str:
        """Register `certificate` for app `client_id` (the default app when None); returns the app id."""
        client_id = client_id or self.client_id
        with self._registry_lock:
            tenant = self._tenant(self.tenant_id)
            assert tenant is not None  # the default tenant is always registered
            tenant.clients.setdefault(client_id, _Client())
            self._certificates.setdefault(client_id, {})[certificate.x5t] = certificate.chain[0].public_key()
        return client_id

    def remove_certificates(self, client_id: str | None = None) -> None:
        """Make the app trust no certificate (requests then get AADSTS700027)."""
        with self._registry_lock:
            self._certificates.pop(client_id or self.client_id, None)

    def write_certificate(
        self, path: str | os.PathLike[str] | None = None, *, data: bytes | None = None
    ) -> str:
        """Write `data` (the default certificate's PEM when None) to `path` or a new temporary file."""
        data = self.certificate.pem() if data is None else data
        return self.certificate.write(self._new_path() if path is None else path, data)

    def _new_path(self) -> str:
        return self._scratch.new_path("client-certificate", ".pem")

    # -- what a registered fake declares ------------------------------------------------

    def environ(self, directory: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """azure-identity's certificate variables, pointed here; the PEM file goes into `directory`."""
        path = None if directory is None else os.path.join(os.fspath(directory), "azure-client-certificate.pem")
        return {
            "AZURE_TENANT_ID": self.tenant_id,
            "AZURE_CLIENT_ID": self.client_id,
            "AZURE_CLIENT_CERTIFICATE_PATH": self.write_certificate(path),
            "AZURE_AUTHORITY_HOST": self.server.url,
        }

    def make_provider(self, **options: Any) -> ClientCertificateCredentialProvider:  # type: ignore[override]
        """A provider for the default app and certificate (as `certificate_bytes`); keyword arguments override."""
        tenant_id = options.pop("tenant_id", self.tenant_id)
        client_id = options.pop("client_id", self.client_id)
        path = options.pop("certificate_path", None)
        if path is None:
            options.setdefault("certificate_bytes", self.certificate.pem())
        options.setdefault("authority_host", self.server.url)
        return ClientCertificateCredentialProvider(tenant_id, client_id, path, **options)

    # -- serving --------------------------------------------------------------------------

    def accepts(
        self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], form: Mapping[str, str]
    ) -> bool:
        """Token requests carrying a certificate assertion (and discovery, when no other Azure fake serves it)."""
        if not any(route.matches(method, path, query, headers) for route in self.routes):
            return False
        return is_certificate_assertion(form) or _DISCOVERY_PATH.fullmatch(path) is not None

    def _token(self, tenant: _Tenant, form: Mapping[str, str], request: RecordedRequest) -> Reply:
        """Entra's order: grant, app, scope, resource, then the assertion and its certificate."""
        self.check_form(form)
        client_id = form["client_id"]
        with self._registry_lock:
            known = client_id in tenant.clients
            registered = dict(self._certificates.get(client_id, {}))
            resources = set(tenant.resources)
        if not known:
            raise _refusal(
                400, "unauthorized_client", 700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant.display_name}'.",
            )
        self.check_form(form, (_SCOPE,))
        resource = _resource(form["scope"], resources, tenant)
        self.check_form(form, (_ASSERTION_TYPE, _ASSERTION))
        self._verify(form["client_assertion"], client_id, registered, self.server.url + request.path)
        return self._issue(tenant, client_id, resource, request)

    def _verify(self, assertion: str, client_id: str, registered: Mapping[str, RSAPublicKey], audience: str) -> None:
        """Entra's ``private_key_jwt`` checks; the AADSTS refusal for the first that fails."""
        import jwt

        parts = assertion.split(".")
        try:
            header = json.loads(b64url_decode(parts[0]))
        except (ValueError, UnicodeDecodeError, IndexError):
            raise _invalid_assertion("The assertion is not a JWT.") from None
        x5t = str(header.get("x5t", "")).rstrip("=") if isinstance(header, dict) else ""
        key = registered.get(x5t)
        if key is None:
            raise _signature_failed(
                f"Key was not found. Thumbprint of key used by client: '{x5t[:60]}'. "
                f"Please visit the Azure Portal to verify that the certificate is registered for app '{client_id}'."
            )
        if header.get("alg") not in ("RS256", "PS256"):
            raise _invalid_assertion(f"The assertion's algorithm '{str(header.get('alg'))[:20]}' is not supported.")
        try:
            claims = jwt.decode(assertion, key, algorithms=[header["alg"]], options={
                "verify_signature": True, "verify_exp": False, "verify_nbf": False, "verify_iat": False,
                "verify_aud": False, "verify_iss": False,
            })
        except jwt.InvalidSignatureError:
            raise _signature_failed("The signature does not verify with the registered certificate's key.") from None
        except jwt.PyJWTError:
            raise _invalid_assertion("The assertion is not a JWT.") from None
        now = self.now()
        expires, not_before = claims.get("exp"), claims.get("nbf", claims.get("iat", 0))
        valid = (_number(expires) and _number(not_before)  # Entra allows 5 minutes of clock skew
                 and float(not_before) <= now + 300 and now < float(expires))  # type: ignore[arg-type]
        if not valid:
            raise _refusal(
                401, "invalid_client", 700024,
                f"Client assertion is not within its valid time range. Current time: {_stamp(now)}, "
                f"assertion valid from {_stamp(not_before)}, expiry time of assertion {_stamp(expires)}.",
            )
        if claims.get("aud") != audience:
            raise _invalid_assertion(
                f"The audience claim '{str(claims.get('aud'))[:200]}' is not the token endpoint '{audience}'."
            )
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            raise _invalid_assertion(
                f"The issuer and subject claims must be the client id '{client_id}'; got "
                f"'{str(claims.get('iss'))[:80]}' and '{str(claims.get('sub'))[:80]}'."
            )


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)

