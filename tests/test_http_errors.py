"""The exception mapping: every failure raised as the most specific literauth error, with clean causes."""

from __future__ import annotations

import gzip
import json
import logging
import socket
import traceback
from collections.abc import Iterator

import pytest
import requests

from literauth import (
    CredentialError,
    MalformedResponseError,
    SecretString,
    TokenEndpointError,
    TransportError,
)
from literauth._http import TokenFetcher, TokenRequest
from literauth._oauth import parse_oauth_error
from literauth._policy import RetryPolicy
from literauth.errors import TransportReason
from literauth.testing import (
    FakeIdentityServer,
    Fault,
    ServerCore,
)

from .conftest import FakeSleep, assert_no_secret

SECRET = "client-secret-value-0123456789-abcdef"
PASSWORD = "proxy-password-0123456789-abcdef"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _form() -> dict[str, str | SecretString]:
    return {"grant_type": "x", "client_secret": SecretString(SECRET)}


def _texts(error: BaseException) -> list[str]:
    """Everything a user could see of `error`: str, repr, the traceback, and its whole chain."""
    texts = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        texts += [str(current), repr(current), *map(repr, current.args)]
        pending += [current.__cause__, current.__context__]
    return texts


def test_connection_refused(fake_sleep: FakeSleep, debug_logs: pytest.LogCaptureFixture) -> None:
    fetcher = TokenFetcher("p", f"http://127.0.0.1:{_free_port()}/token", sleep=fake_sleep)
    with pytest.raises(TransportError) as info:
        fetcher.send(TokenRequest(form=_form()), parse_oauth_error)
    error = info.value
    assert error.reason is TransportReason.CONNECTION_REFUSED and error.retryable
    assert str(error).startswith("p: request to token endpoint 127.0.0.1 connection failed (ConnectionError)")
    assert str(error).endswith(": connection refused")
    assert isinstance(error.__cause__, ConnectionRefusedError) and error.__cause__.__traceback__ is None
    assert error.__context__ is None or error.__suppress_context__
    assert "ConnectionError <- " in debug_logs.text and "ConnectionRefusedError" in debug_logs.text
    assert len(fake_sleep.calls) == 2


def test_name_resolution_failure(fake_sleep: FakeSleep, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*args: object, **kwargs: object) -> object:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):  # a direct lookup, not a proxy's
        monkeypatch.delenv(name, raising=False)
    fetcher = TokenFetcher("p", "https://login.example.invalid/token", sleep=fake_sleep)
    with pytest.raises(TransportError) as info:
        fetcher.send(TokenRequest(form=_form()), parse_oauth_error)
    assert info.value.reason is TransportReason.DNS and info.value.retryable
    assert "name resolution failed" in str(info.value)
    assert isinstance(info.value.__cause__, socket.gaierror)


def test_reset_mid_body_is_retried(core: ServerCore, fake_sleep: FakeSleep) -> None:
    fault = Fault(200, b'{"access_token": "abc"}', reset=True)
    core.endpoints[0].enqueue(fault, fault, fault)
    with pytest.raises(TransportError) as info:
        TokenFetcher("p", core.url + "/token", sleep=fake_sleep).send(TokenRequest(form=_form()), parse_oauth_error)
    assert info.value.reason is TransportReason.RESET and info.value.retryable
    assert "broke off" in str(info.value)
    assert core.endpoints[0].request_count == 3


def test_dropped_connection_is_a_reset(core: ServerCore, fake_sleep: FakeSleep) -> None:
    core.endpoints[0].enqueue(Fault(drop=True), Fault(drop=True), Fault(drop=True))
    with pytest.raises(TransportError) as info:
        TokenFetcher("p", core.url + "/token", sleep=fake_sleep).send(TokenRequest(form=_form()), parse_oauth_error)
    assert info.value.reason is TransportReason.RESET


def test_read_timeout(core: ServerCore, fake_sleep: FakeSleep) -> None:
    core.endpoints[0].enqueue(Fault(hang=3))
    fetcher = TokenFetcher("p", core.url + "/token", sleep=fake_sleep, timeout=(2, 0.2), retry=RetryPolicy(max_attempts=1))
    with pytest.raises(TransportError, match="timed out") as info:
        fetcher.send(TokenRequest(form=_form()), parse_oauth_error)
    assert info.value.reason is TransportReason.TIMEOUT and info.value.retryable


def test_an_invalid_header_is_not_retried(core: ServerCore, fake_sleep: FakeSleep) -> None:
    fetcher = TokenFetcher("p", core.url + "/token", sleep=fake_sleep)
    with pytest.raises(CredentialError) as info:
        fetcher.send(TokenRequest(form={}, headers={"X-Bad": SecretString(f"{SECRET}\r\nInjected: 1")}), parse_oauth_error)
    assert not isinstance(info.value, TransportError) and not info.value.retryable
    assert "could not be sent" in str(info.value)
    assert core.endpoints[0].request_count == 0 and fake_sleep.calls == []
    assert_no_secret(_texts(info.value), [SECRET])


def test_a_broken_content_encoding_is_a_malformed_answer(core: ServerCore, fake_sleep: FakeSleep) -> None:
    core.endpoints[0].fail(200, b"not gzip at all", headers={"Content-Encoding": "gzip"})
    with pytest.raises(MalformedResponseError, match="could not be decoded") as info:
        TokenFetcher("p", core.url + "/token", sleep=fake_sleep).send(TokenRequest(form=_form()), parse_oauth_error)
    assert not info.value.retryable
    assert core.endpoints[0].request_count == 1


