"""FakeIdentityServer's HTTPS mode: a generated CA that providers trust through a requests session."""

from __future__ import annotations

import os
import pathlib
import socket
import ssl
from collections.abc import Iterator

import pytest
import requests

from literauth import AwsCredentials, BearerToken, TransportError
from literauth.azure import AzureAdCredentialProvider
from literauth.testing import FakeIdentityServer

from ..conftest import FakeSleep, assert_no_secret

pytest.importorskip("cryptography")


@pytest.fixture
def tls_server() -> Iterator[FakeIdentityServer]:
    with FakeIdentityServer(https=True) as server:
        yield server


def test_serves_https_with_a_ca_bundle(tls_server: FakeIdentityServer) -> None:
    assert tls_server.url.startswith("https://127.0.0.1:")
    assert tls_server.ca_bundle is not None
    text = pathlib.Path(tls_server.ca_bundle).read_text()
    assert text.startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE KEY" not in text  # only the CA certificate is on disk


@pytest.mark.parametrize("hostname", ["127.0.0.1", "localhost"])
def test_certificate_verifies_for_loopback_names(tls_server: FakeIdentityServer, hostname: str) -> None:
    assert tls_server.ca_bundle is not None
    context = ssl.create_default_context(cafile=tls_server.ca_bundle)
    with (
        socket.create_connection(("127.0.0.1", tls_server.port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=hostname) as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")
        certificate = tls.getpeercert()
    assert ("IP Address", "127.0.0.1") in certificate["subjectAltName"]


def test_plain_server_has_no_bundle(server: FakeIdentityServer) -> None:
    assert server.url.startswith("http://")
    assert server.ca_bundle is None


def test_providers_trusting_the_ca_succeed(tls_server: FakeIdentityServer) -> None:
    azure = tls_server.azure_provider()
    sts = tls_server.sts_provider()
    assert isinstance(azure.resolve(), BearerToken)
    assert isinstance(sts.resolve(), AwsCredentials)
    assert tls_server.azure.request_count == 1
    assert tls_server.sts.request_count == 1


def test_vertex_provider_trusting_the_ca_succeeds(tls_server: FakeIdentityServer) -> None:
    pytest.importorskip("jwt")
    credential = tls_server.vertex_provider().resolve()
    assert isinstance(credential, BearerToken)
    assert credential.token.expose_secret() in tls_server.google.issued_tokens


def test_a_provider_not_trusting_the_ca_fails_with_transport_error(
    tls_server: FakeIdentityServer, fake_sleep: FakeSleep, debug_logs: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    with requests.Session() as default_trust:  # the system / certifi roots only
        provider = tls_server.azure_provider(session=default_trust, sleep=fake_sleep)
        with pytest.raises(TransportError) as caught:
            provider.resolve()
    message = str(caught.value)
    assert "certificate was not trusted" in message
    assert caught.value.host == "127.0.0.1"
    assert tls_server.azure.request_count == 0  # refused during the handshake, before any HTTP
    secret = tls_server.azure.client_secret.expose_secret()
    assert_no_secret([message, repr(caught.value), debug_logs.text], [secret])


def test_from_env_trusts_the_ca_through_requests_ca_bundle(
    tls_server: FakeIdentityServer, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = tls_server.environ(tmp_path)
    assert env["REQUESTS_CA_BUNDLE"] == tls_server.ca_bundle
    assert env["AZURE_AUTHORITY_HOST"] == tls_server.url
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", env["REQUESTS_CA_BUNDLE"])  # read by the provider's own session
    provider = AzureAdCredentialProvider.from_env(env)
    assert isinstance(provider, AzureAdCredentialProvider)
    assert isinstance(provider.resolve(), BearerToken)
    provider.close()


def test_session_ignores_environment_overrides(
    tls_server: FakeIdentityServer, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bogus = tmp_path / "not-a-bundle.pem"
    bogus.write_text("not a certificate\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", os.fspath(bogus))
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")  # nothing listens there
    assert isinstance(tls_server.azure_provider().resolve(), BearerToken)


def test_bundle_is_rewritten_if_deleted(tls_server: FakeIdentityServer) -> None:
    assert tls_server.ca_bundle is not None
    os.unlink(tls_server.ca_bundle)
    with FakeIdentityServer(https=True) as second:
        assert second.ca_bundle == tls_server.ca_bundle
        assert second.ca_bundle is not None and os.path.exists(second.ca_bundle)
        assert isinstance(second.azure_provider().resolve(), BearerToken)
