"""The fault matrix: every registered provider, every misbehaviour of its token endpoint, every cache state.

Over real HTTP to `FakeIdentityServer`, each case checks the exception (exact type and
`error_code`), how many requests one fetch made, that a still-valid token keeps being
served, that the first good answer after the cool-down recovers, and that no refresh
thread outlives its work. Sleeps between retries are recorded, not slept.

The providers come from the registry (every spec with a fake), and what differs between
them lives on the fake (`no_token_body()`, `renew()`), so a new provider is covered here
without editing this file.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from literauth import (
    Credential,
    CredentialError,
    MalformedResponseError,
    TokenEndpointError,
    TransportError,
)
from literauth._policy import (
    COOLDOWN,
    MAX_LIFETIME,
    RETRY_WHEN_UNUSABLE,
    RefreshPolicy,
    RetryPolicy,
)
from literauth._registry import SPECS
from literauth.provider import RefreshingCredentialProvider
from literauth.testing import Endpoint, FakeIdentityServer, Fault, SyncedClock

from ..conftest import FakeSleep

PROVIDERS = tuple(spec.name for spec in SPECS if spec.fake is not None)
STATES = ("empty", "window", "expired")

LIFETIME = 3600.0  # what every fake endpoint issues by default
IN_WINDOW = 3400.0  # after refresh_at (3300 minus jitter), before usable_until (3570)
PAST_EXPIRY = LIFETIME + 1
READ_TIMEOUT = 2.0  # what every request gets, so no good answer is cut short on a loaded machine
HANG_READ_TIMEOUT = 0.1  # what the requests meeting a hang get, so each costs a tenth of a second
HANG = 2.0  # the endpoint stalls this long: past the read timeout
ATTEMPTS = RetryPolicy().max_attempts
QUEUED = ATTEMPTS + 2  # faults queued: more than one fetch may use, so hammering would show
TEN_YEARS = 10 * 365 * 86400.0
SOFT_COOLDOWN = RefreshPolicy().pause_after(1)  # after the first failed background refresh

HTML = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>Bad Gateway</h1><p>The proxy could not reach the upstream.</p></body></html>\n"
)
ELSEWHERE = "https://login.elsewhere.example/token"


class CountingSession(requests.Session):
    """A session counting what it sends: a refused TLS handshake never reaches the server's counter.

    Only credential requests count (`Endpoint.is_credential_request`: not IMDSv2's session steps).
    """

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False  # no proxy or CA bundle from the environment
        self.sent = 0
        self.short_reads = 0  # the next this many requests wait HANG_READ_TIMEOUT for an answer
        self.counts: Callable[[str, str], bool] = lambda method, path: True

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if not self.counts(request.method or "", urlsplit(request.url or "").path):
            return super().send(request, **kwargs)
        self.sent += 1
        if self.short_reads > 0:
            self.short_reads -= 1
            kwargs["timeout"] = (2, HANG_READ_TIMEOUT)
        return super().send(request, **kwargs)


class Harness:
    """The provider of spec `kind` pointed at `server`, with a fake clock, fake sleep and counting session."""

    def __init__(
        self,
        server: FakeIdentityServer,
        kind: str,
        session: CountingSession | None = None,
    ) -> None:
        self.server = server
        self.kind = kind
        self.endpoint: Endpoint = server.endpoint(kind)
        self.clock = SyncedClock(server)
        self.sleep = FakeSleep()
        self.session = session if session is not None else CountingSession()
        self.session.counts = self.endpoint.is_credential_request
        # The default retry policy, also for providers with their own (IMDS's longer budget has its own tests).
        self.provider: RefreshingCredentialProvider = server.provider(
            kind, clock=self.clock, sleep=self.sleep, session=self.session, timeout=(2, READ_TIMEOUT),
            retry=RetryPolicy(),
        )
        self.cached: Credential | None = None

    def enter(self, state: str) -> None:
        """Bring the cache into `state`: nothing cached, a token due for refresh, or an expired one."""
        if state == "empty":
            return
        self.cached = self.provider.resolve()
        assert self.session.sent == 1
        self.clock.advance(IN_WINDOW if state == "window" else PAST_EXPIRY)

    def renew(self) -> None:
        """Renew what the provider reads besides the endpoint (a web identity token file), as a day would."""
        self.endpoint.renew(self.provider)

    def disarm(self) -> None:
        """The endpoint answers normally again."""
        self.endpoint.clear_faults()
        self.endpoint.lifetime = LIFETIME


def _refreshers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("literauth-refresh-") and t.is_alive()]


def _join_refreshers() -> None:
    """Wait for background refreshes to finish; fail if one does not end."""
    for thread in _refreshers():
        thread.join(10)
    assert _refreshers() == [], "a refresh thread is still running"


@pytest.fixture(autouse=True)
def _no_thread_left() -> Iterator[None]:
    yield
    _join_refreshers()


@dataclasses.dataclass(frozen=True)
class Case:
    """A misbehaviour, how to script it, and what one fetch must end with."""

    name: str
    arm: Callable[[Harness], None]
    error: type[CredentialError]
    error_code: str | None
    attempts: int  # requests one fetch makes: all attempts for retryable faults, else one
    retry_after: float | None = None  # every pause between attempts, when the endpoint asked for one
    cooldown: float = RETRY_WHEN_UNUSABLE  # before a blocking caller may try again
    short_reads: int = 0  # requests that meet a hang: they get HANG_READ_TIMEOUT

    def __str__(self) -> str:
        return self.name


def _faults(*faults: Fault) -> Callable[[Harness], None]:
    def arm(h: Harness) -> None:
        h.endpoint.enqueue(*faults * QUEUED)

    return arm


def _status(status: int, headers: Mapping[str, str] | None = None) -> Callable[[Harness], None]:
    return _faults(Fault(status, b"", dict(headers or {})))


def _no_token() -> Callable[[Harness], None]:
    def arm(h: Harness) -> None:
        h.endpoint.enqueue(*[Fault(200, h.endpoint.no_token_body())] * QUEUED)

    return arm


def _lifetime(seconds: float) -> Callable[[Harness], None]:
    def arm(h: Harness) -> None:
        h.endpoint.lifetime = seconds

    return arm


_GOOD_LOOKING = b'{"access_token": "eyJ0eXAiOiJKV1QifQ.e30.c2ln", "token_type": "Bearer", "expires_in": 3600}'

CASES = [
    *(
        Case(f"http_{status}", _status(status), TokenEndpointError, f"http_{status}", ATTEMPTS)
        for status in (500, 502, 503, 504)
    ),
    Case("429_retry_after", _status(429, {"Retry-After": "7"}), TokenEndpointError, "http_429", ATTEMPTS,
         retry_after=7.0, cooldown=7.0),
    Case("429_no_retry_after", _status(429), TokenEndpointError, "http_429", ATTEMPTS),
    Case("hang", _faults(Fault(hang=HANG)), TransportError, None, ATTEMPTS, short_reads=ATTEMPTS),
    Case("reset", _faults(Fault(200, _GOOD_LOOKING, reset=True)), TransportError, None, ATTEMPTS),
    Case("truncated", _faults(Fault(200, _GOOD_LOOKING, truncate=True)), TransportError, None, ATTEMPTS),
    # a malformed answer is not retryable: the long pause, like a redirect
    Case("html", _faults(Fault(200, HTML, {"Content-Type": "text/html; charset=utf-8"})),
         MalformedResponseError, None, 1, cooldown=COOLDOWN),
    Case("empty_200", _faults(Fault(200, b"")), MalformedResponseError, None, 1, cooldown=COOLDOWN),
    Case("token_missing", _no_token(), MalformedResponseError, None, 1, cooldown=COOLDOWN),
    Case("redirect", _status(302, {"Location": ELSEWHERE}), TokenEndpointError, "redirect", 1,
         cooldown=COOLDOWN),
    Case("expires_in_0", _lifetime(0), MalformedResponseError, None, 1, cooldown=COOLDOWN),
    Case("expires_in_negative", _lifetime(-600), MalformedResponseError, None, 1, cooldown=COOLDOWN),
]


def _check_error(error: BaseException, case: Case) -> None:
    assert type(error) is case.error
    assert getattr(error, "error_code", None) == case.error_code
    if isinstance(error, TokenEndpointError) and case.error_code == "redirect":
        assert error.status_code == 302 and "elsewhere.example" in str(error)


def _check_sleeps(sleep: FakeSleep, case: Case) -> None:
    """One pause between consecutive attempts: the asked-for `Retry-After`, else jittered backoff."""
    assert len(sleep.calls) == case.attempts - 1
    policy = RetryPolicy()
    for attempt, pause in enumerate(sleep.calls, start=1):
        if case.retry_after is not None:
            assert pause == case.retry_after
        else:
            assert 0 <= pause <= policy.backoff_base * 2 ** (attempt - 1)


def _drive(h: Harness, case: Case, state: str, *, server_counts: bool = True) -> None:
    """Fault, cool-down and recovery for a provider already in `state` with `case` armed."""
    provider, session = h.provider, h.session
    before = session.sent
    if state == "window":
        assert provider.resolve() is h.cached  # nobody waits: the refresh runs in the background
        _join_refreshers()
        assert session.sent - before == case.attempts
        _check_sleeps(h.sleep, case)
        stats = provider.stats()
        assert stats.consecutive_failures == 1 and stats.expires_at == h.cached.expires_at
        h.clock.advance(SOFT_COOLDOWN - 1)
        for _ in range(5):  # the valid token keeps being served, with no new request
            assert provider.resolve() is h.cached
        _join_refreshers()
        assert session.sent - before == case.attempts
        h.disarm()
        h.clock.advance(2)
        assert provider.resolve() is h.cached  # starts the one retry after the cool-down
        _join_refreshers()
        assert session.sent - before == case.attempts + 1
        fresh = provider.resolve()
        assert fresh is not h.cached and fresh.expires_at_epoch is not None
    else:
        with pytest.raises(CredentialError) as caught:
            provider.resolve()
        _check_error(caught.value, case)
        assert session.sent - before == case.attempts
        _check_sleeps(h.sleep, case)
        h.clock.advance(case.cooldown - 1)
        with pytest.raises(CredentialError) as again:  # remembered: no request inside the cool-down
            provider.resolve()
        _check_error(again.value, case)
        assert session.sent - before == case.attempts
        h.disarm()
        h.clock.advance(2)
        fresh = provider.resolve()
        assert session.sent - before == case.attempts + 1
        assert provider.resolve() is fresh
        assert fresh.expires_at_epoch is not None
        assert fresh.expires_at_epoch == pytest.approx(h.clock.now + LIFETIME, abs=2)
    assert provider.stats().consecutive_failures == 0
    if server_counts:
        assert h.endpoint.credential_request_count == session.sent
    provider.close()


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("kind", PROVIDERS)
def test_fault(server: FakeIdentityServer, kind: str, case: Case, state: str) -> None:
    h = Harness(server, kind)
    h.enter(state)
    case.arm(h)
    h.session.short_reads = case.short_reads
    if case.name.startswith("expires_in") and h.endpoint.provider_extends_expired:
        _drive_extended(h, state)
        return
    _drive(h, case, state)


def _drive_extended(h: Harness, state: str) -> None:
    """Keys handed out already expired (an IMDS outage): served a bounded while longer, and stats() says so."""
    before = h.session.sent
    if state == "window":
        assert h.provider.resolve() is h.cached
        _join_refreshers()
    served = h.provider.resolve()
    assert served is not h.cached and served.expires_at_epoch is not None
    assert h.clock.now < served.expires_at_epoch <= h.clock.now + 1500 + 1  # botocore's 15 min + 2..10 min jitter
    stated = h.provider.stats().expiry_extended_from  # what the endpoint said: unusable within the skew
    assert stated is not None and stated.timestamp() - RefreshPolicy().expiry_skew <= h.clock.now
    assert h.provider.resolve() is served and h.session.sent - before == 1
    h.disarm()
    assert h.provider.resolve(force_refresh=True).expires_at_epoch == pytest.approx(h.clock.now + LIFETIME, abs=2)
    assert h.provider.stats().expiry_extended_from is None
    h.provider.close()


@pytest.fixture(scope="module")
def tls_server() -> Iterator[FakeIdentityServer]:
    pytest.importorskip("cryptography")
    with FakeIdentityServer(https=True) as srv:
        yield srv


UNTRUSTED = Case("untrusted_tls", lambda h: None, TransportError, None, 1, cooldown=COOLDOWN)  # permanent


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("kind", PROVIDERS)
def test_untrusted_certificate(tls_server: FakeIdentityServer, kind: str, state: str) -> None:
    """A certificate the client does not trust fails once per fetch (retrying cannot help)."""
    assert tls_server.ca_bundle is not None
    tls_server.reset()
    session = CountingSession()
    session.verify = tls_server.ca_bundle
    h = Harness(tls_server, kind, session)
    h.enter(state)
    session.verify = True  # from now on only the public roots: the server's CA is unknown

    def disarm() -> None:
        session.verify = tls_server.ca_bundle

    h.disarm = disarm  # type: ignore[method-assign]
    _drive(h, UNTRUSTED, state, server_counts=False)
    # Refused in the handshake: only the good requests (before and after the fault) reached HTTP.
    assert h.endpoint.credential_request_count == (1 if state == "empty" else 2)


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("kind", PROVIDERS)
def test_absurd_lifetime_is_not_trusted(server: FakeIdentityServer, kind: str, state: str) -> None:
    """A token claiming ten years is used, but refreshed as if it lived at most MAX_LIFETIME."""
    h = Harness(server, kind)
    h.enter(state)
    h.endpoint.lifetime = TEN_YEARS
    before = h.session.sent
    issued_at = h.clock.now
    if state == "window":
        assert h.provider.resolve() is h.cached
        _join_refreshers()
        token = h.provider.resolve()
        assert token is not h.cached
    else:
        token = h.provider.resolve()
    assert h.session.sent - before == 1
    assert token.expires_at_epoch == pytest.approx(issued_at + TEN_YEARS, abs=2)  # as the endpoint said
    h.endpoint.lifetime = LIFETIME
    policy = RefreshPolicy()
    h.clock.advance(MAX_LIFETIME - policy.refresh_margin - policy.jitter - 1)
    assert h.provider.resolve() is token  # not due yet
    _join_refreshers()
    assert h.session.sent - before == 1
    h.renew()  # a day passed: the kubelet has rotated the projected token
    h.clock.advance(policy.jitter + 2)
    assert h.provider.resolve() is token  # due: refreshed in the background, served meanwhile
    _join_refreshers()
    assert h.session.sent - before == 2
    assert h.provider.resolve() is not token
    h.provider.close()


@pytest.mark.parametrize("kind", PROVIDERS)
def test_first_good_answer_during_retries_wins(server: FakeIdentityServer, kind: str) -> None:
    """Two failures then a good answer: one fetch of three requests, no error, nothing remembered."""
    h = Harness(server, kind)
    h.endpoint.enqueue(Fault(503), Fault(hang=HANG))
    h.session.short_reads = 2  # the third, good answer gets the usual timeout
    token = h.provider.resolve()
    assert h.session.sent == 3 and h.endpoint.credential_request_count == 3
    assert len(h.sleep.calls) == 2
    assert h.provider.resolve() is token
    stats = h.provider.stats()
    assert stats.failures == 0 and stats.token_requests == 1
    h.provider.close()


@pytest.mark.parametrize("kind", PROVIDERS)
def test_cooldown_counts_from_the_failure_not_from_the_first_attempt(
    server: FakeIdentityServer, kind: str
) -> None:
    """Retries that outlast the cool-down must not let the next caller straight back in."""
    h = Harness(server, kind)
    h.sleep.clock = h.clock  # the pauses between attempts pass on the fake clock
    h.endpoint.enqueue(*[Fault(429, b"", {"Retry-After": "20"})] * QUEUED)
    with pytest.raises(TokenEndpointError):
        h.provider.resolve()
    assert h.session.sent == ATTEMPTS and h.sleep.calls == [20.0, 20.0]  # 40 s: past any short cool-down
    with pytest.raises(TokenEndpointError):
        h.provider.resolve()
    assert h.session.sent == ATTEMPTS  # still cooling down, 20 s as asked, from the last answer
    h.disarm()
    h.clock.advance(20.5)
    h.provider.resolve()
    assert h.session.sent == ATTEMPTS + 1
    h.provider.close()


@pytest.mark.parametrize("kind", PROVIDERS)
def test_callers_queued_behind_a_slow_failure_share_it(server: FakeIdentityServer, kind: str) -> None:
    """Eight callers on an empty cache and an endpoint failing slowly: one fetch, one error for all."""
    h = Harness(server, kind)
    h.sleep.clock = h.clock
    h.endpoint.latency = 0.05  # the first fetch is still running while the others queue
    h.endpoint.enqueue(*[Fault(429, b"", {"Retry-After": "20"})] * (QUEUED * 8))  # 40 s of retries
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def call() -> None:
        barrier.wait()
        try:
            h.provider.resolve()
        except CredentialError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not any(t.is_alive() for t in threads)
    assert len(errors) == 8 and all(getattr(e, "error_code", None) == "http_429" for e in errors)
    assert h.session.sent == ATTEMPTS
    h.provider.close()


def test_max_lifetime_is_a_policy_value() -> None:
    """The cap is configurable (math.inf trusts any claim) and must be positive."""
    policy = RefreshPolicy()
    assert policy.trusted_expiry(1000.0, 1000.0 + TEN_YEARS) == 1000.0 + MAX_LIFETIME
    assert policy.trusted_expiry(1000.0, 4600.0) == 4600.0
    assert RefreshPolicy(max_lifetime=math.inf).trusted_expiry(0.0, TEN_YEARS) == TEN_YEARS
    with pytest.raises(ValueError, match="max_lifetime"):
        RefreshPolicy(max_lifetime=0)


def test_trusting_long_lifetimes_is_an_option(server: FakeIdentityServer) -> None:
    """refresh_policy=RefreshPolicy(max_lifetime=math.inf) schedules by the claimed expiry."""
    server.azure.lifetime = TEN_YEARS
    clock = SyncedClock(server)
    with server.azure_provider(clock=clock, refresh_policy=RefreshPolicy(max_lifetime=math.inf)) as provider:
        token = provider.resolve()
        clock.advance(MAX_LIFETIME * 30)
        assert provider.resolve() is token
        assert server.azure.request_count == 1
