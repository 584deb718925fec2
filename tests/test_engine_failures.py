"""The engine after failures: forced refreshes, pauses asked of the error, what an error keeps."""

from __future__ import annotations

import gc
import json
import traceback
import types
import weakref
from collections.abc import Iterator
from datetime import datetime

import pytest

from literauth import (
    BearerToken,
    ConfigurationError,
    Credential,
    CredentialError,
    LiterAuthError,
    MalformedResponseError,
    SecretString,
    TokenEndpointError,
    TransportError,
)
from literauth.credentials import UTC
from literauth.errors import CredentialSourceError, TransportReason

from ._engine_helpers import RecordingSpawn, ScriptedProvider, token_of
from .conftest import FakeClock

SECRET = "SUPER-SECRET-TOKEN-0123456789abcdef"


def _provider(clock: FakeClock, **kw: object) -> ScriptedProvider:
    kw.setdefault("background_refresh", False)
    kw.setdefault("rand", lambda: 0.0)
    return ScriptedProvider(clock=clock, **kw)  # type: ignore[arg-type]


# -- force_refresh ---------------------------------------------------------------------


def test_failed_forced_refresh_raises_and_the_old_credential_is_not_served(clock: FakeClock) -> None:
    provider = _provider(clock)
    assert token_of(provider.resolve()) == "token-1"
    provider.fail_with = TransportError("scripted: down")
    with pytest.raises(TransportError):
        provider.resolve(force_refresh=True)
    with pytest.raises(TransportError):  # the caller said token-1 is bad: never handed out again
        provider.resolve()
    assert provider.stats().expires_at is None
    provider.fail_with = None
    clock.advance(5.1)  # the short pause after a transient failure
    assert token_of(provider.resolve()) == "token-3"


def test_forced_refresh_skips_the_cool_down_it_did_not_see(clock: FakeClock) -> None:
    provider = _provider(clock)
    provider.fail_with = TransportError("scripted: down")
    with pytest.raises(TransportError):
        provider.resolve()
    provider.fail_with = None
    assert token_of(provider.resolve(force_refresh=True)) == "token-2"


# -- pauses: the engine asks the error -------------------------------------------------


def _calls_after(provider: ScriptedProvider, clock: FakeClock, seconds: float) -> int:
    clock.advance(seconds)
    try:
        provider.resolve()
    except LiterAuthError:
        pass
    return provider.calls


@pytest.mark.parametrize(
    "error",
    [
        TransportError("scripted: untrusted", reason=TransportReason.TLS_UNTRUSTED),
        MalformedResponseError("scripted: garbage"),
        CredentialError("scripted: no", retryable=False),
        TokenEndpointError("scripted: bad secret", status_code=401),
        ConfigurationError("scripted: misconfigured"),
    ],
    ids=["tls-untrusted", "malformed", "credential-error", "endpoint-401", "configuration"],
)
def test_permanent_errors_pause_for_the_long_cool_down(clock: FakeClock, error: LiterAuthError) -> None:
    provider = _provider(clock)
    provider.fail_with = error
    assert _calls_after(provider, clock, 0) == 1
    assert _calls_after(provider, clock, 29) == 1  # the 30 s pause, not the 5 s one
    assert _calls_after(provider, clock, 2) == 2
    assert _calls_after(provider, clock, 59) == 2  # doubled
    assert _calls_after(provider, clock, 2) == 3


@pytest.mark.parametrize(
    "error",
    [
        TransportError("scripted: timed out", reason=TransportReason.TIMEOUT),
        TokenEndpointError("scripted: 503", status_code=503, retryable=True),
        CredentialSourceError("scripted: token file is empty"),
        CredentialError("scripted: try again", retryable=True),
    ],
    ids=["timeout", "endpoint-503", "source", "retryable-credential-error"],
)
def test_transient_errors_pause_briefly(clock: FakeClock, error: LiterAuthError) -> None:
    provider = _provider(clock)
    provider.fail_with = error
    assert _calls_after(provider, clock, 0) == 1
    assert _calls_after(provider, clock, 4.9) == 1
    assert _calls_after(provider, clock, 0.2) == 2


