"""The engine API adapters build on: `schedule()` and `invalidate_if_current()`."""

from __future__ import annotations

import math
import threading
import time

import pytest

from literauth import (
    BearerToken,
    ChainProvider,
    Credential,
    RefreshPolicy,
    SecretString,
    StaticTokenProvider,
)
from literauth.integrations._rejection import drop_if_current, fresher_credential
from literauth.provider import Schedule

from ._engine_helpers import ScriptedProvider, token_of
from .conftest import FakeClock

THREADS = 16


class NeverExpiring(ScriptedProvider):
    def _fetch(self) -> Credential:
        self.calls += 1
        return BearerToken(SecretString(f"forever-{self.calls}"))


def _together(count: int, job: object) -> None:
    """Run `job` on `count` real threads released at once by a barrier; fail if one hangs."""
    barrier = threading.Barrier(count)

    def run() -> None:
        barrier.wait()
        job()  # type: ignore[operator]

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()


# -- schedule() ---------------------------------------------------------------------


def test_schedule_is_none_until_something_is_cached(clock: FakeClock) -> None:
    provider = ScriptedProvider(clock=clock)
    assert provider.schedule() is None
    assert provider.calls == 0  # asking does not fetch


def test_schedule_reports_the_refresh_point_and_the_end_of_service(clock: FakeClock) -> None:
    provider = ScriptedProvider(lifetime=3600, clock=clock, rand=lambda: 0.0, refresh_margin=300, expiry_skew=30)
    provider.resolve()
    schedule = provider.schedule()
    assert schedule == Schedule(refresh_at=clock() + 3600 - 300, expires_at=clock() + 3600 - 30)
    assert isinstance(schedule, tuple)
    with pytest.raises(AttributeError):
        schedule.refresh_at = 0  # type: ignore[misc]  # immutable


def test_schedule_follows_the_refresh_and_the_jitter(clock: FakeClock) -> None:
    provider = ScriptedProvider(lifetime=3600, clock=clock, rand=lambda: 1.0, background_refresh=False)
    provider.resolve()
    first = provider.schedule()
    assert first is not None and first.refresh_at == clock() + 3600 - 300 - RefreshPolicy().jitter  # all of it
    clock.advance(3400)
    provider.resolve()  # refreshes inline in the refresh window
    second = provider.schedule()
    assert second is not None and second.expires_at == first.expires_at + 3400


def test_schedule_is_none_after_invalidate_and_close(clock: FakeClock) -> None:
    provider = ScriptedProvider(clock=clock)
    provider.resolve()
    provider.invalidate()
    assert provider.schedule() is None
    provider.resolve()
    provider.close()
    assert provider.schedule() is None


def test_a_credential_that_never_expires_is_scheduled_at_infinity(clock: FakeClock) -> None:
    provider = NeverExpiring(clock=clock)
    provider.resolve()
    assert provider.schedule() == Schedule(math.inf, math.inf)
    assert StaticTokenProvider("static-token-0123456789").schedule() == Schedule(math.inf, math.inf)


# -- invalidate_if_current() ------------------------------------------------------------


def test_invalidate_if_current_drops_only_that_very_credential(clock: FakeClock) -> None:
    provider = ScriptedProvider(clock=clock)
    assert provider.invalidate_if_current(BearerToken(SecretString("token-1"))) is False  # empty cache
    cached = provider.resolve()
    twin = BearerToken(SecretString("token-1"), cached.expires_at)
    assert twin == cached
    assert provider.invalidate_if_current(twin) is False  # equal is not the same credential
    assert provider.resolve() is cached and provider.calls == 1
    assert provider.invalidate_if_current(cached) is True
    assert provider.schedule() is None
    assert token_of(provider.resolve()) == "token-2"
    assert provider.invalidate_if_current(cached) is False  # already replaced
    assert token_of(provider.resolve()) == "token-2" and provider.calls == 2


