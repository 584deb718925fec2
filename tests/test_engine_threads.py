"""The caching engine under real threads: single flight, no waiting, no starvation."""

from __future__ import annotations

import threading
import time

import pytest

from literauth import ConfigurationError, TransportError
from literauth._policy import RetryPolicy
from literauth.errors import TransportReason

from ._engine_helpers import RecordingSpawn, ScriptedProvider, token_of
from .conftest import FakeClock

THREADS = 64


def _run_all(target: object, count: int) -> list[threading.Thread]:
    threads = [threading.Thread(target=target) for _ in range(count)]  # type: ignore[arg-type]
    for thread in threads:
        thread.start()
    return threads


def _join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(10)
        assert not thread.is_alive()


def _refresh_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("literauth-refresh-")]


@pytest.mark.parametrize("expired", [False, True], ids=["empty-cache", "expired-cache"])
def test_stampede_makes_one_request(clock: FakeClock, expired: bool) -> None:
    provider = ScriptedProvider(clock=clock, delay=lambda: time.sleep(0.05))
    if expired:
        provider.resolve()
        clock.advance(3600)
    barrier = threading.Barrier(THREADS)
    results: list[str] = []

    def call() -> None:
        barrier.wait()
        results.append(token_of(provider.resolve()))

    _join(_run_all(call, THREADS))
    expected = 2 if expired else 1
    assert provider.calls == expected
    assert results == [f"token-{expected}"] * THREADS


def test_refresh_window_makes_one_request_and_nobody_waits_in_the_background(clock: FakeClock) -> None:
    spawn = RecordingSpawn()
    provider = ScriptedProvider(clock=clock, spawn=spawn, rand=lambda: 0.0)
    provider.resolve()
    clock.advance(3400)  # inside the refresh window, still valid
    barrier = threading.Barrier(THREADS)
    done: list[str] = []

    def call() -> None:
        barrier.wait()
        done.append(token_of(provider.resolve()))

    _join(_run_all(call, THREADS))
    assert done == ["token-1"] * THREADS
    assert len(spawn.jobs) == 1 and provider.calls == 1
    spawn.run_all()
    assert provider.calls == 2
    assert token_of(provider.resolve()) == "token-2"


def test_refresh_window_inline_only_the_refresher_waits(clock: FakeClock) -> None:
    gate, entered = threading.Event(), threading.Event()
    refresher: list[threading.Thread] = []
    provider = ScriptedProvider(clock=clock, background_refresh=False, rand=lambda: 0.0)
    provider.resolve()

    def blocked() -> None:
        refresher.append(threading.current_thread())
        entered.set()
        gate.wait(10)

    provider.delay = blocked
    clock.advance(3400)
    barrier = threading.Barrier(THREADS)
    done: list[str] = []

    def call() -> None:
        barrier.wait()
        done.append(token_of(provider.resolve()))

    threads = _run_all(call, THREADS)
    assert entered.wait(10)
    _join([t for t in threads if t is not refresher[0]])  # all but the refresher return at once
    assert done == ["token-1"] * (THREADS - 1)
    assert provider.calls == 2
    gate.set()
    _join(threads)
    assert provider.calls == 2
    assert token_of(provider.resolve()) == "token-2"


def test_writer_is_not_starved_by_busy_readers(clock: FakeClock) -> None:
    spawn = RecordingSpawn()
    provider = ScriptedProvider(clock=clock, spawn=spawn, rand=lambda: 0.0)
    provider.resolve()
    clock.advance(3400)
    provider.resolve()
    assert len(spawn.jobs) == 1
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            provider.resolve()
            provider.stats()  # takes the cache's read lock

    readers = _run_all(reader, 8)
    try:
        refresh = threading.Thread(target=spawn.run_all)
        refresh.start()
        refresh.join(10)
        assert not refresh.is_alive(), "the refresh never got the write lock"
    finally:
        stop.set()
        _join(readers)
    assert provider.calls == 2
    assert token_of(provider.resolve()) == "token-2"