def test_token_file_empty_for_a_moment_is_read_again_after_the_short_pause(clock: FakeClock) -> None:
    provider = _provider(clock)
    provider.fail_with = CredentialSourceError("scripted: /var/run/token is empty")
    with pytest.raises(CredentialSourceError):
        provider.resolve()
    provider.fail_with = None  # the file is good again
    clock.advance(5.1)
    assert token_of(provider.resolve()) == "token-2"


def test_retry_after_lengthens_the_pause(clock: FakeClock) -> None:
    provider = _provider(clock)
    provider.fail_with = TokenEndpointError("scripted: 429", status_code=429, retryable=True, retry_after=20)
    assert _calls_after(provider, clock, 0) == 1
    assert _calls_after(provider, clock, 19) == 1
    assert _calls_after(provider, clock, 2) == 2


def test_unexpected_exception_is_wrapped_as_permanent_and_names_only_its_type(clock: FakeClock) -> None:
    provider = _provider(clock)
    provider.fail_with = KeyError(SECRET)
    with pytest.raises(CredentialError) as info:
        provider.resolve()
    assert type(info.value) is CredentialError and not info.value.retryable
    assert str(info.value) == "scripted: unexpected KeyError while fetching a credential"
    assert _calls_after(provider, clock, 10) == 1  # permanent: the long pause


# -- what a raised or remembered error keeps -------------------------------------------


class _LeakyParser(ScriptedProvider):
    """Fails like a careless parser: a MalformedResponseError raised inside the handler."""

    def _fetch(self) -> Credential:
        self.calls += 1
        body = f'{{"access_token": "{SECRET}", '  # cut short
        try:
            json.loads(body)
        except ValueError:
            raise MalformedResponseError("scripted: the answer is not JSON") from None
        raise AssertionError("unreachable")


class _Unexpected(ScriptedProvider):
    def _fetch(self) -> Credential:
        self.calls += 1
        return json.loads(f'{{"access_token": "{SECRET}", ')  # type: ignore[no-any-return]


def _chain(exc: BaseException | None) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack += [current.__context__, current.__cause__]


def _texts(exc: BaseException) -> list[str]:
    texts = []
    for link in _chain(exc):
        texts += [str(link), repr(link), repr(vars(link)), repr(getattr(link, "doc", ""))]
    texts += traceback.format_exception(type(exc), exc, exc.__traceback__)
    return texts


@pytest.mark.parametrize("cls", [_LeakyParser, _Unexpected], ids=["suppressed-context", "unexpected"])
def test_no_chained_exception_under_a_raised_error_holds_the_secret(clock: FakeClock, cls: type[ScriptedProvider]) -> None:
    provider = cls(clock=clock, background_refresh=False)
    for _ in range(2):  # the fetch, then the remembered copy
        with pytest.raises(CredentialError) as info:
            provider.resolve()
        assert [link for link in _chain(info.value)] == [info.value]
        assert all(SECRET not in text for text in _texts(info.value))
    remembered = provider._last_error
    assert remembered is not None
    assert remembered.__context__ is None and remembered.__cause__ is None and remembered.__traceback__ is None
    assert provider.calls == 1


class _Sentinel:
    pass


def _fail_in_a_function(provider: ScriptedProvider) -> weakref.ref[_Sentinel]:
    sentinel = _Sentinel()  # a local of the caller's frame, which a kept traceback would pin
    try:
        provider.resolve()
    except CredentialError:
        return weakref.ref(sentinel)
    raise AssertionError("resolve() should have failed")


def test_the_remembered_error_pins_no_caller_frame(clock: FakeClock) -> None:
    provider = _provider(clock)
    provider.fail_with = TransportError("scripted: down")
    sentinel = _fail_in_a_function(provider)
    provider.fail_with = None  # the object _fetch raised is the test's; drop it
    gc.collect()
    assert sentinel() is None, "the provider keeps the failing caller's frame alive"
    remembered = provider._last_error
    assert remembered is not None and remembered.__traceback__ is None
    assert not [r for r in gc.get_referrers(remembered) if isinstance(r, types.FrameType)]
    with pytest.raises(TransportError) as info:  # the cooled-down copy is fresh, too
        provider.resolve()
    assert info.value is not remembered and provider.calls == 1


# -- close() ---------------------------------------------------------------------------