def test_invalidate_if_current_clears_a_remembered_failure_like_invalidate(clock: FakeClock) -> None:
    provider = ScriptedProvider(clock=clock, background_refresh=False, rand=lambda: 0.0)
    cached = provider.resolve()
    provider.fail_with = RuntimeError("endpoint down")
    clock.advance(3400)
    provider.resolve()  # the inline refresh fails; the cached token is still served
    assert provider.stats().consecutive_failures == 1
    provider.fail_with = None
    assert provider.invalidate_if_current(cached) is True
    assert token_of(provider.resolve()) == "token-3"


def test_invalidate_if_current_leaves_a_fetch_in_flight_to_be_cached(clock: FakeClock) -> None:
    started, release = threading.Event(), threading.Event()

    def slow() -> None:
        started.set()
        assert release.wait(10)

    provider = ScriptedProvider(clock=clock)
    old = provider.resolve()
    provider.invalidate()
    provider.delay = slow
    results: list[str] = []
    fetcher = threading.Thread(target=lambda: results.append(token_of(provider.resolve())))
    fetcher.start()
    assert started.wait(10)
    assert provider.invalidate_if_current(old) is False  # nothing cached: the fetch is not cancelled
    release.set()
    fetcher.join(10)
    assert results == ["token-2"]
    assert token_of(provider.resolve()) == "token-2" and provider.calls == 2  # it was cached


def test_threads_reporting_one_rejection_together_cost_one_fetch(clock: FakeClock) -> None:
    provider = ScriptedProvider(clock=clock, delay=lambda: time.sleep(0.02))
    rejected = provider.resolve()
    dropped: list[bool] = []
    tokens: list[str] = []

    def report() -> None:
        dropped.append(provider.invalidate_if_current(rejected))
        tokens.append(token_of(provider.resolve()))

    _together(THREADS, report)
    assert sorted(dropped) == [False] * (THREADS - 1) + [True]
    assert tokens == ["token-2"] * THREADS
    assert provider.calls == 2 and provider.stats().token_requests == 2


def test_fresher_credential_under_threads_rejected_together_costs_one_fetch(clock: FakeClock) -> None:
    provider = ScriptedProvider(clock=clock, delay=lambda: time.sleep(0.02))
    rejected = provider.resolve()
    fresh: list[str | None] = []
    all_saw_it = threading.Barrier(8)  # every thread sees the rejected token cached before any drops it

    def retry() -> None:
        first = [True]

        def resolve() -> Credential:
            credential = provider.resolve()
            if first.pop() if first else False:
                all_saw_it.wait()
            return credential

        found = fresher_credential(provider, rejected, resolve)
        fresh.append(None if found is None else token_of(found))

    _together(8, retry)
    assert fresh == ["token-2"] * 8
    assert provider.calls == 2


def test_drop_if_current_falls_back_to_invalidate_and_to_nothing() -> None:
    class InvalidateOnly:
        dropped = 0

        def resolve(self) -> BearerToken:
            return BearerToken(SecretString("plain-token-0123456789"))

        def invalidate(self) -> None:
            self.dropped += 1

    class ResolveOnly:
        def resolve(self) -> BearerToken:
            return BearerToken(SecretString("plain-token-0123456789"))

    used = BearerToken(SecretString("plain-token-0123456789"))
    legacy = InvalidateOnly()
    assert drop_if_current(legacy, used) is True and legacy.dropped == 1
    assert drop_if_current(ResolveOnly(), used) is False
    static = StaticTokenProvider("static-token-0123456789")
    assert drop_if_current(static, static.resolve()) is False
    assert static.invalidate_if_current(static.resolve()) is False


# -- ChainProvider delegates -------------------------------------------------------------


def test_chain_delegates_to_the_chosen_source(clock: FakeClock) -> None:
    inner = ScriptedProvider(clock=clock, rand=lambda: 0.0)
    chain = ChainProvider([("scripted", lambda: inner)])
    assert chain.schedule() is None  # nothing chosen yet, and asking chooses nothing
    assert chain.invalidate_if_current(BearerToken(SecretString("token-1"))) is False
    assert chain.chosen is None
    used = chain.resolve()
    assert chain.schedule() == inner.schedule() is not None
    assert chain.invalidate_if_current(used) is True
    assert inner.schedule() is None
    assert token_of(chain.resolve()) == "token-2"