def test_write_lock_swap_completes_under_reader_load() -> None:
    provider = ScriptedProvider()
    provider.resolve()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            provider.stats()  # a steady stream of read-lock holders

    readers = _run_all(reader, 8)
    try:
        time.sleep(0.05)
        started = time.monotonic()
        for _ in range(20):
            provider.invalidate()  # takes the write lock each time
        assert time.monotonic() - started < 10
    finally:
        stop.set()
        _join(readers)


def test_queued_callers_share_one_failure(clock: FakeClock) -> None:
    provider = ScriptedProvider(clock=clock, delay=lambda: time.sleep(0.05))
    provider.fail_with = TransportError("scripted: endpoint down")
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []
    lock = threading.Lock()

    def call() -> None:
        barrier.wait()
        try:
            provider.resolve()
        except TransportError as exc:
            with lock:
                errors.append(exc)

    _join(_run_all(call, 16))
    assert len(errors) == 16
    assert provider.calls == 1


@pytest.mark.parametrize("fail", [False, True])
def test_background_thread_ends_with_its_fetch(clock: FakeClock, fail: bool) -> None:
    provider = ScriptedProvider(clock=clock, delay=lambda: time.sleep(0.02))
    provider.resolve()
    if fail:
        provider.fail_with = TransportError("scripted: down")
    clock.advance(3400)
    provider.resolve()
    refreshers = _refresh_threads()
    assert refreshers, "a background refresh should have started"
    for thread in refreshers:
        thread.join(5)
        assert not thread.is_alive()
    assert not provider.stats().refreshing
    assert provider.calls == 2


# -- nothing waits behind a fetch, and waiters have a deadline ---------------------------


class _Blocked:
    """A `delay=` whose first `count` fetches block until released; later ones run at once."""

    def __init__(self, count: int = 1) -> None:
        self.count = count
        self.entered = threading.Event()
        self.release = threading.Event()
        self.finished = 0  # blocked fetches that have come back
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            if self.count == 0:
                return
            self.count -= 1
        self.entered.set()
        try:
            assert self.release.wait(20)
        finally:
            self.finished += 1


class _WaiterClock(FakeClock):
    """Sets `waiting` once a thread named "waiter" reads the clock a second time.

    The first read is the double-check; the second is its first deadline check while
    waiting for another caller's fetch: from then on it is waiting, not deciding.
    """

    def __init__(self) -> None:
        super().__init__()
        self.waiting = threading.Event()
        self._reads = 0

    def __call__(self) -> float:
        if threading.current_thread().name == "waiter":
            self._reads += 1
            if self._reads >= 2:
                self.waiting.set()
        return self.now


def _start(target: object, name: str | None = None) -> threading.Thread:
    thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
    thread.start()
    return thread


def _outcome(call: object) -> tuple[list[object], threading.Thread]:
    box: list[object] = []

    def run() -> None:
        try:
            box.append(call())  # type: ignore[operator]
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            box.append(exc)

    return box, _start(run, "waiter")


@pytest.mark.parametrize("call", ["stats", "invalidate"])
def test_stats_and_invalidate_do_not_wait_for_a_fetch(clock: FakeClock, call: str) -> None:
    blocked = _Blocked()
    provider = ScriptedProvider(clock=clock, delay=blocked)
    fetching = _start(provider.resolve)  # empty cache: a blocking fetch
    assert blocked.entered.wait(10)
    try:
        box, thread = _outcome(getattr(provider, call))
        thread.join(10)
        assert not thread.is_alive(), f"{call}() waited for the network fetch"
        assert fetching.is_alive()
        if call == "stats":
            assert box[0].refreshing  # type: ignore[attr-defined]
    finally:
        blocked.release.set()
        fetching.join(10)


def test_stats_snapshot_never_shows_more_hits_than_resolves(clock: FakeClock) -> None:
    provider = ScriptedProvider(clock=clock)
    provider.resolve()
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            provider.resolve()

    hammers = _run_all(hammer, 4)
    try:
        for _ in range(20_000):
            stats = provider.stats()
            assert stats.cache_hits <= stats.resolves
    finally:
        stop.set()
        _join(hammers)
    final = provider.stats()
    assert final.resolves == final.cache_hits + 1  # every resolve but the first was a hit: none lost


