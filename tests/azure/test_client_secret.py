"""AzureAdCredentialProvider over real HTTP against FakeIdentityServer's Azure AD endpoint."""

from __future__ import annotations

import importlib.util
import json
import logging
import pathlib
import subprocess
import sys
import threading
import traceback
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime

import pytest
import requests

from literauth.azure import AzureAdCredentialProvider
from literauth.azure._common import DEFAULT_AUTHORITY_HOST, DEFAULT_SCOPE
from literauth.credentials import UTC, BearerToken
from literauth.errors import (
    ConfigurationError,
    MalformedResponseError,
    TokenEndpointError,
)
from literauth.provider import StaticTokenProvider
from literauth.secret import SecretString
from literauth.testing import FakeIdentityServer

from ..conftest import START, FakeClock, FakeSleep, assert_no_secret

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "azure_openai_flask.py"
MANAGEMENT = "https://management.azure.com/.default"
AI_AUDIENCE = "https://cognitiveservices.azure.com"


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(START + seconds, UTC)


def secret_of(server: FakeIdentityServer) -> str:
    return server.azure.client_secret.expose_secret()


def azure_error(code: int, error: str, text: str, **extra: object) -> str:
    """An error body in Azure's shape, for scripting the fake server."""
    body = {
        "error": error,
        "error_description": f"AADSTS{code}: {text}\r\nTrace ID: t-1\r\nCorrelation ID: c-1\r\nTimestamp: x",
        "error_codes": [code],
        "timestamp": "2027-01-15 08:00:00Z",
        "trace_id": "11111111-2222-3333-4444-555555555555",
        "correlation_id": "66666666-7777-8888-9999-000000000000",
    }
    body.update(extra)
    return json.dumps(body)


@pytest.fixture
def provider(server: FakeIdentityServer, clock: FakeClock, fake_sleep: FakeSleep) -> Iterator[AzureAdCredentialProvider]:
    with server.azure_provider(clock=clock, sleep=fake_sleep, background_refresh=False) as made:
        yield made


# -- the request ---------------------------------------------------------------------------


def test_request_is_a_form_post_to_the_v2_token_endpoint(
    server: FakeIdentityServer, provider: AzureAdCredentialProvider
) -> None:
    token = provider.resolve()

    assert isinstance(token, BearerToken)
    (sent,) = server.azure.requests
    assert sent.method == "POST"
    assert sent.path == f"/{server.azure.tenant_id}/oauth2/v2.0/token"
    assert sent.query == {}
    assert set(sent.form) == {"grant_type", "client_id", "client_secret", "scope"}
    assert sent.form["grant_type"] == "client_credentials"
    assert sent.form["client_id"] == server.azure.client_id
    assert sent.form["scope"] == DEFAULT_SCOPE
    secret = sent.form["client_secret"]
    assert isinstance(secret, SecretString) and secret == server.azure.client_secret
    headers = {k.lower(): v for k, v in sent.headers.items()}
    assert headers["accept"] == "application/json"
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert "authorization" not in headers
    assert_no_secret([sent.path, json.dumps(dict(sent.query)), json.dumps(headers)], [secret_of(server)])
    assert server.azure.check_token(token.token, audience=AI_AUDIENCE)


def test_expiry_is_counted_from_when_the_request_was_sent(
    server: FakeIdentityServer, provider: AzureAdCredentialProvider
) -> None:
    server.azure.lifetime = 4000
    assert provider.resolve().expires_at == at(4000)


def test_token_url_and_properties(provider: AzureAdCredentialProvider, server: FakeIdentityServer) -> None:
    assert provider.token_url == f"{server.url}/{server.azure.tenant_id}/oauth2/v2.0/token"
    assert provider.authority_host == server.url
    assert (provider.tenant_id, provider.client_id) == (server.azure.tenant_id, server.azure.client_id)
    assert provider.scope == DEFAULT_SCOPE


