"""The token fetcher over real HTTP on 127.0.0.1: retries, redirects, timeouts, limits."""

from __future__ import annotations

import email.utils
import json
import platform

import pytest
import requests

from literauth import (
    ConfigurationError,
    MalformedResponseError,
    SecretString,
    TokenEndpointError,
    TransportError,
)
from literauth._http import (
    MAX_BODY,
    ErrorDetails,
    TokenFetcher,
    TokenRequest,
    TokenResponse,
)
from literauth._oauth import parse_oauth_error
from literauth._policy import RetryPolicy
from literauth._url import check_endpoint_url
from literauth.testing import Fault, ServerCore

from ._token_endpoint import TokenEndpoint
from .conftest import FakeClock, FakeSleep, assert_no_secret

SECRET = "client-secret-value-0123456789-abcdef"


def _endpoint(core: ServerCore) -> TokenEndpoint:
    endpoint = core.endpoints[0]
    assert isinstance(endpoint, TokenEndpoint)
    return endpoint


def _fetcher(core: ServerCore, sleep: FakeSleep, **kw: object) -> TokenFetcher:
    return TokenFetcher("test-provider", core.url + "/token", sleep=sleep, **kw)  # type: ignore[arg-type]


def _post(fetcher: TokenFetcher) -> TokenResponse:
    return fetcher.send(TokenRequest(form={"grant_type": "x", "client_secret": SecretString(SECRET)}), parse_oauth_error)


def test_success_sends_form_and_headers(core: ServerCore, fake_sleep: FakeSleep) -> None:
    response = _post(_fetcher(core, fake_sleep))
    assert response.status_code == 200
    assert json.loads(response.body)["access_token"] == "at"
    [request] = _endpoint(core).requests
    assert request.method == "POST"
    assert request.form["grant_type"] == "x"
    secret = request.form["client_secret"]
    assert isinstance(secret, SecretString) and secret.expose_secret() == SECRET
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    major, minor, _ = platform.python_version_tuple()
    assert request.headers["User-Agent"].startswith("literauth/")
    assert f" python/{major}.{minor} requests/{requests.__version__}" in request.headers["User-Agent"]
    assert SECRET not in request.path and not request.query


def test_retries_503_then_succeeds(core: ServerCore, fake_sleep: FakeSleep) -> None:
    _endpoint(core).fail(503)
    response = _post(_fetcher(core, fake_sleep))
    assert response.status_code == 200
    assert _endpoint(core).request_count == 2
    assert len(fake_sleep.calls) == 1 and 0 <= fake_sleep.calls[0] <= 0.5


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_every_transient_status_is_retried(core: ServerCore, fake_sleep: FakeSleep, status: int) -> None:
    _endpoint(core).fail(status)
    assert _post(_fetcher(core, fake_sleep)).status_code == 200
    assert _endpoint(core).request_count == 2


def test_retry_after_seconds_is_honoured(core: ServerCore, fake_sleep: FakeSleep) -> None:
    _endpoint(core).fail(429, headers={"Retry-After": "7"})
    _post(_fetcher(core, fake_sleep))
    assert fake_sleep.calls == [7.0]


def test_retry_after_http_date_is_honoured(core: ServerCore, fake_sleep: FakeSleep) -> None:
    now = 1_800_000_000.0
    date = email.utils.formatdate(now + 12, usegmt=True)
    _endpoint(core).fail(503, headers={"Retry-After": date})
    _post(_fetcher(core, fake_sleep, clock=lambda: now))
    assert fake_sleep.calls == [pytest.approx(12.0)]


def test_retry_after_is_capped(core: ServerCore, fake_sleep: FakeSleep) -> None:
    _endpoint(core).fail(429, headers={"Retry-After": "86400"})
    _post(_fetcher(core, fake_sleep))
    assert fake_sleep.calls == [30.0]


