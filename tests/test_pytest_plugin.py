"""The pytest plugin, exercised only through its fixtures (as a user's suite would)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from literauth import AwsCredentials, BearerToken
from literauth.aws import WebIdentityCredentialProvider
from literauth.azure import AzureAdCredentialProvider
from literauth.testing import FakeIdentityServer


@pytest.mark.parametrize("round_", [1, 2])
def test_each_test_gets_fresh_counters(fake_identity_server: FakeIdentityServer, round_: int) -> None:
    assert fake_identity_server.azure.request_count == 0
    fake_identity_server.azure_provider().resolve()
    assert fake_identity_server.azure.request_count == 1


def test_azure_provider_fixture(fake_azure_provider: Any, fake_identity_server: FakeIdentityServer) -> None:
    credential = fake_azure_provider.resolve()
    assert isinstance(credential, BearerToken)
    assert fake_identity_server.azure.check_token(credential.token)
    assert fake_azure_provider.resolve() is credential  # cached: still one request
    assert fake_identity_server.azure.request_count == 1


def test_sts_provider_fixture(fake_sts_provider: Any, fake_identity_server: FakeIdentityServer) -> None:
    credential = fake_sts_provider.resolve()
    assert isinstance(credential, AwsCredentials)
    issued = fake_identity_server.sts.issued_credentials
    assert len(issued) == 1 and issued[0].access_key_id == credential.access_key_id


def test_vertex_provider_fixture(fake_vertex_provider: Any, fake_identity_server: FakeIdentityServer) -> None:
    credential = fake_vertex_provider.resolve()
    assert isinstance(credential, BearerToken)
    assert fake_identity_server.google.issued_tokens == [credential.token.expose_secret()]


def test_fixture_faults_reach_the_provider(fake_azure_provider: Any, fake_identity_server: FakeIdentityServer) -> None:
    fake_identity_server.azure.fail(400, '{"error":"invalid_client","error_codes":[7000215]}')
    with pytest.raises(Exception, match="AADSTS7000215"):
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