def test_tenant_may_be_a_verified_domain(server: FakeIdentityServer, clock: FakeClock) -> None:
    provider = server.azure_provider(tenant_id=server.azure.tenant_domain, clock=clock)
    assert provider.resolve().expires_at == at(3600)
    assert server.azure.requests[0].path == f"/{server.azure.tenant_domain}/oauth2/v2.0/token"


# -- caching -------------------------------------------------------------------------------


def test_token_is_cached_and_refreshed_five_minutes_before_expiry(
    server: FakeIdentityServer, provider: AzureAdCredentialProvider, clock: FakeClock
) -> None:
    first = provider.resolve()
    clock.advance(3600 - 300 - 6)  # jitter moves the refresh point at most 5 s earlier
    assert provider.resolve() is first
    assert server.azure.request_count == 1

    clock.advance(6)  # now exactly five minutes before expiry: refreshed, the valid token still served
    assert provider.resolve() is first
    assert server.azure.request_count == 2
    second = provider.resolve()
    assert second is not first and second.expires_at == at(3600 - 300 + 3600)
    assert server.azure.request_count == 2


def test_many_threads_cost_one_request(server: FakeIdentityServer, clock: FakeClock) -> None:
    server.azure.latency = 0.1
    provider = server.azure_provider(clock=clock)
    barrier = threading.Barrier(12)
    tokens: list[object] = []

    def call() -> None:
        barrier.wait()
        tokens.append(provider.resolve())

    threads = [threading.Thread(target=call) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(tokens) == 12 and all(token is tokens[0] for token in tokens)
    assert server.azure.request_count == 1


def test_with_scope_is_a_new_provider_with_its_own_cache(
    server: FakeIdentityServer, provider: AzureAdCredentialProvider
) -> None:
    original = provider.resolve()
    other = provider.with_scope(MANAGEMENT)

    assert other is not provider and isinstance(other, AzureAdCredentialProvider)
    assert (other.scope, provider.scope) == (MANAGEMENT, DEFAULT_SCOPE)
    token = other.resolve()
    assert server.azure.request_count == 2
    assert server.azure.requests[1].form["scope"] == MANAGEMENT
    assert token.expires_at == at(3600)  # the options (the fake clock) were carried over
    assert server.azure.check_token(token.token, audience="https://management.azure.com")  # type: ignore[attr-defined]
    assert provider.resolve() is original
    assert server.azure.request_count == 2


def test_with_scope_validates_the_scope(provider: AzureAdCredentialProvider) -> None:
    with pytest.raises(ConfigurationError, match="scope"):
        provider.with_scope("")


# -- from_env ------------------------------------------------------------------------------


class OnlyTokenEnv(Mapping[str, str]):
    """An environment that records every variable read and refuses to be listed."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.read: list[str] = []

    def __getitem__(self, key: str) -> str:
        self.read.append(key)
        return self.values[key]

    def __iter__(self) -> Iterator[str]:
        raise AssertionError("from_env must not list the environment")

    def __len__(self) -> int:
        raise AssertionError("from_env must not list the environment")


def test_azure_ad_token_wins_and_nothing_else_is_read(server: FakeIdentityServer) -> None:
    env = OnlyTokenEnv({
        "AZURE_AD_TOKEN": "  eyJ.static.token\n",
        "AZURE_TENANT_ID": "not a tenant/",
        "AZURE_CLIENT_ID": "",
        "AZURE_CLIENT_SECRET": "",
        "AZURE_AD_SCOPE": "bad scope",
        "AZURE_AUTHORITY_HOST": "http://not-loopback.example",
    })
    provider = AzureAdCredentialProvider.from_env(env)

    assert isinstance(provider, StaticTokenProvider)
    token = provider.resolve()
    assert isinstance(token, BearerToken)
    assert token.token.expose_secret() == "eyJ.static.token"
    assert token.expires_at is None
    assert set(env.read) == {"AZURE_AD_TOKEN"}
    assert server.azure.request_count == 0


@pytest.mark.parametrize("value", ["", "   ", "\n\t"])
def test_empty_azure_ad_token_is_an_error_not_an_empty_bearer(value: str) -> None:
    with pytest.raises(ConfigurationError, match="AZURE_AD_TOKEN is set but empty"):
        AzureAdCredentialProvider.from_env({"AZURE_AD_TOKEN": value, "AZURE_TENANT_ID": "x"})


def test_missing_variables_are_all_named_in_one_message() -> None:
    with pytest.raises(ConfigurationError) as caught:
        AzureAdCredentialProvider.from_env({"AZURE_CLIENT_ID": "  "})
    message = str(caught.value)
    assert message.startswith(
        "azure.client_secret: environment variables AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET are not set"
    )


def test_one_missing_variable_is_named(server: FakeIdentityServer) -> None:
    env = server.azure.environ()
    del env["AZURE_CLIENT_SECRET"]
    with pytest.raises(ConfigurationError, match="^azure.client_secret: environment variable AZURE_CLIENT_SECRET is not set"):
        AzureAdCredentialProvider.from_env(env)


@pytest.mark.parametrize(
    ("variable", "flow", "provider"),
    [("AZURE_FEDERATED_TOKEN_FILE", "workload identity", "WorkloadIdentityCredentialProvider"),
     ("AZURE_CLIENT_CERTIFICATE_PATH", "certificate authentication", "ClientCertificateCredentialProvider")],
)
def test_another_flow_and_its_provider_are_named_when_the_secret_is_missing(
    variable: str, flow: str, provider: str, server: FakeIdentityServer
) -> None:
    env = {k: v for k, v in server.azure.environ().items() if k != "AZURE_CLIENT_SECRET"}
    env[variable] = " /var/run/secrets/azure/file\n"
    with pytest.raises(ConfigurationError) as caught:
        AzureAdCredentialProvider.from_env(env)
    assert str(caught.value) == (
        f"azure.client_secret: {variable} is set, which selects {flow}: use {provider} (literauth.azure), "
        "or set AZURE_CLIENT_SECRET or AZURE_AD_TOKEN for this one"
    )
    assert "/var/run" not in str(caught.value)  # the variable's value is never quoted
    assert server.azure.request_count == 0


@pytest.mark.parametrize("variable", ["AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_CERTIFICATE_PATH"])
def test_unsupported_flow_variables_are_ignored_with_a_secret_or_a_token(
    variable: str, server: FakeIdentityServer
) -> None:
    env = {**server.azure.environ(), variable: "/some/file"}
    with AzureAdCredentialProvider.from_env(env) as provider:  # the client secret is used
        assert isinstance(provider, AzureAdCredentialProvider)
    blank = {k: v for k, v in env.items() if k != "AZURE_CLIENT_SECRET"}
    blank[variable] = "  "
    with pytest.raises(ConfigurationError, match="AZURE_CLIENT_SECRET is not set"):  # blank: not set
        AzureAdCredentialProvider.from_env(blank)
    only_token = OnlyTokenEnv({"AZURE_AD_TOKEN": "eyJ.static", variable: "/some/file"})
    assert isinstance(AzureAdCredentialProvider.from_env(only_token), StaticTokenProvider)
    assert set(only_token.read) == {"AZURE_AD_TOKEN"}


def test_from_env_builds_a_working_provider(server: FakeIdentityServer, clock: FakeClock) -> None:
    env = {key: f" {value}\r\n" for key, value in server.azure.environ().items()}  # CRLF .env file
    provider = AzureAdCredentialProvider.from_env(env, clock=clock)

    assert isinstance(provider, AzureAdCredentialProvider)
    assert provider.scope == DEFAULT_SCOPE
    assert provider.resolve().expires_at == at(3600)
    assert server.azure.requests[0].form["client_secret"] == server.azure.client_secret


def test_from_env_scope_override(server: FakeIdentityServer) -> None:
    provider = AzureAdCredentialProvider.from_env({**server.azure.environ(), "AZURE_AD_SCOPE": MANAGEMENT})
    assert isinstance(provider, AzureAdCredentialProvider)
    provider.resolve()
    assert server.azure.requests[0].form["scope"] == MANAGEMENT


@pytest.mark.parametrize(
    ("authority", "expected"),
    [
        ("https://login.microsoftonline.us", "https://login.microsoftonline.us"),
        ("https://login.chinacloudapi.cn/", "https://login.chinacloudapi.cn"),
        ("login.microsoftonline.us", "https://login.microsoftonline.us"),  # as azure-identity accepts it
        ("", DEFAULT_AUTHORITY_HOST),
    ],
)
def test_from_env_authority_override(authority: str, expected: str) -> None:
    env = {
        "AZURE_TENANT_ID": str(uuid.uuid4()),
        "AZURE_CLIENT_ID": str(uuid.uuid4()),
        "AZURE_CLIENT_SECRET": "s3cret-value",
        "AZURE_AUTHORITY_HOST": authority,
    }
    provider = AzureAdCredentialProvider.from_env(env)
    assert isinstance(provider, AzureAdCredentialProvider)
    assert provider.authority_host == expected
    assert provider.token_url == f"{expected}/{env['AZURE_TENANT_ID']}/oauth2/v2.0/token"


def test_from_env_reads_os_environ_by_default(
    server: FakeIdentityServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AZURE_AD_TOKEN", raising=False)
    monkeypatch.delenv("AZURE_AD_SCOPE", raising=False)
    for key, value in server.azure.environ().items():
        monkeypatch.setenv(key, value)
    provider = AzureAdCredentialProvider.from_env()
    assert isinstance(provider, AzureAdCredentialProvider)
    assert provider.resolve() is provider.resolve()
    assert server.azure.request_count == 1


# -- validation at construction ------------------------------------------------------------

GUID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"


@pytest.mark.parametrize("tenant", [GUID, GUID.upper(), "contoso.onmicrosoft.com", "login.contoso.co.uk"])
def test_good_tenants(tenant: str) -> None:
    assert AzureAdCredentialProvider(tenant, "app", "secret").tenant_id == tenant


@pytest.mark.parametrize(
    "tenant",
    ["", "contoso", "common", "organizations", "a/b.com", "contoso.com?x=1", "contoso.com#f",
     "con toso.com", f"{GUID}\n", " contoso.com", "../etc.com", "contoso..com", "-bad.com", "1.2.3.4", None],
)
def test_bad_tenants_are_refused(tenant: object) -> None:
    with pytest.raises(ConfigurationError, match="tenant_id"):
        AzureAdCredentialProvider(tenant, "app", "secret")  # type: ignore[arg-type]


@pytest.mark.parametrize("client_id", ["", "   ", " app", "app id", None])
def test_bad_client_ids_are_refused(client_id: object) -> None:
    with pytest.raises(ConfigurationError, match="client_id"):
        AzureAdCredentialProvider(GUID, client_id, "secret")  # type: ignore[arg-type]


@pytest.mark.parametrize("secret", ["", "  ", SecretString(""), None, b"bytes"])
def test_bad_secrets_are_refused(secret: object) -> None:
    with pytest.raises(ConfigurationError, match="client_secret"):
        AzureAdCredentialProvider(GUID, "app", secret)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "scope", ["", "  ", "/.default", "https://cognitiveservices.azure.com", "User.Read",
              f"{DEFAULT_SCOPE} {MANAGEMENT}"],
)
def test_bad_scopes_are_refused(scope: str) -> None:
    with pytest.raises(ConfigurationError, match="scope"):
        AzureAdCredentialProvider(GUID, "app", "secret", scope=scope)


@pytest.mark.parametrize(
    "authority",
    ["", "http://login.microsoftonline.com", "ftp://login.microsoftonline.com",
     f"https://login.microsoftonline.com/{GUID}", "https://login.microsoftonline.com?x=1",
     "https://user:pw@login.microsoftonline.com"],
)
def test_bad_authorities_are_refused(authority: str) -> None:
    with pytest.raises(ConfigurationError, match="authority_host"):
        AzureAdCredentialProvider(GUID, "app", "secret", authority_host=authority)


def test_loopback_http_authority_is_allowed() -> None:
    provider = AzureAdCredentialProvider(GUID, "app", "secret", authority_host="http://127.0.0.1:8400")
    assert provider.token_url == f"http://127.0.0.1:8400/{GUID}/oauth2/v2.0/token"


def test_a_str_secret_is_wrapped_at_once() -> None:
    provider = AzureAdCredentialProvider(GUID, "app", "plain-secret-value")
    assert isinstance(provider._client_secret, SecretString)
    assert "plain-secret-value" not in repr(provider) + str(provider)


# -- errors --------------------------------------------------------------------------------


def test_invalid_secret(server: FakeIdentityServer, clock: FakeClock, fake_sleep: FakeSleep) -> None:
    provider = server.azure_provider(client_secret="wrong-secret-value", clock=clock, sleep=fake_sleep)
    with pytest.raises(TokenEndpointError) as caught:
        provider.resolve()

    error = caught.value
    assert (error.status_code, error.error_code, error.retryable) == (401, "AADSTS7000215", False)
    assert error.provider == "azure.client_secret" and error.host == "127.0.0.1"
    message = str(error)
    assert "AADSTS7000215: Invalid client secret provided." in message
    assert "\r" not in message and "Trace ID:" not in message  # only the description's first line
    assert "correlation_id=" in message and "trace_id=" in message
    assert error.description is not None and error.description.startswith("Invalid client secret provided.")
    assert server.azure.request_count == 1  # not retried
    assert fake_sleep.calls == []


def test_error_message_carries_the_ids_azure_support_asks_for(
    server: FakeIdentityServer, provider: AzureAdCredentialProvider
) -> None:
    server.azure.fail(401, azure_error(7000215, "invalid_client", "Invalid client secret provided.\r\nmore"))
    with pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert str(caught.value).endswith(
        "answered HTTP 401 AADSTS7000215: Invalid client secret provided. "
        "(correlation_id=66666666-7777-8888-9999-000000000000, trace_id=11111111-2222-3333-4444-555555555555)"
    )


@pytest.mark.parametrize(
    ("override", "status", "code"),
    [
        ({"tenant_id": "unknown-tenant.onmicrosoft.com"}, 400, "AADSTS90002"),
        ({"tenant_id": GUID}, 400, "AADSTS90002"),
        ({"client_id": str(uuid.uuid4())}, 400, "AADSTS700016"),
        ({"scope": "https://unknown.example.com/.default"}, 400, "AADSTS500011"),
    ],
)
def test_configuration_errors_azure_reports(
    server: FakeIdentityServer, override: dict[str, str], status: int, code: str
) -> None:
    provider = server.azure_provider(**override)
    with pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert (caught.value.status_code, caught.value.error_code, caught.value.retryable) == (status, code, False)
    assert f"HTTP {status} {code}: " in str(caught.value)
    assert server.azure.request_count == 1


def test_unknown_tenant_message(server: FakeIdentityServer) -> None:
    with pytest.raises(TokenEndpointError, match="Tenant 'unknown-tenant.onmicrosoft.com' not found"):
        server.azure_provider(tenant_id="unknown-tenant.onmicrosoft.com").resolve()


def test_expired_secret(server: FakeIdentityServer) -> None:
    server.azure.expire_secret(server.azure.client_secret)
    with pytest.raises(TokenEndpointError) as caught:
        server.azure_provider().resolve()
    assert caught.value.error_code == "AADSTS7000222"


def test_error_without_codes_uses_the_oauth_error(
    server: FakeIdentityServer, provider: AzureAdCredentialProvider
) -> None:
    server.azure.fail(400, json.dumps({"error": "invalid_request", "error_description": "Bad thing.\nsecond"}))
    with pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert caught.value.error_code == "invalid_request"
    assert str(caught.value).endswith("HTTP 400 invalid_request: Bad thing.")


def test_error_that_is_not_json(server: FakeIdentityServer, provider: AzureAdCredentialProvider) -> None:
    server.azure.fail(403, "<html>Forbidden by proxy</html>", headers={"Content-Type": "text/html"})
    with pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert (caught.value.status_code, caught.value.error_code) == (403, "http_403")


def test_throttling_429_with_retry_after_then_success(
    server: FakeIdentityServer, provider: AzureAdCredentialProvider, fake_sleep: FakeSleep
) -> None:
    server.azure.throttle(retry_after=2)
    token = provider.resolve()
    assert isinstance(token, BearerToken)
    assert fake_sleep.calls == [2.0]
    assert server.azure.request_count == 2


def test_500_then_success(
    server: FakeIdentityServer, provider: AzureAdCredentialProvider, fake_sleep: FakeSleep
) -> None:
    server.azure.fail(500, "")
    assert provider.resolve().expires_at == at(3600)
    assert len(fake_sleep.calls) == 1 and 0 <= fake_sleep.calls[0] <= 0.5
    assert server.azure.request_count == 2


def test_transient_azure_error_is_retried_until_attempts_run_out(
    server: FakeIdentityServer, provider: AzureAdCredentialProvider, fake_sleep: FakeSleep
) -> None:
    server.azure.outage(503, times=3)
    with pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert (caught.value.status_code, caught.value.error_code) == (503, "AADSTS90033")
    assert caught.value.retryable is True
    assert server.azure.request_count == 3 and len(fake_sleep.calls) == 2


def test_temporarily_unavailable_on_a_400_is_retried(
    server: FakeIdentityServer, provider: AzureAdCredentialProvider, fake_sleep: FakeSleep
) -> None:
    server.azure.fail(400, azure_error(90033, "temporarily_unavailable", "A transient error has occurred."))
    assert isinstance(provider.resolve(), BearerToken)
    assert server.azure.request_count == 2


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not an object"),
        ('{"token_type": "Bearer", "expires_in": 3599}', "without an access_token"),
        ('{"token_type": "Bearer", "expires_in": "soon", "access_token": "abc"}', "numeric expires_in"),
        ('{"token_type": "Bearer", "access_token": "abc"}', "numeric expires_in"),
        ('{"token_type": "pop", "expires_in": 3599, "access_token": "abc"}', "not Bearer"),
    ],
)
def test_malformed_success_bodies(
    server: FakeIdentityServer, provider: AzureAdCredentialProvider, body: str, match: str
) -> None:
    server.azure.fail(200, body)
    with pytest.raises(MalformedResponseError, match=match):
        provider.resolve()


def test_string_expires_in_is_accepted(server: FakeIdentityServer, provider: AzureAdCredentialProvider) -> None:
    server.azure.fail(200, '{"token_type": "Bearer", "expires_in": "3599", "ext_expires_in": "3599", '
                           '"access_token": "abc.def.ghi"}')
    token = provider.resolve()
    assert isinstance(token, BearerToken)
    assert token.token.expose_secret() == "abc.def.ghi"
    assert token.expires_at == at(3599)


# -- the secret never leaks ----------------------------------------------------------------


def test_secret_never_appears_in_reprs_errors_or_logs(
    server: FakeIdentityServer, clock: FakeClock, fake_sleep: FakeSleep, debug_logs: pytest.LogCaptureFixture
) -> None:
    good = server.azure_provider(clock=clock, sleep=fake_sleep)
    token = good.resolve()
    wrong = "an-entirely-wrong-secret-value-123"
    bad = server.azure_provider(client_secret=wrong, clock=clock, sleep=fake_sleep)
    with pytest.raises(TokenEndpointError) as caught:
        bad.resolve()
    with pytest.raises(TokenEndpointError) as again:  # served from the engine's cool-down
        bad.resolve()
    error = caught.value

    texts = [
        repr(good), str(good), repr(bad), str(bad), repr(token), str(token), repr(token.token),
        str(error), repr(error), repr(error.args), str(error.description), str(again.value),
        "".join(traceback.format_exception(error)), debug_logs.text,
        repr(server.azure.requests), repr(good.stats()),
    ]
    assert any(record.levelno == logging.DEBUG for record in debug_logs.records)
    assert_no_secret(texts, [secret_of(server), wrong, token.token.expose_secret()])


def test_secret_echoed_by_a_server_is_masked(server: FakeIdentityServer, provider: AzureAdCredentialProvider) -> None:
    secret = secret_of(server)
    server.azure.fail(
        401,
        azure_error(7000215, f"bad {secret}", f"The secret {secret} is wrong.", correlation_id=secret),
    )
    with pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert "**********" in str(caught.value)
    assert_no_secret([str(caught.value), str(caught.value.description)], [secret])


# -- the fake endpoint itself, as a user of FakeIdentityServer sees it ----------------------


def post(server: FakeIdentityServer, form: dict[str, str], tenant: str | None = None) -> requests.Response:
    tenant = tenant or server.azure.tenant_id
    return requests.post(f"{server.url}/{tenant}/oauth2/v2.0/token", data=form, timeout=10)


def good_form(server: FakeIdentityServer) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_id": server.azure.client_id,
        "client_secret": secret_of(server),
        "scope": DEFAULT_SCOPE,
    }


def test_fake_success_body_has_azure_fields(server: FakeIdentityServer) -> None:
    server.azure.lifetime = 3599
    reply = post(server, good_form(server))
    assert reply.status_code == 200
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.headers["Cache-Control"] == "no-store, no-cache"
    body = reply.json()
    assert set(body) == {"token_type", "expires_in", "ext_expires_in", "access_token"}
    assert (body["token_type"], body["expires_in"], body["ext_expires_in"]) == ("Bearer", 3599, 3599)
    claims = json.loads(_b64decode(body["access_token"].split(".")[1]))
    assert claims["aud"] == AI_AUDIENCE and claims["tid"] == server.azure.tenant_id
    assert claims["appid"] == server.azure.client_id and claims["exp"] - claims["iat"] == 3599


def _b64decode(part: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@pytest.mark.parametrize(
    ("change", "status", "error", "code"),
    [
        ({"scope": None}, 400, "invalid_request", 900144),
        ({"grant_type": None}, 400, "invalid_request", 900144),
        ({"client_id": None}, 400, "invalid_request", 900144),
        ({"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
        ({"scope": "https://graph.microsoft.com/User.Read"}, 400, "invalid_scope", 1002012),
        ({"client_secret": None}, 401, "invalid_client", 7000218),
        ({"client_secret": "nope"}, 401, "invalid_client", 7000215),
        ({"client_id": "00000000-0000-0000-0000-000000000001"}, 400, "unauthorized_client", 700016),
    ],
)
def test_fake_checks_requests_like_azure(
    server: FakeIdentityServer, change: dict[str, str | None], status: int, error: str, code: int
) -> None:
    form = good_form(server)
    for key, value in change.items():
        if value is None:
            del form[key]
        else:
            form[key] = value
    reply = post(server, form)
    assert reply.status_code == status
    body = reply.json()
    assert set(body) == {"error", "error_description", "error_codes", "timestamp", "trace_id",
                         "correlation_id", "error_uri"}
    assert (body["error"], body["error_codes"]) == (error, [code])
    first, *rest = body["error_description"].split("\r\n")
    assert first.startswith(f"AADSTS{code}: ")
    assert rest[:2] == [f"Trace ID: {body['trace_id']}", f"Correlation ID: {body['correlation_id']}"]
    assert reply.headers["x-ms-request-id"] == body["trace_id"]


@pytest.mark.parametrize(
    ("tenant", "code"),
    [("common", 9001023), ("not_a_domain", 900023), ("nowhere.example.org", 90002), (GUID, 90002)],
)
def test_fake_checks_the_tenant(server: FakeIdentityServer, tenant: str, code: int) -> None:
    reply = post(server, good_form(server), tenant=tenant)
    assert reply.status_code == 400
    assert reply.json()["error_codes"] == [code]


def test_fake_refuses_get_and_unparsed_bodies(server: FakeIdentityServer) -> None:
    url = f"{server.url}/{server.azure.tenant_id}/oauth2/v2.0/token"
    assert requests.get(url, timeout=10).json()["error_codes"] == [900561]
    as_json = requests.post(url, json=good_form(server), timeout=10).json()
    assert as_json["error_codes"] == [900144] and "'grant_type'" in as_json["error_description"]


def test_fake_echoes_client_request_id_as_correlation_id(server: FakeIdentityServer) -> None:
    correlation = str(uuid.uuid4())
    reply = requests.post(
        f"{server.url}/{server.azure.tenant_id}/oauth2/v2.0/token",
        data={}, headers={"client-request-id": correlation}, timeout=10,
    )
    assert reply.json()["correlation_id"] == correlation


def test_fake_serves_openid_discovery(server: FakeIdentityServer) -> None:
    url = f"{server.url}/{server.azure.tenant_domain}/v2.0/.well-known/openid-configuration"
    document = requests.get(url, timeout=10).json()
    tid = server.azure.tenant_id
    assert document["token_endpoint"] == f"{server.url}/{tid}/oauth2/v2.0/token"
    assert document["issuer"] == f"{server.url}/{tid}/v2.0"
    assert "client_secret_post" in document["token_endpoint_auth_methods_supported"]
    unknown = requests.get(f"{server.url}/{GUID}/v2.0/.well-known/openid-configuration", timeout=10)
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_tenant"


def test_fake_registry_tenants_clients_rotation_and_reset(server: FakeIdentityServer) -> None:
    tenant = server.azure.add_tenant(domain="fabrikam.example.com")
    client_id, secret = server.azure.add_client(tenant_id=tenant)
    assert post(server, {**good_form(server), "client_id": client_id, "client_secret": secret.expose_secret()},
                tenant="fabrikam.example.com").status_code == 200

    _, rotated = server.azure.add_client(server.azure.client_id)  # a second secret for the default app
    provider = server.azure_provider(client_secret=rotated)
    assert isinstance(provider.resolve(), BearerToken)
    assert post(server, good_form(server)).status_code == 200  # the first secret still works

    server.azure.add_resource("api://my-api")
    assert isinstance(server.azure_provider(scope="api://my-api/.default").resolve(), BearerToken)

    server.azure.reset()
    assert server.azure.request_count == 0
    assert post(server, good_form(server), tenant="fabrikam.example.com").json()["error_codes"] == [90002]
    assert post(server, good_form(server)).status_code == 200


def test_fake_check_token(server: FakeIdentityServer) -> None:
    token = post(server, good_form(server)).json()["access_token"]
    assert server.azure.check_token(token)
    assert server.azure.check_token(SecretString(token), audience=AI_AUDIENCE + "/")
    assert not server.azure.check_token(token, audience="https://management.azure.com")
    assert not server.azure.check_token(token[:-4] + "AAAA")
    server.advance(3600)
    assert not server.azure.check_token(token)


# -- the example ---------------------------------------------------------------------------


def test_example_imports_without_side_effects(capsys: pytest.CaptureFixture[str]) -> None:
    before = set(threading.enumerate())
    spec = importlib.util.spec_from_file_location("azure_openai_flask_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.create_app) and callable(module.create_app_from_env)
    assert set(threading.enumerate()) - before == set()
    assert capsys.readouterr() == ("", "")


def test_example_demo_runs_against_the_fake_server() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--demo"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "token requests to the identity provider: 1" in result.stdout
    assert result.stderr == ""
