"""The scenarios, run inside a fresh interpreter against one library adapter.

Each returns a JSON-ready dict of measurements. Request counts come from the identity
provider (token POSTs it received), never from the library, so every library is counted
the same way. Every wait is bounded: a scenario that cannot finish reports `stuck` callers
instead of hanging.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

from _peers import Library

from literauth.testing._simulation import Simulation, SimulationError

WAITED_MS = 50.0  # a caller "waited" when one call took longer than this
GRACE = 20.0  # seconds a scenario may overrun its nominal duration before callers count as stuck
SETTLE_QUIET = 0.3  # request counting ends after the endpoint stayed quiet this long...
SETTLE_MAX = 3.0  # ...or after this long


def _ms(ns: float) -> float:
    return ns / 1e6


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def _settled_count(lib: Library) -> int:
    """The endpoint's request count once background refreshes (if any) have had their say."""
    deadline = time.monotonic() + SETTLE_MAX
    count = lib.control.count(lib.kind)
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now_count = lib.control.count(lib.kind)
        if now_count != count:
            count, quiet_since = now_count, time.monotonic()
        elif time.monotonic() - quiet_since >= SETTLE_QUIET:
            break
    return count


@contextlib.contextmanager
def _callers(threads: int, work: Callable[[int], None]) -> Iterator[Callable[[float], None]]:
    """`threads` daemon callers, started; the yielded `release(timeout)` runs `work(slot)` on
    all of them at once and returns when all are done or `timeout` passed.

    These are the bursts of `literauth.testing._simulation.Simulation`, as in the demo and
    the soak test. Callers still running after the timeout are left behind (daemons); each
    scenario counts them as stuck from what they did not record.
    """
    sim = Simulation(None, threads=threads, clock=time.time, name="bench-caller")
    sim.start(work)

    def release(timeout: float) -> None:
        with contextlib.suppress(SimulationError):  # the timeout: callers are stuck, not failed
            sim.burst(timeout)

    try:
        yield release
    finally:
        sim.close()


# -- speed ---------------------------------------------------------------------------------------


def cache_hit(lib: Library, params: dict[str, Any]) -> dict[str, Any]:
    """Median ns per call on a fresh cached token, one thread."""
    lib.enter("fresh")
    call = lib.call
    for _ in range(2000):  # warm up: caches, specialisation
        call()
    number = 1000
    while True:  # calibrate a batch to the target length
        start = time.perf_counter_ns()
        for _ in range(number):
            call()
        if time.perf_counter_ns() - start >= params["batch_s"] * 1e9 or number >= 10_000_000:
            break
        number *= 2
    before = lib.control.count(lib.kind)
    samples = []
    for _ in range(params["batches"]):
        start = time.perf_counter_ns()
        for _ in range(number):
            call()
        samples.append((time.perf_counter_ns() - start) / number)
    return {
        "ns_median": statistics.median(samples),
        "ns_min": min(samples),
        "calls_per_batch": number,
        "batches": len(samples),
        "requests": lib.control.count(lib.kind) - before,
    }


def _throughput(call: Callable[[], Any], threads: int, duration: float) -> tuple[int, float]:
    counts = [0] * threads
    deadline = [0.0]

    def worker(slot: int) -> None:
        end, done = deadline[0], 0
        while time.perf_counter() < end:
            for _ in range(100):
                call()
            done += 100
        counts[slot] = done

    with _callers(threads, worker) as release:
        start = time.perf_counter()
        deadline[0] = start + duration
        release(duration + GRACE)
        return sum(counts), time.perf_counter() - start


def scaling(lib: Library, params: dict[str, Any]) -> dict[str, Any]:
    """Cache-hit throughput with 8 threads divided by that with 1, in short paired rounds.

    Each round measures 1 thread, then 8, back to back; the median of the per-round ratios
    resists a shared machine's load changing during the scenario.
    """
    lib.enter("fresh")
    for _ in range(2000):
        lib.call()
    ones, manys = [], []
    for _ in range(params["rounds"]):
        calls, seconds = _throughput(lib.call, 1, params["duration"])
        ones.append(calls / seconds)
        calls, seconds = _throughput(lib.call, params["threads"], params["duration"])
        manys.append(calls / seconds)
    ratios = [many / one for one, many in zip(ones, manys) if one]
    return {
        "calls_per_s_1": statistics.median(ones),
        "calls_per_s_many": statistics.median(manys),
        "ratio": statistics.median(ratios) if ratios else float("nan"),
        "ratios": [round(r, 3) for r in ratios],
        "threads": params["threads"],
        "rounds": params["rounds"],
    }


def refresh_cost(lib: Library, params: dict[str, Any]) -> dict[str, Any]:
    """Median wall and CPU ms of one forced refresh against the local endpoint (no latency)."""
    lib.prepare_refresh()
    for _ in range(2):
        lib.refresh()
    before = lib.control.count(lib.kind)
    walls, cpus = [], []
    for _ in range(params["iterations"]):
        wall, cpu = time.perf_counter_ns(), time.process_time_ns()
        lib.refresh()
        cpus.append(_ms(time.process_time_ns() - cpu))
        walls.append(_ms(time.perf_counter_ns() - wall))
    requests = lib.control.count(lib.kind) - before
    return {
        "wall_ms": statistics.median(walls),
        "cpu_ms": statistics.median(cpus),
        "iterations": len(walls),
        "requests_per_refresh": requests / len(walls),
    }


