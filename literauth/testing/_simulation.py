"""Simulated time for providers on `FakeIdentityServer`: one harness for the demo, the soak
test and the benchmarks.

A `Simulation` holds a clock that moves only when told (and moves the server's clock with
it), daemon worker threads released together in bursts, the wait for background refreshes
between bursts, and outages switched on and off at simulated times. `run_hour()` is the
simulated hour `literauth demo` prints: three providers, bursts of threads, one outage each
just before a refresh, and the counters the demo's claims are checked against.

Every wait is cut into short slices and watches one stop event, so Ctrl-C (or a failing
worker) ends a run within a fraction of a second; workers are daemon threads, so a worker
stuck in a call can never hold the process.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._policy import RefreshPolicy, RetryPolicy
from .._registry import ProviderSpec
from ..credentials import Credential
from ..errors import LiterAuthError
from ..provider import CredentialProvider, RefreshingCredentialProvider
from . import Endpoint, FakeIdentityServer

if TYPE_CHECKING:
    from typing_extensions import Self  # noqa: UP035 - Python 3.10 has no typing.Self

__all__ = [
    "DETERMINISTIC_REFRESH", "HourSettings", "Outage", "ProviderRun", "SimulatedClock", "Simulation",
    "SimulationError", "Tally", "endpoint_for", "run_hour",
]

WAKE = 0.05  # waits are cut into slices this long, so a stop is noticed at once
JOIN_GRACE = 0.1  # real seconds, in all, that close() waits for the workers to leave
BURST_TIMEOUT = 60.0  # real seconds a burst may take before the run gives up
OUTAGE_BODY = '{"error":"temporarily_unavailable","error_description":"literauth simulated outage"}'
OUTAGE_FAULTS = 10_000  # more refusals queued than an outage can consume
# The engine's defaults, without the random jitter of the refresh point: the same run gives
# the same refresh times, outage windows and counts every time.
DETERMINISTIC_REFRESH = dataclasses.replace(RefreshPolicy(), jitter=0.0)


class SimulationError(RuntimeError):
    """The simulation itself could not run (a worker crashed, a refresh hung); not a failed claim."""


class SimulatedClock:
    """The providers' clock: moves only when told, and keeps the server's clock level with it.

    `start` is a whole second (default: now, rounded down), so the expiries the fake STS
    writes to the second fall on the same simulated times as everyone else's.
    """

    def __init__(self, server: FakeIdentityServer | None = None, start: float | None = None) -> None:
        self.start = float(math.floor(time.time() if start is None else start))
        self.now = self.start
        self._server = server
        self._sync()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self._sync()

    def _sync(self) -> None:
        if self._server is not None:  # JWT iat/exp and STS expirations follow the same time, exactly
            self._server.freeze_clock(self.now)

    @property
    def elapsed(self) -> float:
        """Simulated seconds since the start."""
        return self.now - self.start


def no_sleep(seconds: float) -> None:
    """Retries happen at once: simulated time does not pass between attempts."""


@dataclasses.dataclass
class Outage:
    """An outage of one endpoint, in simulated seconds since the start."""

    start: float
    end: float
    expires: float | None = None  # when the token cached at its start expires
    active: bool = False
    done: bool = False
    requests_at_start: int = 0  # the endpoint's request count when it began
    refused: int = 0  # requests made while it lasted, counted when it ends
    first_try: float | None = None  # when the first request inside it was made
    recovered_at: float | None = None  # when the first refresh after it began succeeded


@dataclasses.dataclass
class Tally:
    """One worker's record for one provider; merged after the run."""

    calls: int = 0
    failed: int = 0
    latencies: list[float] = dataclasses.field(default_factory=list)
    seen: list[Credential] = dataclasses.field(default_factory=list)
    outage_calls: int = 0
    outage_failed: int = 0
    outage_seen: list[Credential] = dataclasses.field(default_factory=list)


