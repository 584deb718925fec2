"""The caching engine, single-threaded, with a fake clock: states, margins, failures."""

from __future__ import annotations

import logging
import threading

import pytest

from literauth import (
    ConfigurationError,
    CredentialError,
    MalformedResponseError,
    TokenEndpointError,
    TransportError,
)

from ._engine_helpers import RecordingSpawn, ScriptedProvider, token_of
from .conftest import FakeClock


def _provider(clock: FakeClock, **kw: object) -> ScriptedProvider:
    kw.setdefault("background_refresh", False)
    kw.setdefault("rand", lambda: 0.0)  # no jitter: refresh points exactly at the margin
    return ScriptedProvider(clock=clock, **kw)  # type: ignore[arg-type]


def test_first_resolve_fetches_then_serves_from_cache(clock: FakeClock) -> None:
    provider = _provider(clock)
    assert token_of(provider.resolve()) == "token-1"
    clock.advance(3000)
    assert token_of(provider.resolve()) == "token-1"
    assert provider.calls == 1


def test_refreshes_five_minutes_before_expiry(clock: FakeClock) -> None:
    provider = _provider(clock)
    provider.resolve()
    clock.advance(3600 - 301)
    provider.resolve()
    assert provider.calls == 1
    clock.advance(2)  # now 299 s before expiry: inside the refresh window
    assert token_of(provider.resolve()) == "token-1"  # inline refresher still returns the cached one
    assert provider.calls == 2
    assert token_of(provider.resolve()) == "token-2"


def test_refresh_margin_is_configurable(clock: FakeClock) -> None:
    provider = _provider(clock, refresh_margin=600)
    provider.resolve()
    clock.advance(3600 - 601)
    provider.resolve()
    assert provider.calls == 1
    clock.advance(2)
    provider.resolve()
    assert provider.calls == 2


def test_short_lifetime_refreshes_at_half_life(clock: FakeClock) -> None:
    provider = _provider(clock, lifetime=400)
    provider.resolve()
    clock.advance(199)
    provider.resolve()
    assert provider.calls == 1
    clock.advance(2)
    provider.resolve()
    assert provider.calls == 2


def test_short_lifetime_is_not_refetched_on_every_call(clock: FakeClock) -> None:
    provider = _provider(clock, lifetime=120)
    for _ in range(50):
        provider.resolve()
    assert provider.calls == 1


def test_expired_credential_blocks_and_fetches(clock: FakeClock) -> None:
    provider = _provider(clock)
    provider.resolve()
    clock.advance(3600 - 29)  # within expiry_skew: unusable
    assert token_of(provider.resolve()) == "token-2"


