"""ClientCertificateCredentialProvider: loading certificates, the signed assertion, and the fake certificate endpoint.

Key material is generated at runtime (`make_test_certificate`); none is committed.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import logging
import pathlib
import time
import traceback
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from literauth import (
    ChainProvider,
    ClientCertificateCredentialProvider,
    StaticTokenProvider,
)
from literauth.azure._common import DEFAULT_SCOPE
from literauth.credentials import BearerToken
from literauth.errors import ConfigurationError, SourceNotConfigured, TokenEndpointError
from literauth.secret import SecretString
from literauth.testing import FakeIdentityServer
from literauth.testing.azure.client_certificate import (
    AzureCertificateEndpoint,
    TestCertificate,
    make_test_certificate,
)

from ..conftest import assert_no_secret

jwt = pytest.importorskip("jwt")
pytest.importorskip("cryptography")

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MANAGEMENT = "https://management.azure.com/.default"
GUID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"
PASSWORD = "correct horse battery staple"
PRIVATE_KEY_MARKER = "PRIVATE" + " KEY"  # split: a hook refuses committed PEM key markers


@pytest.fixture
def cert_fake(server: FakeIdentityServer) -> AzureCertificateEndpoint:
    return server.azure_certificate


@pytest.fixture(scope="module")
def chained() -> TestCertificate:
    return make_test_certificate("literauth-chained", chain=True)


@pytest.fixture
def provider(server: FakeIdentityServer) -> Iterator[ClientCertificateCredentialProvider]:
    made = server.provider("azure.client_certificate", background_refresh=False)
    assert isinstance(made, ClientCertificateCredentialProvider)
    with made:
        yield made


def exposed(value: object) -> str:
    return value.expose_secret() if isinstance(value, SecretString) else str(value)


def header_of(assertion: str) -> dict[str, Any]:
    header: dict[str, Any] = jwt.get_unverified_header(assertion)
    return header


def sha1_x5t(der: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha1(der).digest()).rstrip(b"=").decode()


def build(data: bytes, password: str | None = None, **options: Any) -> ClientCertificateCredentialProvider:
    return ClientCertificateCredentialProvider(GUID, "app", certificate_bytes=data, password=password, **options)


# -- the assertion ---------------------------------------------------------------------------


def test_the_assertion_is_an_rs256_jwt_signed_by_the_certificate_key(cert_fake: AzureCertificateEndpoint) -> None:
    certificate = cert_fake.certificate
    provider = build(certificate.pem())
    before = int(time.time())
    assertion = provider._sign_assertion().expose_secret()

    header = header_of(assertion)
    assert header == {"alg": "RS256", "typ": "JWT", "x5t": sha1_x5t(certificate.certificate_der)}
    claims = jwt.decode(assertion, certificate.chain[0].public_key(), algorithms=["RS256"],
                        audience=provider.token_url)
    assert set(claims) == {"aud", "iss", "sub", "jti", "nbf", "iat", "exp"}
    assert claims["aud"] == f"https://login.microsoftonline.com/{GUID}/oauth2/v2.0/token" == provider.token_url
    assert claims["iss"] == claims["sub"] == "app"
    assert uuid.UUID(claims["jti"]).version == 4
    assert before <= claims["iat"] == claims["nbf"] <= int(time.time())
    assert claims["exp"] == claims["iat"] + 600
    assert provider.thumbprint == certificate.thumbprint


def test_every_fetch_signs_a_fresh_assertion(cert_fake: AzureCertificateEndpoint) -> None:
    provider = build(cert_fake.certificate.pem())
    first, second = (jwt.decode(provider._sign_assertion().expose_secret(), options={"verify_signature": False})
                     for _ in range(2))
    assert first["jti"] != second["jti"]


def test_the_chain_is_sent_only_when_asked(chained: TestCertificate) -> None:
    assert "x5c" not in header_of(build(chained.pem())._sign_assertion().expose_secret())
    header = header_of(build(chained.pem(), send_certificate_chain=True)._sign_assertion().expose_secret())
    ders = [base64.b64decode(item) for item in header["x5c"]]
    assert ders == [chained.certificate_der, *(c.public_bytes(_der()) for c in chained.chain[1:])]
    assert len(ders) == 2 and header["x5t"] == chained.x5t  # leaf first


def _der() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


# -- file formats ------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["pem", "pem-key-last", "pem-encrypted", "pkcs12", "pkcs12-encrypted"])
def test_pem_and_pkcs12_load_from_bytes_and_from_a_file(
    chained: TestCertificate, form: str, tmp_path: pathlib.Path
) -> None:
    password = PASSWORD if form.endswith("encrypted") else None
    data = (chained.pkcs12(password) if form.startswith("pkcs12")
            else chained.pem(password, key_first=form != "pem-key-last"))
    from_bytes = build(data, password)
    path = chained.write(tmp_path / "cert", data)
    from_file = ClientCertificateCredentialProvider(GUID, "app", path, password=password, send_certificate_chain=True)
    assert from_bytes.thumbprint == from_file.thumbprint == chained.thumbprint
    assert from_file.certificate_path == path and from_bytes.certificate_path is None
    assert len(header_of(from_file._sign_assertion().expose_secret())["x5c"]) == 2


# -- mistakes named at construction --------------------------------------------------------------


def _mistakes(cert: TestCertificate, other: TestCertificate) -> dict[str, tuple[bytes, str | None, str]]:
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_cert = make_test_certificate(key=ec.generate_private_key(ec.SECP256R1()))
    expired = make_test_certificate(key=cert.key, valid_from=time.time() - 7200, valid_for=3600)
    early = make_test_certificate(key=cert.key, valid_from=time.time() + 3600)
    return {
        "no key": (cert.certificates_pem(), None, "holds no private key"),
        "no certificate": (cert.key_pem(), None, "holds no certificate"),
        "password needed (PEM)": (cert.pem(PASSWORD), None, "encrypted private key; pass its password"),
        "wrong password (PEM)": (cert.pem(PASSWORD), "wrong", "wrong password"),
        "password for a plain key": (cert.pem(), PASSWORD, "unencrypted private key, but a password was given"),
        "password needed (PKCS#12)": (cert.pkcs12(PASSWORD), None, "needs a password"),
        "wrong password (PKCS#12)": (cert.pkcs12(PASSWORD), "wrong", "password given is wrong"),
        "not a certificate": (b"hello, world", None, "is not a PEM or PKCS#12 file"),
        "EC key": (ec_cert.pem(), None, "holds an EC key; Entra ID certificate credentials need an RSA key"),
        "mismatch": (cert.key_pem() + other.certificates_pem(), None, "does not match the certificate"),
        "expired": (expired.pem(), None, "the certificate expired on"),
        "not yet valid": (early.pem(), None, "is not valid until"),
    }


MISTAKES = ["no key", "no certificate", "password needed (PEM)", "wrong password (PEM)", "password for a plain key",
            "password needed (PKCS#12)", "wrong password (PKCS#12)", "not a certificate", "EC key", "mismatch",
            "expired", "not yet valid"]


@pytest.fixture(scope="module")
def mistakes(chained: TestCertificate) -> dict[str, tuple[bytes, str | None, str]]:
    return _mistakes(chained, make_test_certificate("other"))


@pytest.mark.parametrize("mistake", MISTAKES)
def test_each_mistake_is_a_configuration_error_naming_it_never_the_key(
    mistakes: dict[str, tuple[bytes, str | None, str]], chained: TestCertificate, mistake: str
) -> None:
    data, password, says = mistakes[mistake]
    with pytest.raises(ConfigurationError) as caught:
        build(data, password)
    error = caught.value
    assert says in str(error)
    assert error.__cause__ is None and error.__context__ is None  # no chained exception holding key text
    texts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    assert_no_secret(texts, [chained.key_pem().decode(), PASSWORD])


@pytest.mark.parametrize(("kwargs", "match"), [
    ({}, "exactly one of certificate_path and certificate_bytes"),
    ({"certificate_path": "/x", "certificate_bytes": b"x"}, "exactly one"),
    ({"certificate_bytes": "text"}, "certificate_bytes must be bytes"),
    ({"certificate_path": ""}, "certificate_path"),
    ({"certificate_path": "/nonexistent/cert.pem"}, "does not exist"),
    ({"certificate_bytes": b"x", "password": 5}, "password must be a str"),
])
def test_bad_arguments_are_refused(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        ClientCertificateCredentialProvider(GUID, "app", **kwargs)


def test_an_empty_file_and_a_directory_are_named(tmp_path: pathlib.Path) -> None:
    (tmp_path / "empty.pem").write_bytes(b"")
    with pytest.raises(ConfigurationError, match="empty.pem is empty"):
        ClientCertificateCredentialProvider(GUID, "app", tmp_path / "empty.pem")
    with pytest.raises(ConfigurationError, match="is a directory"):
        ClientCertificateCredentialProvider(GUID, "app", tmp_path)


def test_tenant_client_scope_and_authority_are_checked(cert_fake: AzureCertificateEndpoint) -> None:
    data = cert_fake.certificate.pem()
    for kwargs, match in [({"tenant_id": "common"}, "tenant_id"), ({"client_id": ""}, "client_id")]:
        args = {"tenant_id": GUID, "client_id": "app", **kwargs}
        with pytest.raises(ConfigurationError, match=match):
            ClientCertificateCredentialProvider(args["tenant_id"], args["client_id"], certificate_bytes=data)
    with pytest.raises(ConfigurationError, match="scope"):
        build(data, scope="User.Read")
    with pytest.raises(ConfigurationError, match="authority_host"):
        build(data, authority_host="http://login.example.com")


# -- over the wire, against the fake ---------------------------------------------------------------


def test_request_is_the_client_credentials_grant_with_a_certificate_assertion(
    server: FakeIdentityServer, cert_fake: AzureCertificateEndpoint, provider: ClientCertificateCredentialProvider
) -> None:
    token = provider.resolve()

    assert isinstance(token, BearerToken)
    (sent,) = cert_fake.requests
    assert (sent.method, sent.path, sent.query) == ("POST", f"/{cert_fake.tenant_id}/oauth2/v2.0/token", {})
    assert set(sent.form) == {"grant_type", "client_id", "scope", "client_assertion_type", "client_assertion"}
    assert sent.form["grant_type"] == "client_credentials"
    assert sent.form["client_id"] == cert_fake.client_id
    assert sent.form["scope"] == DEFAULT_SCOPE
    assert sent.form["client_assertion_type"] == JWT_BEARER
    assert isinstance(sent.form["client_assertion"], SecretString)
    assertion = exposed(sent.form["client_assertion"])
    claims = jwt.decode(assertion, cert_fake.certificate.chain[0].public_key(), algorithms=["RS256"],
                        audience=f"{server.url}/{cert_fake.tenant_id}/oauth2/v2.0/token")
    assert claims["iss"] == claims["sub"] == cert_fake.client_id
    assert cert_fake.check_token(token.token, audience="https://cognitiveservices.azure.com")
    assert server.azure.request_count == server.azure_federated.request_count == 0  # routed on x5t


def test_properties_repr_and_with_scope(
    cert_fake: AzureCertificateEndpoint, provider: ClientCertificateCredentialProvider, server: FakeIdentityServer
) -> None:
    assert provider.provider_name == "azure.client_certificate"
    assert (provider.tenant_id, provider.client_id) == (cert_fake.tenant_id, cert_fake.client_id)
    assert provider.thumbprint in repr(provider) and provider.send_certificate_chain is False
    other = provider.with_scope(MANAGEMENT)
    assert isinstance(other, ClientCertificateCredentialProvider)
    assert (other.scope, other.thumbprint, other.authority_host) == (MANAGEMENT, provider.thumbprint, server.url)
    token = other.resolve()
    assert cert_fake.check_token(token.token, audience="https://management.azure.com")


def test_with_scope_keeps_the_path_and_the_chain(
    cert_fake: AzureCertificateEndpoint, server: FakeIdentityServer
) -> None:
    path = cert_fake.write_certificate()
    with server.provider("azure.client_certificate", certificate_path=path, send_certificate_chain=True) as p:
        other = p.with_scope(MANAGEMENT)
        assert (other.certificate_path, other.send_certificate_chain) == (path, True)
        assert isinstance(other.resolve(), BearerToken)


def test_a_chained_certificate_sent_with_its_chain_is_accepted(
    server: FakeIdentityServer, cert_fake: AzureCertificateEndpoint, chained: TestCertificate
) -> None:
    cert_fake.add_certificate(chained)
    with server.provider("azure.client_certificate", certificate_bytes=chained.pkcs12(PASSWORD),
                         password=SecretString(PASSWORD), send_certificate_chain=True) as p:
        assert isinstance(p.resolve(), BearerToken)
    assert "x5c" in header_of(exposed(cert_fake.requests[0].form["client_assertion"]))


# -- what Entra ID refuses --------------------------------------------------------------------------


def _refused(server: FakeIdentityServer, **options: Any) -> TokenEndpointError:
    with server.provider("azure.client_certificate", **options) as p, pytest.raises(TokenEndpointError) as caught:
        p.resolve()
    return caught.value


def test_an_unregistered_certificate_is_aadsts700027(server: FakeIdentityServer) -> None:
    stranger = make_test_certificate("stranger")
    error = _refused(server, certificate_bytes=stranger.pem())
    assert (error.status_code, error.error_code, error.retryable) == (401, "AADSTS700027", False)
    assert "signature validation" in str(error)


def test_certificates_removed_from_the_app_are_aadsts700027(
    server: FakeIdentityServer, cert_fake: AzureCertificateEndpoint
) -> None:
    cert_fake.certificate  # noqa: B018 - generate and register the default certificate
    cert_fake.remove_certificates()
    assert _refused(server).error_code == "AADSTS700027"


def test_a_signature_that_does_not_verify_is_aadsts700027(
    server: FakeIdentityServer, cert_fake: AzureCertificateEndpoint
) -> None:
    impostor = make_test_certificate("impostor")
    # the registered certificate's thumbprint, but signed by another key
    provider = cert_fake.make_provider(session=server.session())
    source = provider._source  # construction refuses a key that does not match: swap it in afterwards
    provider._source = dataclasses.replace(source, loaded=dataclasses.replace(source.loaded, key=impostor.key))
    with provider, pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert caught.value.error_code == "AADSTS700027"


def test_an_expired_assertion_is_aadsts700024(
    server: FakeIdentityServer, cert_fake: AzureCertificateEndpoint
) -> None:
    error = _refused(server, clock=lambda: time.time() - 3600, background_refresh=False)
    assert (error.status_code, error.error_code) == (401, "AADSTS700024")
    assert "not within its valid time range" in str(error)


def test_an_unknown_app_is_aadsts700016(server: FakeIdentityServer) -> None:
    assert _refused(server, client_id=str(uuid.uuid4())).error_code == "AADSTS700016"


def test_without_the_certificate_fake_no_other_azure_fake_takes_a_certificate_assertion(
    cert_fake: AzureCertificateEndpoint,
) -> None:
    from literauth._registry import SPECS

    specs = [spec for spec in SPECS if spec.name in ("azure.client_secret", "azure.workload_identity")]
    with FakeIdentityServer(specs=specs) as other:
        provider = ClientCertificateCredentialProvider(
            cert_fake.tenant_id, cert_fake.client_id, certificate_bytes=cert_fake.certificate.pem(),
            authority_host=other.url, session=other.session(),
        )
        with provider, pytest.raises(TokenEndpointError):
            provider.resolve()
        assert other.azure.request_count == other.azure_federated.request_count == 0


# -- from_env ---------------------------------------------------------------------------------------


def test_from_env_builds_a_working_provider(cert_fake: AzureCertificateEndpoint, tmp_path: pathlib.Path) -> None:
    env = {key: f" {value}\n" for key, value in cert_fake.environ(tmp_path).items()}
    with ClientCertificateCredentialProvider.from_env(env, session=cert_fake.server.session()) as p:  # type: ignore[attr-defined]
        assert p.certificate_path == str(tmp_path / "azure-client-certificate.pem")
        assert p.authority_host == cert_fake.server.url
        assert isinstance(p.resolve(), BearerToken)


def test_from_env_reads_the_password_and_the_chain_flag(
    cert_fake: AzureCertificateEndpoint, chained: TestCertificate, tmp_path: pathlib.Path
) -> None:
    path = chained.write(tmp_path / "c.pfx", chained.pkcs12(PASSWORD))
    base = {"AZURE_TENANT_ID": GUID, "AZURE_CLIENT_ID": "app", "AZURE_CLIENT_CERTIFICATE_PATH": path,
            "AZURE_CLIENT_CERTIFICATE_PASSWORD": PASSWORD}
    for value, on in [("1", True), ("TRUE", True), ("true", True), ("false", False), ("0", False), ("", False)]:
        provider = ClientCertificateCredentialProvider.from_env({**base, "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN": value})
        assert provider.send_certificate_chain is on, value
    with pytest.raises(ConfigurationError, match="needs a password"):
        ClientCertificateCredentialProvider.from_env({k: v for k, v in base.items() if "PASSWORD" not in k})


@pytest.mark.parametrize("value", [None, "", "  \n"])
def test_from_env_without_the_path_is_source_not_configured(value: str | None) -> None:
    env = {"AZURE_TENANT_ID": GUID, "AZURE_CLIENT_ID": "app"}
    if value is not None:
        env["AZURE_CLIENT_CERTIFICATE_PATH"] = value
    with pytest.raises(SourceNotConfigured, match="AZURE_CLIENT_CERTIFICATE_PATH is not set"):
        ClientCertificateCredentialProvider.from_env(env)


def test_from_env_with_the_path_but_no_ids_is_a_configuration_error_naming_them() -> None:
    with pytest.raises(ConfigurationError) as caught:
        ClientCertificateCredentialProvider.from_env({"AZURE_CLIENT_CERTIFICATE_PATH": "/etc/cert.pem"})
    assert not isinstance(caught.value, SourceNotConfigured)
    assert "AZURE_TENANT_ID and AZURE_CLIENT_ID are not set" in str(caught.value)


def test_from_env_authority_host(cert_fake: AzureCertificateEndpoint, tmp_path: pathlib.Path) -> None:
    env = {"AZURE_TENANT_ID": GUID, "AZURE_CLIENT_ID": "app",
           "AZURE_CLIENT_CERTIFICATE_PATH": cert_fake.write_certificate(tmp_path / "c.pem"),
           "AZURE_AUTHORITY_HOST": "login.microsoftonline.us"}
    provider = ClientCertificateCredentialProvider.from_env(env)
    assert provider.token_url == f"https://login.microsoftonline.us/{GUID}/oauth2/v2.0/token"


def test_a_chain_skips_it_when_no_certificate_is_configured() -> None:
    chain = ChainProvider([
        ("certificate", lambda: ClientCertificateCredentialProvider.from_env({})),
        ("static", lambda: StaticTokenProvider("eyJ.static")),
    ])
    token = chain.resolve()
    assert isinstance(token, BearerToken) and token.token.expose_secret() == "eyJ.static"


# -- the key and the password never leak -------------------------------------------------------------


def test_the_key_and_password_never_appear_in_reprs_errors_or_logs(
    server: FakeIdentityServer, cert_fake: AzureCertificateEndpoint, debug_logs: pytest.LogCaptureFixture,
) -> None:
    certificate = cert_fake.certificate
    good = server.provider("azure.client_certificate", certificate_bytes=certificate.pem(PASSWORD),
                           password=PASSWORD)
    stale = server.provider("azure.client_certificate", certificate_bytes=certificate.pem(),
                            clock=lambda: time.time() - 3600)
    token = good.resolve()
    with pytest.raises(TokenEndpointError) as caught:
        stale.resolve()
    error = caught.value
    with pytest.raises(ConfigurationError) as wrong:
        build(certificate.pem(PASSWORD), "not the password")

    texts = [repr(good), str(good), repr(stale), repr(vars(good)), repr(good._source), repr(token), str(error),
             repr(error), "".join(traceback.format_exception(error)), "".join(traceback.format_exception(wrong.value)),
             debug_logs.text, repr(cert_fake.requests), repr(good.stats())]
    assert any(record.levelno == logging.DEBUG for record in debug_logs.records)
    key_body = "".join(line for line in certificate.key_pem().decode().splitlines() if PRIVATE_KEY_MARKER not in line)
    assert_no_secret(texts, [key_body, PASSWORD, token.token.expose_secret()])
    for request in cert_fake.requests:  # the assertion is a secret field: recorded, never shown
        assert exposed(request.form["client_assertion"]) not in repr(request)


# -- fidelity: azure-identity's CertificateCredential against the same fake -----------------------------


def test_azure_identity_gets_a_token_from_the_fake_and_its_assertion_has_our_shape(tmp_path: pathlib.Path) -> None:
    identity = pytest.importorskip("azure.identity")
    with FakeIdentityServer(https=True) as server:
        fake = server.azure_certificate
        path = fake.write_certificate(tmp_path / "cert.pem")
        theirs = identity.CertificateCredential(
            fake.tenant_id, fake.client_id, certificate_path=path,
            authority=server.url, connection_verify=server.ca_bundle, disable_instance_discovery=True,
        )
        their_token = theirs.get_token(DEFAULT_SCOPE)
        with server.provider("azure.client_certificate", certificate_path=path) as ours:
            our_token = ours.resolve()

        assert fake.check_token(their_token.token) and fake.check_token(our_token.token)
        their_request, our_request = [r for r in fake.requests if r.method == "POST"]
        assert their_request.path == our_request.path
        for field in ("grant_type", "client_id", "scope", "client_assertion_type"):
            assert their_request.form[field] == our_request.form[field], field
        # MSAL also sends client_info=1 (it asks for the account's home ids); literauth has no account cache.
        assert set(their_request.form) - set(our_request.form) <= {"client_info"}
        their_jwt, our_jwt = (exposed(r.form["client_assertion"]) for r in (their_request, our_request))
        their_header, our_header = header_of(their_jwt), header_of(our_jwt)
        assert their_header["alg"] == our_header["alg"] == "RS256"
        assert their_header["x5t"].rstrip("=") == our_header["x5t"] == fake.certificate.x5t  # MSAL pads it
        key = fake.certificate.chain[0].public_key()
        audience = f"{server.url}/{fake.tenant_id}/oauth2/v2.0/token"
        their_claims, our_claims = (jwt.decode(t, key, algorithms=["RS256"], audience=audience)
                                    for t in (their_jwt, our_jwt))
        assert their_claims["aud"] == our_claims["aud"] == audience
        assert their_claims["iss"] == their_claims["sub"] == our_claims["iss"] == our_claims["sub"] == fake.client_id
        assert their_claims["exp"] - their_claims["iat"] == our_claims["exp"] - our_claims["iat"] == 600
        assert {"aud", "iss", "sub", "jti", "iat", "exp"} <= set(our_claims) & set(their_claims)