class _Workers:
    """Daemon threads that each run `work(index)` once per burst, released together."""

    def __init__(self, threads: int, work: Callable[[int], None], stop: threading.Event, name: str) -> None:
        self._work = work
        self._stop = stop
        self._changed = threading.Condition()
        self._round = 0
        self._done = 0
        self.errors: list[BaseException] = []
        self._threads = [
            threading.Thread(target=self._loop, args=(i,), name=f"{name}-{i}", daemon=True) for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def burst(self, timeout: float) -> None:
        """Release every worker for one round and wait until each has finished it."""
        with self._changed:
            self._done = 0
            self._round += 1
            self._changed.notify_all()
            deadline = time.monotonic() + timeout
            while self._done < len(self._threads):
                if self.errors:
                    raise SimulationError(f"a worker failed: {type(self.errors[0]).__name__}: {self.errors[0]}")
                if self._stop.is_set():
                    raise SimulationError("the simulation was stopped")
                if time.monotonic() > deadline:
                    raise SimulationError(f"a burst took longer than {timeout:g} s")
                self._changed.wait(WAKE)
        if self.errors:
            raise SimulationError(f"a worker failed: {type(self.errors[0]).__name__}: {self.errors[0]}")

    def close(self) -> None:
        """Stop the workers; wait for them only briefly (they are daemons)."""
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        deadline = time.monotonic() + JOIN_GRACE
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _loop(self, index: int) -> None:
        seen = 0
        while True:
            with self._changed:
                while self._round == seen and not self._stop.is_set():
                    self._changed.wait(WAKE)
                if self._stop.is_set():
                    return
                seen = self._round
            try:
                self._work(index)
            except BaseException as exc:  # noqa: BLE001 - reported by burst(), which must not hang
                self.errors.append(exc)
                self._stop.set()
            with self._changed:
                self._done += 1
                self._changed.notify_all()


class RefreshQueue:
    """A `spawn=` for providers: background refresh jobs are queued, and run when the driver says.

    The simulation hands `spawn` to every provider it builds, so a refresh that falls due in
    a burst runs at a chosen moment (`run_pending()`, between bursts) instead of on a thread
    that has to be waited for: the runs are deterministic and nothing polls.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: list[Callable[[], None]] = []
        self.ran = 0

    def spawn(self, job: Callable[[], None], name: str) -> None:
        """Queue `job` (the engine's background refresh named `name`)."""
        with self._lock:
            self._jobs.append(job)

    def run_pending(self, stop: threading.Event | None = None) -> int:
        """Run every queued job (and any they queue) in this thread; how many ran."""
        count = 0
        while True:
            with self._lock:
                jobs, self._jobs = self._jobs, []
            if not jobs:
                return count
            for job in jobs:
                if stop is not None and stop.is_set():
                    raise SimulationError("the simulation was stopped")
                job()
                count += 1
                self.ran += 1


class Simulation:
    """Simulated time and bursts of worker threads around providers on `server`.

    `start(work)` starts `threads` daemon workers; each `burst()` runs `work(index)` once on
    every worker, all released together, and returns when all are done. `stop` is set by
    `close()`, by a failing worker, or by anyone who wants the run to end: work functions
    should check `stopping` between calls.
    """

    def __init__(self, server: FakeIdentityServer | None, *, threads: int, clock: Callable[[], float] | None = None,
                 name: str = "literauth-sim", refreshes: RefreshQueue | None = None) -> None:
        self.server = server
        self.threads = threads
        self.clock = SimulatedClock(server) if clock is None else clock
        self.refreshes = RefreshQueue() if refreshes is None else refreshes  #: pass `.spawn` as `spawn=`
        self.stop = threading.Event()
        self._name = name
        self._workers: _Workers | None = None

    @property
    def stopping(self) -> bool:
        return self.stop.is_set()

    def start(self, work: Callable[[int], None]) -> None:
        self._workers = _Workers(self.threads, work, self.stop, self._name)

    def burst(self, timeout: float = BURST_TIMEOUT) -> None:
        if self._workers is None:
            raise SimulationError("start() the workers before a burst")
        self._workers.burst(timeout)

    @property
    def spawn(self) -> Callable[[Callable[[], None], str], None]:
        """The `spawn=` option for providers this simulation drives."""
        return self.refreshes.spawn

    def settle(self) -> int:
        """Run the background refreshes the last burst started, so the next one sees their result."""
        return self.refreshes.run_pending(self.stop)

    def wait(self, event: threading.Event) -> bool:
        """Wait for `event`, or until the run stops; whether the event happened."""
        while not event.wait(WAKE):
            if self.stop.is_set():
                return False
        return True

    @staticmethod
    def begin_outage(endpoint: Endpoint, outage: Outage, *, faults: int = OUTAGE_FAULTS) -> None:
        """Every request to `endpoint` answers 503 until `end_outage()`."""
        outage.active = True
        outage.requests_at_start = endpoint.credential_request_count
        endpoint.fail(503, OUTAGE_BODY, headers={"Content-Type": "application/json"}, times=faults)

    @staticmethod
    def end_outage(endpoint: Endpoint, outage: Outage, now: float) -> None:
        endpoint.clear_faults()
        outage.active = False
        outage.done = True
        outage.end = now
        outage.refused = endpoint.credential_request_count - outage.requests_at_start

    def close(self) -> None:
        self.stop.set()
        if self._workers is not None:
            self._workers.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def endpoint_for(server: FakeIdentityServer, spec: ProviderSpec) -> Endpoint:
    """The endpoint of `server` that fakes `spec`'s identity provider."""
    try:
        return server.endpoint(spec.name)
    except KeyError:
        raise SimulationError(f"{spec.name}: FakeIdentityServer has no endpoint for it") from None


# -- the demo's hour ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class HourSettings:
    """How hard and how long to drive the providers (all times are simulated seconds)."""

    threads: int = 8
    calls_per_step: int = 50  # resolve() calls per thread and provider in each burst
    step: float = 10.0  # the clock moves this far between bursts
    duration: float = 3600.0  # one simulated hour
    lifetime: float = 900.0  # tokens live 15 minutes, so the hour holds several refreshes
    outage_lead: float = 30.0  # the outage starts this long before a refresh falls due
    outage_length: float = 210.0  # long enough for three refresh attempts to fail, short of expiry
    https: bool = False  # serve HTTPS with a generated CA the providers trust

    @property
    def refresh_margin(self) -> float:
        return DETERMINISTIC_REFRESH.refresh_margin


@dataclasses.dataclass
class ProviderRun:
    """What one provider did in the hour: its counters, the server's, and the outage's."""

    name: str
    calls: int = 0
    failed: int = 0
    tokens_served: int = 0
    resolves: int = 0
    cache_hits: int = 0
    fetches: int = 0
    failed_refreshes: int = 0
    server_requests: int = 0
    refused: int = 0
    p50: float = 0.0
    p99: float = 0.0
    outage_start: float | None = None
    outage_end: float | None = None
    outage_calls: int = 0
    outage_failed: int = 0
    outage_tokens: int = 0
    outage_token_valid: bool = False
    recovered_at: float | None = None
    recovered_margin: float | None = None

    @property
    def issued(self) -> int:
        """Token requests the server answered with a token."""
        return self.server_requests - self.refused

    @property
    def hit_rate(self) -> float:
        return self.cache_hits / self.resolves if self.resolves else 0.0


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _distinct(credentials: Iterable[Credential]) -> list[Credential]:
    unique: dict[int, Credential] = {}
    for credential in credentials:
        unique.setdefault(id(credential), credential)
    return list(unique.values())


class _Hour:
    """The simulated hour: bursts, clock moves, one outage per provider, and the tally."""

    def __init__(self, sim: Simulation, clock: SimulatedClock, settings: HourSettings,
                 providers: Sequence[RefreshingCredentialProvider], endpoints: Sequence[Endpoint],
                 progress: Callable[[str], None]) -> None:
        self.sim = sim
        self.clock = clock
        self.settings = settings
        self.providers = providers
        self.endpoints = endpoints
        self.progress = progress
        self.outages: list[Outage | None] = [None] * len(providers)
        self.in_outage = [False] * len(providers)
        self.tallies = [[Tally() for _ in providers] for _ in range(settings.threads)]
        # The very first call to each provider is made by worker 0 alone, so exactly one
        # caller waits for the initial token and the hit rate is the same on every run.
        self.primed = [threading.Event() for _ in providers]

    def work(self, index: int) -> None:
        """One worker's share of a burst: `calls_per_step` calls on every provider."""
        perf = time.perf_counter
        for p, provider in enumerate(self.providers):
            if index != 0 and not self.primed[p].is_set() and not self.sim.wait(self.primed[p]):
                return
            tally, outage = self.tallies[index][p], self.in_outage[p]
            last = tally.seen[-1] if tally.seen else None
            for _ in range(self.settings.calls_per_step):
                if self.sim.stopping:
                    return
                started = perf()
                try:
                    credential = provider.resolve()
                except LiterAuthError:
                    tally.failed += 1
                    tally.outage_failed += outage
                    continue
                finally:
                    if index == 0:
                        self.primed[p].set()
                tally.latencies.append(perf() - started)
                tally.calls += 1
                if credential is not last:
                    tally.seen.append(credential)
                    last = credential
                if outage:
                    tally.outage_calls += 1
                    if not tally.outage_seen or tally.outage_seen[-1] is not credential:
                        tally.outage_seen.append(credential)

    def drive(self) -> None:
        settings = self.settings
        steps = int(settings.duration // settings.step)
        next_report = 0.0
        for index in range(steps + 1):
            now = index * settings.step  # exact: no sum of floats drifts from the step grid
            if now >= next_report:
                self.progress(f"simulating minute {int(now // 60)} of {int(settings.duration // 60)}")
                next_report += 600.0
            self._plan_outages(now)
            self._switch_outages(now)
            self.sim.burst()
            self.sim.settle()
            self._note_recovery()
            if index < steps:
                self.clock.advance(settings.step)
        self.sim.burst()  # one more burst at the same time: a token fetched by the last refresh is served too
        self.sim.settle()

    def _plan_outages(self, now: float) -> None:
        """From half-time on, place each outage on the step just before the cached token's refresh."""
        settings = self.settings
        if now < settings.duration / 2:
            return
        for index, provider in enumerate(self.providers):
            expires_at = provider.stats().expires_at
            if self.outages[index] is not None or expires_at is None:
                continue
            expires = expires_at.timestamp() - self.clock.start
            start = round((expires - settings.refresh_margin - settings.outage_lead) / settings.step) * settings.step
            if start >= now:  # otherwise wait for the next token: this refresh is too close
                self.outages[index] = Outage(start, start + settings.outage_length, expires)

    def _switch_outages(self, now: float) -> None:
        for index, outage in enumerate(self.outages):
            if outage is None or outage.done:
                continue
            if not outage.active and now >= outage.start:
                self.sim.begin_outage(self.endpoints[index], outage)
            elif outage.active and now >= outage.end:
                self.sim.end_outage(self.endpoints[index], outage, now)
            self.in_outage[index] = outage.active

    def _note_recovery(self) -> None:
        for index, outage in enumerate(self.outages):
            if outage is None or outage.recovered_at is not None or not (outage.active or outage.done):
                continue
            last = self.providers[index].stats().last_refresh
            if last is not None and last.timestamp() - self.clock.start > outage.start:
                outage.recovered_at = last.timestamp() - self.clock.start

    def report(self, index: int) -> ProviderRun:
        provider, endpoint = self.providers[index], self.endpoints[index]
        tallies = [worker[index] for worker in self.tallies]
        latencies = sorted(x for tally in tallies for x in tally.latencies)
        stats = provider.stats()
        run = ProviderRun(
            name=provider.provider_name,
            calls=sum(t.calls for t in tallies),
            failed=sum(t.failed for t in tallies),
            tokens_served=len(_distinct(c for t in tallies for c in t.seen)),
            resolves=stats.resolves,
            cache_hits=stats.cache_hits,
            fetches=stats.token_requests,
            failed_refreshes=stats.failures,
            server_requests=endpoint.credential_request_count,
            p50=_percentile(latencies, 0.50),
            p99=_percentile(latencies, 0.99),
        )
        outage = self.outages[index]
        if outage is not None and outage.done:
            run.outage_start = outage.start
            run.outage_end = outage.end
            run.refused = outage.refused
            run.outage_calls = sum(t.outage_calls for t in tallies)
            run.outage_failed = sum(t.outage_failed for t in tallies)
            served = _distinct(c for t in tallies for c in t.outage_seen)
            run.outage_tokens = len(served)
            run.outage_token_valid = all(
                (c.expires_at_epoch or float("inf")) - self.clock.start > outage.end for c in served
            )
            if outage.recovered_at is not None and outage.expires is not None:
                run.recovered_at = outage.recovered_at
                run.recovered_margin = outage.expires - outage.recovered_at
        return run


def run_hour(
    server: FakeIdentityServer,
    environ: Mapping[str, str] | Callable[[ProviderSpec], Mapping[str, str]],
    specs: Sequence[ProviderSpec],
    settings: HourSettings,
    progress: Callable[[str], None] = lambda message: None,
    **options: Any,
) -> list[ProviderRun]:
    """Build each spec's provider from `environ` with `from_env()`, drive them through the hour.

    `environ` is one environment for all, or a function giving each spec its own (Google's
    file types share `GOOGLE_APPLICATION_CREDENTIALS`). `server` must be running, its
    endpoints' lifetimes set; `options` go to every `from_env()`.
    """
    clock = SimulatedClock(server)
    refreshes = RefreshQueue()
    providers: list[RefreshingCredentialProvider] = []
    endpoints: list[Endpoint] = []
    try:
        for spec in specs:
            provider: CredentialProvider = spec.from_env(
                environ(spec) if callable(environ) else environ, clock=clock, sleep=no_sleep, retry=RetryPolicy(), refresh_policy=DETERMINISTIC_REFRESH,
                session=server.session(), spawn=refreshes.spawn, **options,
            )
            if not isinstance(provider, RefreshingCredentialProvider):
                raise SimulationError(f"{spec.name}: from_env() did not build a refreshing provider")
            providers.append(provider)
            endpoints.append(endpoint_for(server, spec))
        with Simulation(server, threads=settings.threads, clock=clock, name="literauth-demo",
                        refreshes=refreshes) as sim:
            hour = _Hour(sim, clock, settings, providers, endpoints, progress)
            sim.start(hour.work)
            hour.drive()
    finally:
        for provider in providers:
            provider.close()
    return [hour.report(index) for index in range(len(providers))]