def test_waiters_give_up_at_the_fetch_budget_with_a_timeout_error() -> None:
    clock = _WaiterClock()
    blocked = _Blocked()
    provider = ScriptedProvider(clock=clock, delay=blocked, timeout=(1, 2), retry=RetryPolicy(total_timeout=3))
    owner = _start(provider.resolve)
    assert blocked.entered.wait(10)
    try:
        box, waiter = _outcome(provider.resolve)
        assert clock.waiting.wait(10)
        clock.advance(6)  # the fetch's own budget: 3 + 1 + 2 s
        waiter.join(10)
        assert not waiter.is_alive()
        error = box[0]
        assert isinstance(error, TransportError) and error.reason is TransportReason.TIMEOUT
        assert "gave up after 6 s" in str(error) and "still running" in str(error)
        assert provider.calls == 1
    finally:
        blocked.release.set()
        owner.join(10)


def test_a_stuck_background_refresh_is_abandoned_after_its_budget(clock: FakeClock) -> None:
    spawn = RecordingSpawn()
    blocked = _Blocked()
    provider = ScriptedProvider(clock=clock, spawn=spawn, timeout=(1, 1), retry=RetryPolicy(total_timeout=3))
    provider.resolve()
    provider.delay = blocked
    clock.advance(3400)
    provider.resolve()
    stuck = _start(spawn.run_all)  # the background job hangs in its fetch
    assert blocked.entered.wait(10)
    try:
        clock.advance(200)  # past its 5 s budget and past the point the token is served
        assert token_of(provider.resolve()) == "token-3"  # a new fetch, not a wait for the stuck one
        assert blocked.finished == 0  # while the stuck one still hangs
    finally:
        blocked.release.set()
        stuck.join(10)
    assert provider.calls == 3
    # the stuck fetch's late token-2 lasts no longer than token-3: it is discarded
    assert token_of(provider.resolve()) == "token-3"


def test_concurrent_forced_refreshes_share_one_fetch(clock: FakeClock) -> None:
    provider = ScriptedProvider(clock=clock, delay=lambda: time.sleep(0.05))
    provider.resolve()
    barrier = threading.Barrier(16)
    results: list[str] = []

    def call() -> None:
        barrier.wait()
        results.append(token_of(provider.resolve(force_refresh=True)))

    _join(_run_all(call, 16))
    assert provider.calls == 2
    assert results == ["token-2"] * 16


def test_concurrent_forced_refreshes_share_one_failure(clock: FakeClock) -> None:
    provider = ScriptedProvider(clock=clock, delay=lambda: time.sleep(0.05))
    provider.resolve()
    provider.fail_with = TransportError("scripted: down")
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []

    def call() -> None:
        barrier.wait()
        try:
            provider.resolve(force_refresh=True)
        except TransportError as exc:
            errors.append(exc)

    _join(_run_all(call, 16))
    assert len(errors) == 16 and provider.calls == 2
    assert len({id(e) for e in errors}) == 16  # each caller has its own copy


def test_close_during_a_fetch_does_not_wait_and_fails_its_waiters(clock: FakeClock) -> None:
    blocked = _Blocked()
    provider = ScriptedProvider(clock=clock, delay=blocked)
    owner_box, owner = _outcome(provider.resolve)
    assert blocked.entered.wait(10)
    box, waiter = _outcome(provider.resolve)
    try:
        provider.close()  # returns although the fetch is still running
        assert owner.is_alive()
        waiter.join(10)
        assert not waiter.is_alive()
        assert isinstance(box[0], ConfigurationError) and "provider is closed" in str(box[0])
    finally:
        blocked.release.set()
        owner.join(10)
    assert isinstance(owner_box[0], ConfigurationError)  # its result is discarded
    assert provider._entry is None and provider.calls == 1


def test_a_fetch_running_across_invalidate_is_not_cached(clock: FakeClock) -> None:
    blocked = _Blocked()
    provider = ScriptedProvider(clock=clock, delay=blocked)
    box, owner = _outcome(provider.resolve)
    assert blocked.entered.wait(10)
    provider.invalidate()
    blocked.release.set()
    owner.join(10)
    assert token_of(box[0]) == "token-1"  # type: ignore[arg-type]  # its caller gets it...
    assert token_of(provider.resolve()) == "token-2"  # ...but the next resolve() fetches anew