def test_a_gzip_answer_is_decoded(core: ServerCore, fake_sleep: FakeSleep) -> None:
    body = gzip.compress(json.dumps({"access_token": "at", "expires_in": 60}).encode())
    core.endpoints[0].fail(200, body, headers={"Content-Encoding": "gzip"})
    response = TokenFetcher("p", core.url + "/token", sleep=fake_sleep).send(TokenRequest(form=_form()), parse_oauth_error)
    assert json.loads(response.body)["access_token"] == "at"


def test_an_endpoint_error_is_raised_with_retry_after(core: ServerCore, fake_sleep: FakeSleep) -> None:
    core.endpoints[0].fail(429, b"{}", headers={"Retry-After": "3"}, times=3)
    with pytest.raises(TokenEndpointError) as info:
        TokenFetcher("p", core.url + "/token", sleep=fake_sleep).send(TokenRequest(form=_form()), parse_oauth_error)
    assert info.value.retryable and info.value.retry_after == 3.0
    assert fake_sleep.calls == [3.0, 3.0]
    assert info.value.__context__ is None


pytest.importorskip("cryptography")


@pytest.fixture
def tls_server() -> Iterator[FakeIdentityServer]:
    with FakeIdentityServer(https=True) as server:
        yield server


def test_an_untrusted_certificate_is_not_retried(tls_server: FakeIdentityServer, fake_sleep: FakeSleep) -> None:
    with requests.Session() as session:  # trusts the system CAs, not the test CA
        session.trust_env = False
        fetcher = TokenFetcher("p", tls_server.url + "/token", session=session, sleep=fake_sleep)
        with pytest.raises(TransportError) as info:
            fetcher.send(TokenRequest(form=_form()), parse_oauth_error)
    assert info.value.reason is TransportReason.TLS_UNTRUSTED and not info.value.retryable
    assert "not trusted" in str(info.value) and fake_sleep.calls == []


def test_a_tls_handshake_with_a_plain_server_is_retryable(core: ServerCore, fake_sleep: FakeSleep) -> None:
    fetcher = TokenFetcher("p", f"https://127.0.0.1:{core.port}/token", sleep=fake_sleep)
    with pytest.raises(TransportError) as info:
        fetcher.send(TokenRequest(form=_form()), parse_oauth_error)
    assert info.value.reason is TransportReason.TLS and info.value.retryable
    assert "TLS handshake" in str(info.value)


# -- proxies ----------------------------------------------------------------------------------


@pytest.fixture
def dead_proxy(monkeypatch: pytest.MonkeyPatch) -> str:
    for var in ("NO_PROXY", "no_proxy", "http_proxy", "https_proxy", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    proxy = f"http://user:{PASSWORD}@127.0.0.1:{_free_port()}"
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    return proxy


def test_loopback_never_goes_through_an_env_proxy(core: ServerCore, dead_proxy: str, fake_sleep: FakeSleep) -> None:
    assert TokenFetcher("p", core.url + "/token", sleep=fake_sleep).send(TokenRequest(form=_form()), parse_oauth_error).status_code == 200
    with requests.Session() as session:  # a caller's session without proxies of its own: bypassed too
        fetcher = TokenFetcher("p", core.url.replace("127.0.0.1", "localhost") + "/token", session=session, sleep=fake_sleep)
        assert fetcher.send(TokenRequest(form=_form()), parse_oauth_error).status_code == 200


def test_metadata_hosts_bypass_env_proxies(dead_proxy: str) -> None:
    from literauth._url import UrlPolicy

    fetcher = TokenFetcher("imds", "http://169.254.169.254/metadata/identity/oauth2/token", url_policy=UrlPolicy.METADATA)
    session = fetcher._get_session()
    assert fetcher._proxies_for(session, "http", "169.254.169.254") == {"http": None, "https": None, "all": None}
    assert fetcher._proxies_for(session, "https", "login.example.com") is None


def test_a_failing_proxy_is_named_without_its_credentials(dead_proxy: str, fake_sleep: FakeSleep) -> None:
    port = dead_proxy.rsplit(":", 1)[1]
    fetcher = TokenFetcher("p", "https://login.example.invalid/token", sleep=fake_sleep)
    with pytest.raises(TransportError) as info:
        fetcher.send(TokenRequest(form=_form(), query={"q": SecretString(SECRET)}), parse_oauth_error)
    error = info.value
    assert error.reason is TransportReason.PROXY and error.retryable
    assert f"could not connect to proxy 127.0.0.1:{port} (from HTTPS_PROXY): connection refused" in str(error)
    assert str(error).startswith("p: request to token endpoint login.example.invalid connection failed (ProxyError)")
    assert_no_secret(_texts(error), [SECRET, PASSWORD])
    assert "user" not in str(error)


def test_a_callers_session_proxy_is_respected(core: ServerCore, fake_sleep: FakeSleep, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    with requests.Session() as session:
        session.proxies = {"http": f"http://127.0.0.1:{_free_port()}"}
        fetcher = TokenFetcher("p", core.url + "/token", session=session, sleep=fake_sleep)
        with pytest.raises(TransportError) as info:
            fetcher.send(TokenRequest(form=_form()), parse_oauth_error)
    assert info.value.reason is TransportReason.PROXY
    assert "(from the session's proxies): connection refused" in str(info.value)
    assert core.endpoints[0].request_count == 0


def test_no_secret_reaches_the_debug_log(core: ServerCore, dead_proxy: str, fake_sleep: FakeSleep,
                                         debug_logs: pytest.LogCaptureFixture) -> None:
    debug_logs.set_level(logging.DEBUG)
    fetcher = TokenFetcher("p", "https://login.example.invalid/token", sleep=fake_sleep)
    with pytest.raises(TransportError):
        fetcher.send(TokenRequest(form=_form()), parse_oauth_error)
    assert "ProxyError" in debug_logs.text
    assert_no_secret([debug_logs.text], [SECRET, PASSWORD])