# -- behaviour under stress -------------------------------------------------------------------------


def _stampede(lib: Library, state: str, params: dict[str, Any]) -> dict[str, Any]:
    lib.enter(state)
    lib.control.configure(lib.kind, latency=params["latency"])
    before = lib.control.count(lib.kind)
    threads = params["threads"]
    latencies: list[float | None] = [None] * threads
    errors: list[str] = []

    def caller(slot: int) -> None:
        start = time.perf_counter_ns()
        try:
            lib.call()
        except Exception as exc:  # noqa: BLE001 - a library's failure is a measurement
            errors.append(type(exc).__name__)
        latencies[slot] = _ms(time.perf_counter_ns() - start)

    with _callers(threads, caller) as release:
        release(GRACE)
    finished = [value for value in latencies if value is not None]
    requests = _settled_count(lib) - before
    return {
        "requests": requests,
        "errors": len(errors),
        "error_types": sorted(set(errors)),
        "stuck": threads - len(finished),
        "waited": sum(1 for value in finished if value > WAITED_MS),
        "median_ms": statistics.median(finished) if finished else None,
        "max_ms": max(finished) if finished else None,
        "threads": threads,
    }


def stampede_expired(lib: Library, params: dict[str, Any]) -> dict[str, Any]:
    """32 callers released at once on a token the library will not serve: requests made."""
    return _stampede(lib, "expired", params)


def stampede_stale(lib: Library, params: dict[str, Any]) -> dict[str, Any]:
    """32 callers released at once inside the refresh window: requests made, callers that waited."""
    return _stampede(lib, "stale", params)


def _loop(
    lib: Library, threads: int, duration: float, pause: float, held: str | None
) -> dict[str, Any]:
    """`threads` callers calling with `pause` between calls for `duration` seconds."""
    per_thread: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    error_types: set[str] = set()
    served_held = [0] * threads
    finished = [False] * threads
    end = [0.0]

    def caller(slot: int) -> None:
        record, call, ident = per_thread[slot], lib.call, lib.ident
        while time.perf_counter() < end[0]:
            start = time.perf_counter_ns()
            try:
                result = call()
            except Exception as exc:  # noqa: BLE001 - a library's failure is a measurement
                errors[slot] += 1
                error_types.add(type(exc).__name__)
                result = None
            record.append(_ms(time.perf_counter_ns() - start))
            if held is not None and result is not None and ident(result) == held:
                served_held[slot] += 1
            time.sleep(pause)
        finished[slot] = True

    with _callers(threads, caller) as release:
        end[0] = time.perf_counter() + duration
        release(duration + GRACE)
    latencies = [value for values in per_thread for value in values]
    return {
        "calls": len(latencies),
        "errors": sum(errors),
        "error_types": sorted(error_types),
        "served_held": sum(served_held),
        "stuck": finished.count(False),
        "p50_ms": _percentile(latencies, 0.50),
        "p99_ms": _percentile(latencies, 0.99),
        "max_ms": max(latencies) if latencies else None,
        "waited_callers": sum(1 for values in per_thread if values and max(values) > WAITED_MS),
        "waited_calls": sum(1 for value in latencies if value > WAITED_MS),
        "threads": threads,
    }


def stall(lib: Library, params: dict[str, Any]) -> dict[str, Any]:
    """A slow endpoint while the token is in the refresh window: latency callers see."""
    lib.enter("stale")
    lib.control.configure(lib.kind, latency=params["latency"])
    before = lib.control.count(lib.kind)
    result = _loop(lib, params["threads"], params["duration"], params["pause"], None)
    result["requests"] = _settled_count(lib) - before
    return result


def outage(lib: Library, params: dict[str, Any]) -> dict[str, Any]:
    """Every token request answered 503 while the token is in the refresh window."""
    held = lib.enter("stale")
    lib.control.outage(lib.kind, True)
    before = lib.control.count(lib.kind)
    result = _loop(lib, params["threads"], params["duration"], params["pause"], held)
    result["requests"] = lib.control.count(lib.kind) - before
    result["always_valid"] = result["calls"] > 0 and result["served_held"] == result["calls"]
    lib.control.outage(lib.kind, False)
    return result


SCENARIOS: dict[str, Callable[[Library, dict[str, Any]], dict[str, Any]]] = {
    "cache_hit": cache_hit,
    "scaling": scaling,
    "stampede_expired": stampede_expired,
    "stampede_stale": stampede_stale,
    "stall": stall,
    "outage": outage,
    "refresh_cost": refresh_cost,
}
TIME_TRAVEL = frozenset({"stampede_expired", "stampede_stale", "stall", "outage"})
