"""The caching engine under real threads: single flight, no waiting, no starvation."""

from __future__ import annotations

import threading
import time

import pytest

from literauth import TransportError
from literauth._policy import RefreshPolicy

from ._engine_helpers import ScriptedProvider, token_of
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


@pytest.mark.parametrize("background", [True, False])
def test_refresh_window_makes_one_request_and_nobody_waits(clock: FakeClock, background: bool) -> None:
    gate = threading.Event()
    provider = ScriptedProvider(clock=clock, background_refresh=background, refresh_policy=RefreshPolicy(jitter=0))
    provider.resolve()
    provider.delay = lambda: gate.wait(10)
    clock.advance(3400)  # inside the refresh window, still valid
    barrier = threading.Barrier(THREADS)
    done: list[str] = []
    lock = threading.Lock()

    def call() -> None:
        barrier.wait()
        token = token_of(provider.resolve())
        with lock:
            done.append(token)

    threads = _run_all(call, THREADS)
    deadline = time.monotonic() + 10
    expected = THREADS if background else THREADS - 1  # inline: the one refresher waits
    while len(done) < expected and time.monotonic() < deadline:
        time.sleep(0.005)
    # every caller returned the cached token while the fetch is still blocked
    assert len(done) == expected
    assert set(done) == {"token-1"}
    assert provider.calls == 2
    gate.set()
    _join(threads)
    for thread in _refresh_threads():
        thread.join(5)
    assert provider.calls == 2
    assert token_of(provider.resolve()) == "token-2"


def test_writer_is_not_starved_by_busy_readers(clock: FakeClock) -> None:
    provider = ScriptedProvider(clock=clock, refresh_policy=RefreshPolicy(jitter=0))
    provider.resolve()
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            provider.resolve()
            provider.stats()  # takes the cache's read lock

    readers = _run_all(reader, 8)
    try:
        time.sleep(0.05)
        clock.advance(3400)  # the next read starts a background refresh that must get the write lock
        deadline = time.monotonic() + 10
        while provider._entry is not None and token_of(provider._entry.credential) == "token-1":
            assert time.monotonic() < deadline, "the refresh never got the write lock"
            time.sleep(0.001)
    finally:
        stop.set()
        _join(readers)
    assert provider.calls == 2


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
