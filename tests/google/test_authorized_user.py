"""The gcloud user-login provider: the refresh-token grant over real HTTP to the fake, the ADC file, its errors."""

from __future__ import annotations

import json
import logging
import pathlib
from collections.abc import Iterator

import pytest

from literauth import (
    AuthorizedUserCredentialProvider,
    ConfigurationError,
    TokenEndpointError,
)
from literauth.google.authorized_user import DEFAULT_TOKEN_URI
from literauth.testing import FakeIdentityServer
from literauth.testing.google.user import USER_TOKEN_PATH, GoogleUserEndpoint

from ..conftest import FakeSleep, assert_no_secret

GEMINI = "https://www.googleapis.com/auth/generative-language"


@pytest.fixture
def user(server: FakeIdentityServer) -> GoogleUserEndpoint:
    return server.google_user


@pytest.fixture
def info(user: GoogleUserEndpoint) -> dict[str, str]:
    return user.login()


@pytest.fixture
def provider(info: dict[str, str], server: FakeIdentityServer) -> Iterator[AuthorizedUserCredentialProvider]:
    with AuthorizedUserCredentialProvider.from_info(info, session=server.session(), sleep=FakeSleep()) as built:
        yield built


def _secrets(info: dict[str, str]) -> list[str]:
    return [info["client_secret"], info["refresh_token"]]


# -- configuration ---------------------------------------------------------------------------------


def test_the_default_token_uri_is_googles() -> None:
    built = AuthorizedUserCredentialProvider("c.apps.googleusercontent.com", "s", "1//r")
    assert built.token_uri == DEFAULT_TOKEN_URI == "https://oauth2.googleapis.com/token"
    assert built.quota_project_id is None and built.scopes == ()


@pytest.mark.parametrize(("field", "value", "match"), [
    ("client_id", "", "client_id is missing"),
    ("client_secret", None, "client_secret is missing"),
    ("refresh_token", 12, "refresh_token must be a string"),
    ("refresh_token", "1//a b", "whitespace"),
    ("token_uri", "http://oauth2.example.com/token", "must use https"),
    ("token_uri", "https://user:pw@oauth2.example.com/token", "user information"),
    ("type", "service_account", "type 'service_account'"),
])
def test_bad_files_name_the_field_never_a_secret(info: dict[str, str], field: str, value: object, match: str) -> None:
    bad = {**info, field: value}
    with pytest.raises(ConfigurationError, match=match) as caught:
        AuthorizedUserCredentialProvider.from_info(bad)
    assert_no_secret([str(caught.value)], [s for s in _secrets(info) if s != value])


def test_from_file_and_from_env_read_the_adc_file(
    user: GoogleUserEndpoint, server: FakeIdentityServer, tmp_path: pathlib.Path
) -> None:
    path = user.write_adc_file(tmp_path / "gcloud")
    built = AuthorizedUserCredentialProvider.from_file(path, session=server.session())
    assert built.token_uri == user.token_uri and built.quota_project_id == "literauth-quota"
    built.resolve()
    from_env = AuthorizedUserCredentialProvider.from_env({"CLOUDSDK_CONFIG": str(tmp_path / "gcloud")})
    assert from_env.client_id == built.client_id


def test_from_env_without_the_file_says_what_to_run(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigurationError, match="run 'gcloud auth application-default login'"):
        AuthorizedUserCredentialProvider.from_env({"CLOUDSDK_CONFIG": str(tmp_path)})


def test_an_unreadable_file_is_named(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "adc.json"
    path.write_text("{not json")
    with pytest.raises(ConfigurationError, match="ADC file .*adc.json is not JSON"):
        AuthorizedUserCredentialProvider.from_file(path)


def test_cache_identities_differ_and_own_both_secrets(info: dict[str, str], user: GoogleUserEndpoint) -> None:
    first = AuthorizedUserCredentialProvider.from_info(info)._cache_identity()
    second = AuthorizedUserCredentialProvider.from_info(user.login())._cache_identity()
    assert first is not None and second is not None and first[0] != second[0]
    assert first[1] is not None and all(s.encode() in first[1] for s in _secrets(info))


# -- the wire ----------------------------------------------------------------------------------------


def test_refresh_token_grant_wire_format(
    provider: AuthorizedUserCredentialProvider, user: GoogleUserEndpoint, info: dict[str, str]
) -> None:
    token = provider.resolve()
    (request,) = user.requests
    assert (request.method, request.path) == ("POST", USER_TOKEN_PATH)
    assert request.header("Content-Type") == "application/x-www-form-urlencoded"
    form = {k: v if isinstance(v, str) else v.expose_secret() for k, v in request.form.items()}
    assert form == {"grant_type": "refresh_token", "refresh_token": info["refresh_token"],
                    "client_id": info["client_id"], "client_secret": info["client_secret"]}
    assert token.token.expose_secret() == user.issued_tokens[0]  # type: ignore[attr-defined]
    assert provider.resolve() is token and user.request_count == 1


def test_scopes_are_sent_space_separated(provider: AuthorizedUserCredentialProvider, user: GoogleUserEndpoint) -> None:
    with provider.with_scope(f"https://www.googleapis.com/auth/cloud-platform {GEMINI}") as scoped:
        scoped.resolve()
    assert user.scopes_asked == [f"https://www.googleapis.com/auth/cloud-platform {GEMINI}"]


def test_a_revoked_login_says_to_log_in_again(
    provider: AuthorizedUserCredentialProvider, user: GoogleUserEndpoint, info: dict[str, str]
) -> None:
    user.revoke(info["refresh_token"])
    with pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    error = caught.value
    assert error.error_code == "invalid_grant" and not error.retryable and error.status_code == 400
    assert "Token has been expired or revoked" in str(error)
    assert "run 'gcloud auth application-default login' again" in str(error)
    assert user.request_count == 1


def test_a_wrong_client_secret_is_invalid_client(user: GoogleUserEndpoint, info: dict[str, str],
                                                 server: FakeIdentityServer) -> None:
    wrong = {**info, "client_secret": "GOCSPX-not-the-right-secret-at-all"}
    with AuthorizedUserCredentialProvider.from_info(wrong, session=server.session()) as built, \
            pytest.raises(TokenEndpointError) as caught:
        built.resolve()
    assert caught.value.error_code == "invalid_client" and caught.value.status_code == 401
    assert_no_secret([str(caught.value)], [wrong["client_secret"], info["client_secret"]])


def test_server_errors_are_retried(provider: AuthorizedUserCredentialProvider, user: GoogleUserEndpoint) -> None:
    user.fail(503, times=2)
    provider.resolve()
    assert user.request_count == 3


def test_an_echoed_secret_is_masked(provider: AuthorizedUserCredentialProvider, user: GoogleUserEndpoint,
                                    info: dict[str, str], debug_logs: pytest.LogCaptureFixture) -> None:
    echo = json.dumps({"error": "invalid_request", "error_description": f"bad {info['refresh_token']} "
                       f"and {info['client_secret']}"})
    user.fail(400, echo, headers={"Content-Type": "application/json"})
    with pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    logging.getLogger("literauth").debug("%r %s", provider, caught.value)
    assert_no_secret([str(caught.value), repr(caught.value), repr(provider), debug_logs.text], _secrets(info))


def test_repr_names_the_client_never_a_secret(provider: AuthorizedUserCredentialProvider, info: dict[str, str]) -> None:
    provider.resolve()
    shown = repr(provider)
    assert info["client_id"] in shown
    assert_no_secret([shown, str(vars(provider))], _secrets(info))
