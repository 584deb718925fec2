"""A throwaway certificate authority for `FakeIdentityServer(https=True)`.

One CA and one server certificate (for 127.0.0.1, ::1 and localhost) are generated per
process with `cryptography`, imported only here, so HTTPS tests cost one key pair each
and plain-HTTP users never need the package. Only the CA certificate stays on disk, in a
private temporary directory removed at exit; the server key lives in memory after loading.
"""

from __future__ import annotations

import atexit
import dataclasses
import datetime
import ipaddress
import os
import shutil
import ssl
import tempfile
import threading

from ..credentials import UTC

__all__ = ["LoopbackTls", "loopback_tls"]

INSTALL_HINT = 'pip install cryptography (or "literauth[test]")'
VALIDITY = datetime.timedelta(days=30)  # long enough for any test run, short enough to be obviously fake
BACKDATE = datetime.timedelta(days=1)  # tolerate a machine clock running slightly behind
HOSTS = ("localhost",)
ADDRESSES = ("127.0.0.1", "::1")

_lock = threading.Lock()
_cached: LoopbackTls | None = None


@dataclasses.dataclass(frozen=True)
class LoopbackTls:
    """The generated material: `ca_bundle` is a PEM file to trust, `context` serves HTTPS."""

    ca_bundle: str
    ca_pem: bytes
    context: ssl.SSLContext


def loopback_tls() -> LoopbackTls:
    """The process-wide CA and server context, generated on first use."""
    global _cached
    with _lock:
        if _cached is None:
            _cached = _generate()
        if not os.path.exists(_cached.ca_bundle):  # deleted by a test: write it again
            _write(_cached.ca_bundle, _cached.ca_pem, 0o644)
        return _cached


def _generate() -> LoopbackTls:
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:
        raise RuntimeError(f"FakeIdentityServer(https=True) needs the cryptography package: {INSTALL_HINT}") from None

    now = datetime.datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())  # P-256: generated in milliseconds
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "literauth FakeIdentityServer test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(host) for host in HOSTS]
    names += [x509.IPAddress(ipaddress.ip_address(address)) for address in ADDRESSES]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    ca_pem = ca_cert.public_bytes(pem)
    chain_pem = cert.public_bytes(pem) + ca_pem
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    directory = tempfile.mkdtemp(prefix="literauth-tls-")
    atexit.register(_remove, directory, os.getpid())
    ca_bundle = os.path.join(directory, "ca.pem")
    _write(ca_bundle, ca_pem, 0o644)
    context = _server_context(directory, chain_pem, key_pem)
    return LoopbackTls(ca_bundle=ca_bundle, ca_pem=ca_pem, context=context)


def _server_context(directory: str, chain_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """A TLS 1.2+ server context; the key file exists only while `ssl` loads it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    chain_file = os.path.join(directory, "server.pem")
    key_file = os.path.join(directory, "server.key")
    _write(chain_file, chain_pem, 0o600)
    _write(key_file, key_pem, 0o600)
    try:
        context.load_cert_chain(chain_file, key_file)
    finally:
        os.unlink(key_file)
        os.unlink(chain_file)
    return context


def _write(path: str, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _remove(directory: str, owner_pid: int) -> None:
    if os.getpid() == owner_pid:  # a forked child exiting must not delete the parent's files
        shutil.rmtree(directory, ignore_errors=True)
