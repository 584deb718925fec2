"""The pytest plugin, exercised through its fixtures (as a user's suite would), behind a proxy too."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from literauth import (
    AwsCredentials,
    BearerToken,
    TokenEndpointError,
    VertexOAuthCredentialProvider,
)
from literauth._registry import SPECS, ProviderSpec
from literauth.aws import WebIdentityCredentialProvider
from literauth.azure import AzureAdCredentialProvider
from literauth.testing import FakeIdentityServer
from literauth.testing.pytest_plugin import _SHADOWING, provider_fixture_names


@pytest.mark.parametrize("round_", [1, 2])
def test_each_test_gets_fresh_counters(fake_identity_server: FakeIdentityServer, round_: int) -> None:
    assert fake_identity_server.azure.request_count == 0
    fake_identity_server.azure_provider().resolve()
    assert fake_identity_server.azure.request_count == 1


def test_azure_provider_fixture(fake_azure_provider: AzureAdCredentialProvider, fake_identity_server: FakeIdentityServer) -> None:
    credential = fake_azure_provider.resolve()
    assert isinstance(credential, BearerToken)
    assert fake_identity_server.azure.check_token(credential.token)
    assert fake_azure_provider.resolve() is credential  # cached: still one request
    assert fake_identity_server.azure.request_count == 1


def test_sts_provider_fixture(fake_sts_provider: WebIdentityCredentialProvider, fake_identity_server: FakeIdentityServer) -> None:
    credential = fake_sts_provider.resolve()
    assert isinstance(credential, AwsCredentials)
    issued = fake_identity_server.sts.issued_credentials
    assert len(issued) == 1 and issued[0].access_key_id == credential.access_key_id


def test_vertex_provider_fixture(fake_vertex_provider: VertexOAuthCredentialProvider, fake_identity_server: FakeIdentityServer) -> None:
    credential = fake_vertex_provider.resolve()
    assert isinstance(credential, BearerToken)
    assert fake_identity_server.google.issued_tokens == [credential.token.expose_secret()]


def test_fixture_faults_reach_the_provider(fake_azure_provider: AzureAdCredentialProvider, fake_identity_server: FakeIdentityServer) -> None:
    fake_identity_server.azure.fail(400, '{"error":"invalid_client","error_codes":[7000215]}')
    with pytest.raises(TokenEndpointError, match="AADSTS7000215"):
        fake_azure_provider.resolve()


def test_environment_fixture_points_from_env_at_the_server(
    fake_identity_env: dict[str, str], fake_identity_server: FakeIdentityServer
) -> None:
    assert os.environ["AZURE_AUTHORITY_HOST"] == fake_identity_server.url
    assert os.environ["AWS_ENDPOINT_URL_STS"] == fake_identity_server.url
    assert "AZURE_AD_TOKEN" not in os.environ
    azure = AzureAdCredentialProvider.from_env()
    sts = WebIdentityCredentialProvider.from_env()
    assert isinstance(azure.resolve(), BearerToken)
    assert isinstance(sts.resolve(), AwsCredentials)
    assert fake_identity_server.azure.request_count == fake_identity_server.sts.request_count == 1
    assert set(fake_identity_env) >= {"AZURE_CLIENT_SECRET", "AWS_WEB_IDENTITY_TOKEN_FILE"}


def test_plugin_is_registered_for_other_suites(tmp_path: Path) -> None:
    suite = tmp_path / "test_user_suite.py"
    suite.write_text(textwrap.dedent("""
        def test_uses_the_fixture(fake_identity_server, fake_azure_provider):
            fake_azure_provider.resolve()
            assert fake_identity_server.azure.request_count == 1
    """))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", str(suite)],
        check=False, cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


PROXY = "http://127.0.0.1:1"  # nothing listens: a request sent through it fails


@pytest.fixture
def proxied(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine with a corporate proxy and no NO_PROXY (newuser finding #2)."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, PROXY)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_provider_fixtures_ignore_proxy_variables(
    proxied: None, fake_azure_provider: AzureAdCredentialProvider, fake_sts_provider: WebIdentityCredentialProvider,
    fake_vertex_provider: VertexOAuthCredentialProvider, fake_identity_server: FakeIdentityServer,
) -> None:
    assert os.environ["HTTPS_PROXY"] == PROXY and "NO_PROXY" not in os.environ
    assert isinstance(fake_azure_provider.resolve(), BearerToken)
    assert isinstance(fake_sts_provider.resolve(), AwsCredentials)
    assert isinstance(fake_vertex_provider.resolve(), BearerToken)
    named = ("azure.client_secret", "aws.web_identity", "google.service_account")
    assert [fake_identity_server.endpoint(name).request_count for name in named] == [1, 1, 1]


def test_environment_fixture_bypasses_a_proxy_for_loopback(
    proxied: None, fake_identity_env: dict[str, str], fake_identity_server: FakeIdentityServer
) -> None:
    assert os.environ["HTTP_PROXY"] == PROXY
    assert "127.0.0.1" in os.environ["NO_PROXY"].split(",")
    with AzureAdCredentialProvider.from_env() as azure, WebIdentityCredentialProvider.from_env() as sts:
        assert isinstance(azure.resolve(), BearerToken)  # its own session, which reads NO_PROXY
        assert isinstance(sts.resolve(), AwsCredentials)


@pytest.mark.parametrize("spec", [s for s in SPECS if s.fake is not None], ids=lambda s: s.name)
def test_every_registered_provider_has_its_fixtures(
    spec: ProviderSpec, request: pytest.FixtureRequest, fake_identity_server: FakeIdentityServer
) -> None:
    names = provider_fixture_names(spec)
    assert names[0] == f"fake_{spec.name.replace('.', '_')}_provider"
    providers = [request.getfixturevalue(name) for name in names]
    assert all(isinstance(p, spec.load()) for p in providers)
    providers[0].resolve()
    assert fake_identity_server.endpoint(spec.name).credential_request_count == 1  # IMDSv2: not its session steps


def test_the_environment_fixture_clears_every_variable_a_provider_reads() -> None:
    for spec in SPECS:
        assert set(spec.required_env + spec.optional_env) <= set(_SHADOWING), spec.name
    assert {"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"} <= set(_SHADOWING)