def test_resolve_after_close_raises_and_fetches_nothing(clock: FakeClock) -> None:
    provider = _provider(clock)
    provider.resolve()
    provider.close()
    for force in (False, True):
        with pytest.raises(ConfigurationError, match="^scripted: provider is closed$"):
            provider.resolve(force_refresh=force)
    assert provider.calls == 1
    provider.close()  # idempotent


def test_no_background_refresh_starts_after_close(clock: FakeClock) -> None:
    spawn = RecordingSpawn()
    provider = _provider(clock, background_refresh=True, spawn=spawn)
    provider.resolve()
    clock.advance(3400)
    provider.close()
    with pytest.raises(ConfigurationError, match="closed"):
        provider.resolve()
    assert spawn.jobs == []


def test_a_refresh_finishing_after_close_is_not_published(clock: FakeClock) -> None:
    spawn = RecordingSpawn()
    provider = _provider(clock, background_refresh=True, spawn=spawn)
    provider.resolve()
    clock.advance(3400)
    provider.resolve()
    provider.close()
    assert spawn.run_all() == 1  # the job was already running when close() came
    assert provider.calls == 2
    assert provider._entry is None
    with pytest.raises(ConfigurationError, match="closed"):
        provider.resolve()


# -- the background job and the spawner -----------------------------------------------


@pytest.mark.parametrize("failure", [KeyboardInterrupt, MemoryError, RuntimeError])
def test_a_spawner_failing_releases_the_refresh(clock: FakeClock, failure: type[BaseException]) -> None:
    def spawn(job: object, name: str) -> None:
        raise failure()

    provider = _provider(clock, background_refresh=True, spawn=spawn)
    provider.resolve()
    clock.advance(3400)
    with pytest.raises(failure):
        provider.resolve()
    assert not provider.stats().refreshing
    clock.advance(170)  # now unusable: the next caller must be able to fetch, not wait
    assert token_of(provider.resolve()) == "token-2"


def test_a_job_started_after_its_spawner_gave_up_does_nothing(clock: FakeClock) -> None:
    jobs: list[object] = []

    def spawn(job: object, name: str) -> None:
        jobs.append(job)
        raise KeyboardInterrupt

    provider = _provider(clock, background_refresh=True, spawn=spawn)
    provider.resolve()
    clock.advance(3400)
    with pytest.raises(KeyboardInterrupt):
        provider.resolve()
    jobs[0]()  # type: ignore[operator]  # the thread started after all: it must not fetch
    assert provider.calls == 1


def test_short_tokens_are_refreshed_before_they_stop_being_served(clock: FakeClock) -> None:
    provider = _provider(clock, lifetime=50)
    provider.resolve()
    clock.advance(11)  # past half the 20 s it is served (50 s minus the 30 s skew)
    assert token_of(provider.resolve()) == "token-1"  # the inline refresher serves the cached one
    assert provider.calls == 2
    assert token_of(provider.resolve()) == "token-2"


def test_a_token_inside_the_skew_is_never_handed_out(clock: FakeClock) -> None:
    provider = _provider(clock, lifetime=50)
    provider.resolve()
    provider.fail_with = TransportError("scripted: down")  # so no refresh replaces it
    clock.advance(21)  # 29 s before expiry
    with pytest.raises(TransportError):
        provider.resolve()


def test_a_credential_from_fetch_that_is_not_a_credential(clock: FakeClock) -> None:
    class Wrong(ScriptedProvider):
        def _fetch(self) -> Credential:
            return "token"  # type: ignore[return-value]

    with pytest.raises(CredentialError, match="unexpected TypeError"):
        Wrong(clock=clock, background_refresh=False).resolve()
    assert BearerToken(SecretString("x"), datetime.fromtimestamp(clock.now, UTC)).expires_at is not None


def test_an_error_that_cannot_be_copied_is_remembered_as_a_plain_credential_error(clock: FakeClock) -> None:
    class Stubborn(CredentialError):
        def __init__(self, message: str, *, detail: str) -> None:
            super().__init__(message)
            self.detail = detail

    provider = _provider(clock)
    provider.fail_with = Stubborn("scripted: odd failure", detail="x")
    for _ in range(2):
        with pytest.raises(CredentialError, match="scripted: odd failure") as info:
            provider.resolve()
        assert info.value.__context__ is None
    assert provider.calls == 1
