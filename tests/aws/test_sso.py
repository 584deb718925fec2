"""SsoCredentialProvider over real HTTP against the fake IAM Identity Center portal."""

from __future__ import annotations

import hashlib
import json
import pathlib

import pytest

from literauth.aws import SsoCredentialProvider
from literauth.aws._profiles import load_shared_config
from literauth.aws.sso import sso_settings, token_cache_key
from literauth.errors import (
    ConfigurationError,
    CredentialSourceError,
    SourceNotConfigured,
    TokenEndpointError,
)
from literauth.testing import FakeIdentityServer
from literauth.testing.aws.sso import (
    DEFAULT_ACCOUNT,
    DEFAULT_ROLE,
    DEFAULT_SESSION,
    DEFAULT_START_URL,
    SsoPortalEndpoint,
)

from ..conftest import FakeClock, FakeSleep, assert_no_secret


def portal(server: FakeIdentityServer) -> SsoPortalEndpoint:
    endpoint = server.endpoint("aws.sso")
    assert isinstance(endpoint, SsoPortalEndpoint)
    return endpoint


def build(server: FakeIdentityServer, cache: pathlib.Path, **options: object) -> SsoCredentialProvider:
    values: dict[str, object] = {
        "start_url": DEFAULT_START_URL, "sso_region": "us-east-1", "account_id": DEFAULT_ACCOUNT,
        "role_name": DEFAULT_ROLE, "session_name": DEFAULT_SESSION, "profile": "dev", "token_cache_dir": cache,
        "endpoint": server.url, "sleep": FakeSleep(), "background_refresh": False, "session": server.session(),
    }
    values.update(options)
    return SsoCredentialProvider(**values)  # type: ignore[arg-type]


def test_the_cache_key_is_the_sha1_botocore_computes() -> None:
    assert token_cache_key("https://x/start", "corp") == hashlib.sha1(b"corp").hexdigest()
    assert token_cache_key("https://x/start", None) == hashlib.sha1(b"https://x/start").hexdigest()


def test_role_credentials_come_from_the_portal_with_the_cached_login(
    server: FakeIdentityServer, tmp_path: pathlib.Path
) -> None:
    fake = portal(server)
    path = fake.write_token_cache(tmp_path)
    token = json.loads(pathlib.Path(path).read_text())["accessToken"]
    with build(server, tmp_path) as provider:
        keys = provider.resolve()
        assert provider.resolve() is keys  # cached
    issued = fake.issued_credentials[-1]
    assert keys.access_key_id.expose_secret() == issued.access_key_id.expose_secret()
    assert keys.session_token is not None and keys.session_token.expose_secret() == issued.session_token.expose_secret()
    assert keys.expires_at_epoch == pytest.approx(issued.expiration.timestamp(), abs=2)
    (request,) = fake.requests
    assert request.method == "GET" and request.path == "/federation/credentials"
    assert request.query == {"account_id": DEFAULT_ACCOUNT, "role_name": DEFAULT_ROLE}
    assert request.header("x-amz-sso_bearer_token") == token
    assert provider.token_cache_file == path


def test_an_expired_login_says_to_log_in_without_asking_the_portal(
    server: FakeIdentityServer, tmp_path: pathlib.Path
) -> None:
    fake = portal(server)
    fake.write_token_cache(tmp_path, lifetime=-60)
    with build(server, tmp_path) as provider, pytest.raises(CredentialSourceError) as info:
        provider.resolve()
    assert "expired" in str(info.value) and "run `aws sso login --profile dev`" in str(info.value)
    assert fake.request_count == 0