def test_soft_failure_keeps_serving_and_cools_down(clock: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    provider = _provider(clock)
    provider.resolve()
    clock.advance(3400)
    provider.fail_with = TransportError("scripted: connection failed")
    with caplog.at_level(logging.WARNING, logger="literauth"):
        assert token_of(provider.resolve()) == "token-1"
    assert provider.calls == 2
    assert any(r.levelno == logging.WARNING and "background refresh failed" in r.message for r in caplog.records)
    for _ in range(10):  # within the 30 s cool-down: no new attempt
        assert token_of(provider.resolve()) == "token-1"
    assert provider.calls == 2
    clock.advance(31)
    provider.resolve()
    assert provider.calls == 3  # one try after the cool-down
    clock.advance(31)
    provider.resolve()
    assert provider.calls == 3  # the second cool-down is longer (60 s)
    provider.fail_with = None
    clock.advance(30)
    assert token_of(provider.resolve()) == "token-1"  # the refresher returns the cached one
    assert token_of(provider.resolve()) == "token-4"
    assert provider.stats().consecutive_failures == 0


def test_hard_failure_raises_and_is_remembered(clock: FakeClock) -> None:
    provider = _provider(clock)
    provider.fail_with = TransportError("scripted: connection failed")
    with pytest.raises(TransportError):
        provider.resolve()
    with pytest.raises(TransportError):
        provider.resolve()
    assert provider.calls == 1  # no new request inside the short cool-down
    clock.advance(5.1)
    provider.fail_with = None
    assert token_of(provider.resolve()) == "token-2"


def test_permanent_failure_is_remembered_for_the_long_cooldown(clock: FakeClock) -> None:
    provider = _provider(clock)
    provider.fail_with = TokenEndpointError("bad secret", error_code="invalid_client", status_code=401)
    for _ in range(100):
        with pytest.raises(TokenEndpointError) as info:
            provider.resolve()
        assert info.value.error_code == "invalid_client"
    assert provider.calls == 1
    clock.advance(10)
    with pytest.raises(TokenEndpointError):
        provider.resolve()
    assert provider.calls == 1
    clock.advance(25)
    with pytest.raises(TokenEndpointError):
        provider.resolve()
    assert provider.calls == 2


def test_unexpected_exception_becomes_credential_error(clock: FakeClock) -> None:
    provider = _provider(clock)
    provider.fail_with = KeyError("boom")
    with pytest.raises(CredentialError, match="unexpected KeyError"):
        provider.resolve()


def test_credential_that_expires_at_once_is_malformed(clock: FakeClock) -> None:
    provider = _provider(clock, lifetime=0)
    with pytest.raises(MalformedResponseError, match="too soon"):
        provider.resolve()
    provider.lifetime = -100
    clock.advance(6)
    with pytest.raises(MalformedResponseError):
        provider.resolve()


def test_invalidate_drops_cache_and_error_memory(clock: FakeClock) -> None:
    provider = _provider(clock)
    provider.resolve()
    provider.invalidate()
    assert token_of(provider.resolve()) == "token-2"
    provider.invalidate()
    provider.fail_with = TransportError("down")
    with pytest.raises(TransportError):
        provider.resolve()
    provider.invalidate()
    provider.fail_with = None
    assert token_of(provider.resolve()) == "token-4"


def test_force_refresh_fetches_anew(clock: FakeClock) -> None:
    provider = _provider(clock)
    provider.resolve()
    assert token_of(provider.resolve(force_refresh=True)) == "token-2"
    assert token_of(provider.resolve()) == "token-2"
    assert provider.calls == 2


def test_stats_snapshot(clock: FakeClock) -> None:
    provider = _provider(clock)
    assert provider.stats().expires_at is None
    for _ in range(5):
        provider.resolve()
    stats = provider.stats()
    assert stats.resolves == 5
    assert stats.cache_hits == 4
    assert stats.token_requests == 1
    assert stats.failures == 0
    assert stats.last_refresh is not None and stats.last_refresh.timestamp() == clock.now
    assert stats.expires_at is not None and stats.expires_at.timestamp() == clock.now + 3600


def test_jitter_is_drawn_from_the_rand_option(clock: FakeClock) -> None:
    late = _provider(clock, rand=lambda: 0.0)
    early = _provider(clock, rand=lambda: 1.0)
    late.resolve()
    early.resolve()
    assert late._entry is not None and early._entry is not None
    assert late._entry.refresh_at == clock.now + 3600 - 300
    assert early._entry.refresh_at == clock.now + 3600 - 300 - 5  # the whole 5 s of jitter, earlier


def test_jitter_spreads_refresh_points_by_default() -> None:
    points = set()
    for _ in range(20):
        clock = FakeClock()
        provider = ScriptedProvider(clock=clock, background_refresh=False)
        provider.resolve()
        entry = provider._entry
        assert entry is not None
        assert clock.now + 3600 - 305 <= entry.refresh_at <= clock.now + 3300
        points.add(entry.refresh_at)
    assert len(points) > 1


def test_background_refresh_runs_as_a_job_given_to_spawn(clock: FakeClock) -> None:
    spawn = RecordingSpawn()
    provider = _provider(clock, background_refresh=True, spawn=spawn)
    provider.resolve()
    clock.advance(3400)
    for _ in range(5):  # every call serves the cached token; one job is handed out
        assert token_of(provider.resolve()) == "token-1"
    assert [name for _, name in spawn.jobs] == ["literauth-refresh-scripted"]
    assert provider.calls == 1 and provider.stats().refreshing
    assert spawn.run_all() == 1
    assert provider.calls == 2 and not provider.stats().refreshing
    assert token_of(provider.resolve()) == "token-2"
    assert spawn.jobs == []


def test_default_spawn_runs_on_a_named_daemon_thread(clock: FakeClock) -> None:
    seen: list[threading.Thread] = []
    done = threading.Event()
    provider = ScriptedProvider(clock=clock, delay=lambda: seen.append(threading.current_thread()))
    provider.resolve()
    clock.advance(3400)
    provider.delay = lambda: (seen.append(threading.current_thread()), done.set())  # type: ignore[assignment,func-returns-value]
    assert token_of(provider.resolve()) == "token-1"
    assert done.wait(10)
    assert seen[1].name == "literauth-refresh-scripted" and seen[1].daemon
    seen[1].join(10)
    assert token_of(provider.resolve()) == "token-2"


def test_bad_options_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="refresh_margin"):
        ScriptedProvider(refresh_margin=-5)


def test_provider_cannot_be_pickled() -> None:
    import pickle

    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(ScriptedProvider())


def test_repr_shows_no_secret(clock: FakeClock) -> None:
    provider = _provider(clock)
    provider.resolve()
    assert "token-1" not in repr(provider)
    assert "BearerToken" in repr(provider)


def test_counter_counts_without_a_lock_and_reads_without_a_repr() -> None:
    from literauth.provider import _count, _ticks

    ticks = _ticks()
    assert _count(ticks) == 0
    for _ in range(1000):
        next(ticks)
    assert _count(ticks) == 1000

    def tick() -> None:
        for _ in range(10_000):
            next(ticks)

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert _count(ticks) == 41_000  # one C call per event: none lost under the GIL