def test_attempts_are_bounded(core: ServerCore, fake_sleep: FakeSleep) -> None:
    _endpoint(core).fail(503, times=10)
    with pytest.raises(TokenEndpointError) as info:
        _post(_fetcher(core, fake_sleep))
    assert info.value.status_code == 503 and info.value.retryable
    assert _endpoint(core).request_count == 3
    assert len(fake_sleep.calls) == 2


def test_total_time_is_bounded(core: ServerCore, fake_sleep: FakeSleep) -> None:
    _endpoint(core).fail(429, headers={"Retry-After": "20"}, times=5)
    retry = RetryPolicy(max_attempts=10, total_timeout=30)
    clock = FakeClock()
    with pytest.raises(TokenEndpointError):
        _post(_fetcher(core, FakeSleep(clock), retry=retry, clock=clock))
    assert _endpoint(core).request_count == 2  # a second wait would pass 30 s in all
    assert fake_sleep.calls == []


@pytest.mark.parametrize("status", [400, 401, 403])
def test_client_errors_are_not_retried(core: ServerCore, fake_sleep: FakeSleep, status: int) -> None:
    body = json.dumps({"error": "invalid_client", "error_description": "Bad client.\nsecond line"})
    _endpoint(core).fail(status, body)
    with pytest.raises(TokenEndpointError) as info:
        _post(_fetcher(core, fake_sleep))
    error = info.value
    assert (error.status_code, error.error_code, error.retryable) == (status, "invalid_client", False)
    assert "Bad client." in str(error) and "second line" not in str(error)
    assert "test-provider" in str(error) and "127.0.0.1" in str(error)
    assert _endpoint(core).request_count == 1
    assert fake_sleep.calls == []


def test_redirect_is_never_followed(core: ServerCore, fake_sleep: FakeSleep) -> None:
    _endpoint(core).fail(302, headers={"Location": "https://attacker.example/steal"})
    with pytest.raises(TokenEndpointError) as info:
        _post(_fetcher(core, fake_sleep))
    assert info.value.status_code == 302 and info.value.error_code == "redirect"
    assert "attacker.example" in str(info.value)
    assert _endpoint(core).request_count == 1


def test_read_timeout_is_a_transport_error(core: ServerCore, fake_sleep: FakeSleep) -> None:
    _endpoint(core).enqueue(Fault(hang=3), Fault(hang=3))
    fetcher = _fetcher(core, fake_sleep, timeout=(2, 0.2), retry=RetryPolicy(max_attempts=2))
    with pytest.raises(TransportError, match="timed out"):
        _post(fetcher)
    assert _endpoint(core).request_count == 2


def test_dropped_connection_is_retried(core: ServerCore, fake_sleep: FakeSleep) -> None:
    _endpoint(core).enqueue(Fault(drop=True))
    assert _post(_fetcher(core, fake_sleep)).status_code == 200
    assert _endpoint(core).request_count == 2


@pytest.mark.parametrize("fault", [Fault(200, b'{"access_token": "abc"}', reset=True),
                                   Fault(200, b'{"access_token": "abc"}', truncate=True)])
def test_broken_body_is_a_transport_error(core: ServerCore, fake_sleep: FakeSleep, fault: Fault) -> None:
    _endpoint(core).enqueue(fault, fault, fault)
    with pytest.raises(TransportError):
        _post(_fetcher(core, fake_sleep))
    assert _endpoint(core).request_count == 3


def test_body_over_one_mebibyte_is_refused(core: ServerCore, fake_sleep: FakeSleep) -> None:
    _endpoint(core).fail(200, b"x" * (MAX_BODY + 10))
    with pytest.raises(MalformedResponseError, match="more than"):
        _post(_fetcher(core, fake_sleep))


def test_connection_refused_is_a_transport_error(fake_sleep: FakeSleep) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    fetcher = TokenFetcher("test-provider", f"http://127.0.0.1:{port}/token", sleep=fake_sleep)
    with pytest.raises(TransportError, match="connection failed"):
        _post(fetcher)
    assert len(fake_sleep.calls) == 2