def test_no_login_at_all_says_to_log_in(server: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    with build(server, tmp_path) as provider, pytest.raises(CredentialSourceError, match="no cached SSO token.*aws sso login --profile dev"):
        provider.resolve()


def test_a_login_the_portal_no_longer_accepts_is_a_401_with_the_same_hint(
    server: FakeIdentityServer, tmp_path: pathlib.Path
) -> None:
    fake = portal(server)
    path = fake.write_token_cache(tmp_path, token="aoa-revoked-login-token-0123456789")
    with build(server, tmp_path) as provider, pytest.raises(TokenEndpointError) as info:
        provider.resolve()
    assert info.value.status_code == 401 and info.value.error_code == "UnauthorizedException"
    assert "run `aws sso login --profile dev`" in str(info.value) and not info.value.retryable
    assert_no_secret([str(info.value), repr(info.value)], [json.loads(pathlib.Path(path).read_text())["accessToken"]])


def test_a_role_not_assigned_is_forbidden_with_a_hint(server: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    fake = portal(server)
    fake.write_token_cache(tmp_path)
    fake.assignments = {(DEFAULT_ACCOUNT, "OtherRole")}
    with build(server, tmp_path) as provider, pytest.raises(TokenEndpointError, match="permission set") as info:
        provider.resolve()
    assert info.value.error_code == "ForbiddenException"


def test_throttling_is_retried(server: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    fake = portal(server)
    fake.write_token_cache(tmp_path)
    fake.fail_with("TooManyRequestsException", times=1)
    with build(server, tmp_path) as provider:
        provider.resolve()
    assert fake.request_count == 2


def test_the_login_file_is_read_again_on_each_fetch(server: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    fake = portal(server)
    clock = FakeClock(server.clock())
    fake.write_token_cache(tmp_path, lifetime=600)
    with build(server, tmp_path, clock=clock) as provider:
        provider.resolve()
        clock.advance(4000)
        fake.write_token_cache(tmp_path, lifetime=8 * 3600 + 4000)  # a new `aws sso login`
        provider.resolve()
    tokens = [request.header("x-amz-sso_bearer_token") for request in fake.requests]
    assert len(tokens) == 2 and tokens[0] != tokens[1]


def test_bad_arguments_are_configuration_errors(server: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigurationError, match="account_id must be 12 digits"):
        build(server, tmp_path, account_id="12")
    with pytest.raises(ConfigurationError, match="region must look like"):
        build(server, tmp_path, sso_region="nowhere")
    with pytest.raises(ConfigurationError, match="plain http is only allowed on loopback"):
        build(server, tmp_path, endpoint="http://portal.example")


def test_the_cache_identity_tells_roles_apart(server: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    with build(server, tmp_path) as one, build(server, tmp_path, role_name="Other") as two:
        first, second = one._cache_identity(), two._cache_identity()
    assert first is not None and second is not None and first[0] != second[0] and first[1] is None


# -- from the shared config --------------------------------------------------------------------------


def test_from_env_reads_the_sso_session_profile_and_the_cache_under_home(
    server: FakeIdentityServer, tmp_path: pathlib.Path
) -> None:
    env = portal(server).environ(tmp_path)
    with SsoCredentialProvider.from_env(env, session=server.session()) as provider:
        assert provider.settings.session_name == DEFAULT_SESSION
        assert provider.endpoint == server.url + "/federation/credentials"
        assert provider.resolve().expires_at is not None


def test_the_legacy_inline_form_keys_the_cache_by_start_url(server: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    fake = portal(server)
    config = fake.write_config(tmp_path / "config", profile="dev", legacy=True)
    fake.write_token_cache(tmp_path / ".aws" / "sso" / "cache", session_name=None)
    env = {"AWS_CONFIG_FILE": config, "HOME": str(tmp_path), "AWS_PROFILE": "dev", "AWS_ENDPOINT_URL_SSO": server.url}
    with SsoCredentialProvider.from_env(env, session=server.session()) as provider:
        assert provider.settings.session_name is None
        provider.resolve()


@pytest.mark.parametrize(
    "config, problem",
    [
        ("[default]\nregion = us-east-1\n", None),
        ("[default]\nsso_account_id = 111122223333\n", "lacks sso_role_name, sso_start_url, sso_region"),
        ("[default]\nsso_role_name = R\nsso_account_id = 1\nsso_session = gone\n", "no \\[sso-session gone\\]"),
        (("[default]\nsso_role_name = R\nsso_account_id = 1\nsso_session = s\nsso_region = eu-west-1\n"
          "[sso-session s]\nsso_region = us-east-1\nsso_start_url = https://x\n"), "sso_region differs"),
    ],
)
def test_profiles_that_are_not_or_not_fully_sso(tmp_path: pathlib.Path, config: str, problem: str | None) -> None:
    (tmp_path / "config").write_text(config)
    env = {"AWS_CONFIG_FILE": str(tmp_path / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}
    if problem is None:
        assert sso_settings(load_shared_config(env), "default") is None
        with pytest.raises(SourceNotConfigured):
            SsoCredentialProvider.from_env(env)
        return
    with pytest.raises(ConfigurationError, match=problem) as info:
        SsoCredentialProvider.from_env(env)
    assert not isinstance(info.value, SourceNotConfigured)