def test_broken_error_parser_does_not_hide_the_http_error(core: ServerCore, fake_sleep: FakeSleep) -> None:
    def broken(response: TokenResponse) -> ErrorDetails:
        raise KeyError("parser bug")

    _endpoint(core).fail(400, "{}")
    with pytest.raises(TokenEndpointError) as info:
        _fetcher(core, fake_sleep).send(TokenRequest(form={}), broken)
    assert info.value.error_code == "http_400"


@pytest.mark.parametrize("url", ["http://example.com/token", "http://10.0.0.1/token", "ftp://x/y", "", "token"])
def test_plain_http_is_refused_off_loopback(url: str) -> None:
    with pytest.raises(ConfigurationError):
        TokenFetcher("test-provider", url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/t", "http://localhost/t", "http://[::1]:9/t",
                                 "http://127.1.2.3/t", "https://login.example.com/t"])
def test_https_and_loopback_http_are_accepted(url: str) -> None:
    assert check_endpoint_url(url, "endpoint") == url


def test_no_secret_in_logs_or_errors(core: ServerCore, fake_sleep: FakeSleep,
                                     debug_logs: pytest.LogCaptureFixture) -> None:
    _endpoint(core).fail(503)
    _endpoint(core).fail(400, json.dumps({"error": "invalid_client"}))
    with pytest.raises(TokenEndpointError) as info:
        _post(_fetcher(core, fake_sleep))
    _post(_fetcher(core, fake_sleep))
    texts = [debug_logs.text, str(info.value), repr(info.value)]
    assert "POST 127.0.0.1 -> 503" in debug_logs.text
    assert_no_secret(texts, [SECRET])


def test_bad_urls_never_echo_credentials() -> None:
    with pytest.raises(ConfigurationError) as info:
        check_endpoint_url("http://user:hunter2@example.com/token", "endpoint")
    assert "hunter2" not in str(info.value)
    with pytest.raises(ConfigurationError) as info:
        check_endpoint_url("ftp://example.com/token?key=hunter2", "endpoint")
    assert "hunter2" not in str(info.value)
    for bad in ("https://[::1", "https://host:notaport/x"):
        with pytest.raises(ConfigurationError, match="not a valid URL"):
            check_endpoint_url(bad, "endpoint")


def test_a_secret_echoed_by_the_server_is_masked_in_every_field(core: ServerCore, fake_sleep: FakeSleep) -> None:
    body = json.dumps({"error": SECRET, "error_description": f"bad secret {SECRET}\nmore"})
    _endpoint(core).fail(401, body)
    with pytest.raises(TokenEndpointError) as info:
        _post(_fetcher(core, fake_sleep))
    assert info.value.error_code == "http_401"  # a code holding the secret is no code
    assert "bad secret **********" in str(info.value)
    assert_no_secret([str(info.value), str(info.value.description)], [SECRET])


def test_the_response_carries_its_context(core: ServerCore, fake_sleep: FakeSleep) -> None:
    response = _post(_fetcher(core, fake_sleep))
    assert (response.provider, response.host, response.method, response.endpoint) == (
        "test-provider", "127.0.0.1", "POST", "token endpoint")
    error = response.malformed("answered without an access_token")
    assert isinstance(error, MalformedResponseError)
    assert str(error) == "test-provider: token endpoint 127.0.0.1 answered without an access_token"
    assert (error.provider, error.host, error.retryable) == ("test-provider", "127.0.0.1", False)
    assert "body=" not in repr(response) and "access_token" not in repr(response)


def test_a_socks_proxy_manager_keeps_its_pool_classes() -> None:
    pytest.importorskip("socks")
    from literauth._http import _watched_adapter_class

    adapter = _watched_adapter_class()()
    manager = adapter.proxy_manager_for("socks5://127.0.0.1:1080")
    assert "SOCKS" in manager.pool_classes_by_scheme["http"].__name__
