"""`literauth demo`: the main job on an embedded identity provider, no cloud account needed.

It starts `FakeIdentityServer` on loopback, builds the Azure AD, AWS STS and Vertex AI
providers with `from_env()` as an application would (a throwaway RSA key and token file in
a temporary directory), and drives them with bursts of threads through one simulated hour
on a fast clock: refreshes ahead of expiry, and an endpoint outage during a refresh window.
Every claim it prints is checked, against the providers' stats and the server's counters.
"""

from __future__ import annotations

import dataclasses
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from .._policy import RetryPolicy
from ..aws.web_identity import WebIdentityCredentialProvider
from ..azure.client_secret import AzureAdCredentialProvider
from ..credentials import Credential
from ..errors import LiterAuthError
from ..google.service_account import VertexOAuthCredentialProvider
from ..provider import CredentialProvider, RefreshingCredentialProvider
from ..testing import Endpoint, FakeIdentityServer

__all__ = ["DemoError", "DemoReport", "DemoSettings", "ProviderReport", "run_demo"]

REFRESH_MARGIN = 300.0  # the engine's default: refresh five minutes before expiry
OUTAGE_LEAD = 30.0  # the outage starts this long before a refresh falls due
OUTAGE_LENGTH = 210.0  # long enough for three refresh attempts to fail, short of expiry
OUTAGE_FAULTS = 10_000  # more refusals queued than the outage can consume
OUTAGE_BODY = '{"error":"temporarily_unavailable","error_description":"literauth demo outage"}'
SETTLE_TIMEOUT = 20.0  # real seconds to wait for a background refresh before giving up
BARRIER_TIMEOUT = 60.0  # real seconds a burst may take before the demo gives up


class DemoError(RuntimeError):
    """The demo itself could not run (a worker crashed, a refresh hung); not a failed claim."""


@dataclasses.dataclass(frozen=True)
class DemoSettings:
    """How hard and how long to drive the providers (all times are simulated seconds)."""

    threads: int = 8
    calls_per_step: int = 50  # resolve() calls per thread and provider in each burst
    step: float = 10.0  # the clock moves this far between bursts
    duration: float = 3600.0  # one simulated hour
    lifetime: float = 900.0  # tokens live 15 minutes, so the hour holds several refreshes
    https: bool = False  # serve HTTPS with a generated CA the providers trust


@dataclasses.dataclass
class ProviderReport:
    """What one provider did in the demo, and which of the printed claims held."""

    name: str
    label: str
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
    checks: list[tuple[bool, str]] = dataclasses.field(default_factory=list)

    @property
    def issued(self) -> int:
        """Token requests the server answered with a token."""
        return self.server_requests - self.refused

    @property
    def hit_rate(self) -> float:
        return self.cache_hits / self.resolves if self.resolves else 0.0

    @property
    def ok(self) -> bool:
        return all(held for held, _ in self.checks)


@dataclasses.dataclass
class DemoReport:
    """The whole run: one report per provider and the real time it took."""

    providers: list[ProviderReport]
    url: str
    settings: DemoSettings
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether every printed claim held."""
        return all(p.ok for p in self.providers)

    @property
    def text(self) -> str:
        """The report as printed: the table, the outage, the server's counters and every check."""
        return _format(self)


class _SimClock:
    """The providers' clock: moves only when told, and moves the server's clock with it."""

    def __init__(self, server: FakeIdentityServer) -> None:
        self.start = time.time()
        self.now = self.start
        self._server = server

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self._server.advance(seconds)  # JWT iat/exp and STS expirations follow the same time

    @property
    def elapsed(self) -> float:
        return self.now - self.start


def _no_sleep(seconds: float) -> None:
    """Retries happen at once: simulated time does not pass between attempts."""


@dataclasses.dataclass
class _Tally:
    """One worker's record for one provider; merged after the run."""

    calls: int = 0
    failed: int = 0
    latencies: list[float] = dataclasses.field(default_factory=list)
    seen: list[Credential] = dataclasses.field(default_factory=list)
    outage_calls: int = 0
    outage_failed: int = 0
    outage_seen: list[Credential] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class _Outage:
    """An outage planned for one endpoint, in simulated seconds since the start."""

    start: float
    end: float
    expires: float  # when the token cached at the start expires
    active: bool = False
    done: bool = False
    count_at_start: int = 0  # the endpoint's request count when it began; after it ended, the refused
    recovered_at: float | None = None  # when the first refresh after it succeeded


class _Burst:
    """Worker threads that call `resolve()` on every provider in lock-step bursts."""

    def __init__(self, providers: Sequence[CredentialProvider], settings: DemoSettings) -> None:
        self.providers = providers
        self.settings = settings
        self.in_outage = [False] * len(providers)
        self.tallies = [[_Tally() for _ in providers] for _ in range(settings.threads)]
        self.errors: list[BaseException] = []
        self._stop = False
        self._barrier = threading.Barrier(settings.threads + 1, timeout=BARRIER_TIMEOUT)
        self._threads = [
            threading.Thread(target=self._work, args=(i,), name=f"literauth-demo-{i}", daemon=True)
            for i in range(settings.threads)
        ]
        for thread in self._threads:
            thread.start()

    def run(self) -> None:
        """One burst: release the workers and wait until each has made its calls."""
        self._barrier.wait()
        self._barrier.wait()
        if self.errors:
            raise DemoError(f"a demo worker failed: {type(self.errors[0]).__name__}")

    def close(self) -> None:
        self._stop = True
        try:
            self._barrier.wait()
        except threading.BrokenBarrierError:
            pass
        for thread in self._threads:
            thread.join(timeout=5)

    def _work(self, index: int) -> None:
        tallies = self.tallies[index]
        calls = self.settings.calls_per_step
        perf = time.perf_counter
        try:
            while True:
                self._barrier.wait()
                if self._stop:
                    return
                for p, provider in enumerate(self.providers):
                    tally, outage = tallies[p], self.in_outage[p]
                    last = tally.seen[-1] if tally.seen else None
                    for _ in range(calls):
                        started = perf()
                        try:
                            credential = provider.resolve()
                        except LiterAuthError:
                            tally.failed += 1
                            tally.outage_failed += outage
                            continue
                        tally.latencies.append(perf() - started)
                        tally.calls += 1
                        if credential is not last:
                            tally.seen.append(credential)
                            last = credential
                        if outage:
                            tally.outage_calls += 1
                            if not tally.outage_seen or tally.outage_seen[-1] is not credential:
                                tally.outage_seen.append(credential)
                self._barrier.wait()
        except threading.BrokenBarrierError:
            return
        except BaseException as exc:  # noqa: BLE001 - reported by run(); the barrier must not hang
            self.errors.append(exc)
            self._barrier.abort()


def _providers(
    server: FakeIdentityServer, env: dict[str, str], clock: _SimClock
) -> list[tuple[str, RefreshingCredentialProvider, Endpoint]]:
    """The three providers built by `from_env()` with the simulated clock, and their endpoints."""
    made: list[tuple[str, CredentialProvider, Endpoint]] = []
    setups: list[tuple[str, Callable[..., CredentialProvider], Endpoint]] = [
        ("Azure AD", AzureAdCredentialProvider.from_env, server.azure),
        ("AWS STS", WebIdentityCredentialProvider.from_env, server.sts),
        ("Vertex AI", VertexOAuthCredentialProvider.from_env, server.google),
    ]
    for label, factory, endpoint in setups:
        session = server.session() if server.https else None
        provider = factory(
            env, clock=clock, sleep=_no_sleep, retry=RetryPolicy(), refresh_margin=REFRESH_MARGIN,
            session=session,
        )
        made.append((label, provider, endpoint))
    result: list[tuple[str, RefreshingCredentialProvider, Endpoint]] = []
    for label, provider, endpoint in made:
        if not isinstance(provider, RefreshingCredentialProvider):
            raise DemoError(f"{label}: from_env() did not build a refreshing provider")
        result.append((label, provider, endpoint))
    return result


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _distinct(credentials: Sequence[Credential]) -> list[Credential]:
    unique: dict[int, Credential] = {}
    for credential in credentials:
        unique.setdefault(id(credential), credential)
    return list(unique.values())


def _clock_text(seconds: float) -> str:
    """Simulated seconds since the start as mm:ss."""
    whole = round(seconds)
    return f"{whole // 60:02d}:{whole % 60:02d}"


class _Simulation:
    """The simulated hour: bursts, clock moves, the outage, and the tally afterwards."""

    def __init__(
        self, server: FakeIdentityServer, settings: DemoSettings, progress: Callable[[str], None]
    ) -> None:
        self.server = server
        self.settings = settings
        self.progress = progress
        self.clock = _SimClock(server)
        self.outages: list[_Outage | None] = []

    def run(self, env: dict[str, str]) -> list[ProviderReport]:
        built = _providers(self.server, env, self.clock)
        providers = [provider for _, provider, _ in built]
        endpoints = [endpoint for _, _, endpoint in built]
        self.outages = [None] * len(built)
        burst = _Burst(providers, self.settings)
        try:
            self._drive(burst, providers, endpoints)
        finally:
            burst.close()
            for provider in providers:
                provider.close()
        return [
            self._report(label, provider, endpoint, burst, index)
            for index, (label, provider, endpoint) in enumerate(built)
        ]

    def _drive(
        self, burst: _Burst, providers: Sequence[RefreshingCredentialProvider], endpoints: Sequence[Endpoint]
    ) -> None:
        settings = self.settings
        steps = int(settings.duration // settings.step)
        next_report = 0.0
        for step in range(steps + 1):
            now = self.clock.elapsed
            if now >= next_report:
                self.progress(f"simulating minute {int(now // 60)} of {int(settings.duration // 60)}")
                next_report += 600.0
            self._plan_outages(providers, now)
            self._switch_outages(burst, endpoints, now)
            burst.run()
            self._settle(providers)
            self._note_recovery(providers)
            if step < steps:
                self.clock.advance(settings.step)
        burst.run()  # one more burst at the same time: a token fetched by the last refresh is served too
        self._settle(providers)

    def _plan_outages(self, providers: Sequence[RefreshingCredentialProvider], now: float) -> None:
        """From half-time on, place each outage just before the cached token's refresh falls due."""
        if now < self.settings.duration / 2:
            return
        for index, provider in enumerate(providers):
            expires_at = provider.stats().expires_at
            if self.outages[index] is not None or expires_at is None:
                continue
            expires = expires_at.timestamp() - self.clock.start
            start = expires - REFRESH_MARGIN - OUTAGE_LEAD
            if start >= now:  # otherwise wait for the next token: this refresh is too close
                self.outages[index] = _Outage(start, start + OUTAGE_LENGTH, expires)

    def _switch_outages(self, burst: _Burst, endpoints: Sequence[Endpoint], now: float) -> None:
        for index, outage in enumerate(self.outages):
            if outage is None or outage.done:
                continue
            endpoint = endpoints[index]
            if not outage.active and now >= outage.start:
                outage.active = True
                outage.count_at_start = endpoint.request_count
                endpoint.fail(503, OUTAGE_BODY, headers={"Content-Type": "application/json"}, times=OUTAGE_FAULTS)
            elif outage.active and now >= outage.end:
                endpoint.clear_faults()
                outage.active, outage.done = False, True
                outage.end = now
                outage.count_at_start = endpoint.request_count - outage.count_at_start  # now: refused
            burst.in_outage[index] = outage.active

    def _note_recovery(self, providers: Sequence[RefreshingCredentialProvider]) -> None:
        for index, outage in enumerate(self.outages):
            if outage is None or outage.recovered_at is not None or not (outage.active or outage.done):
                continue
            last = providers[index].stats().last_refresh
            if last is not None and last.timestamp() - self.clock.start > outage.start:
                outage.recovered_at = last.timestamp() - self.clock.start

    @staticmethod
    def _settle(providers: Sequence[RefreshingCredentialProvider]) -> None:
        """Wait for background refreshes started in the burst, so each burst sees a settled cache."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        while any(provider.stats().refreshing for provider in providers):
            if time.monotonic() > deadline:
                raise DemoError("a background refresh did not finish in time")
            time.sleep(0.0005)

    def _report(
        self, label: str, provider: RefreshingCredentialProvider, endpoint: Endpoint, burst: _Burst, index: int
    ) -> ProviderReport:
        tallies = [worker[index] for worker in burst.tallies]
        latencies = sorted(x for tally in tallies for x in tally.latencies)
        stats = provider.stats()
        outage = self.outages[index]
        report = ProviderReport(
            name=provider.provider_name,
            label=label,
            calls=sum(t.calls for t in tallies),
            failed=sum(t.failed for t in tallies),
            tokens_served=len(_distinct([c for t in tallies for c in t.seen])),
            resolves=stats.resolves,
            cache_hits=stats.cache_hits,
            fetches=stats.token_requests,
            failed_refreshes=stats.failures,
            server_requests=endpoint.request_count,
            p50=_percentile(latencies, 0.50),
            p99=_percentile(latencies, 0.99),
        )
        if outage is not None and outage.done:
            report.outage_start, report.outage_end = outage.start, outage.end
            report.refused = outage.count_at_start
            report.outage_calls = sum(t.outage_calls for t in tallies)
            report.outage_failed = sum(t.outage_failed for t in tallies)
            served = _distinct([c for t in tallies for c in t.outage_seen])
            report.outage_tokens = len(served)
            report.outage_token_valid = all(
                (c.expires_at_epoch or float("inf")) - self.clock.start > outage.end for c in served
            )
            if outage.recovered_at is not None:
                report.recovered_at = outage.recovered_at
                report.recovered_margin = outage.expires - outage.recovered_at
        report.checks = _checks(report, RetryPolicy().max_attempts)
        return report


def _checks(r: ProviderReport, attempts: int) -> list[tuple[bool, str]]:
    """Each claim the demo prints about one provider, with whether it held."""
    fetched = r.fetches - r.failed_refreshes  # the provider's own count of tokens it obtained
    checks = [
        (
            r.tokens_served == fetched == r.issued,
            (
                f"one token request per refresh: {fetched} tokens fetched, {r.tokens_served} served "
                f"(1 initial + {max(0, r.tokens_served - 1)} refreshes), {r.issued} issued by the server"
            ),
        ),
        (
            r.failed == 0,
            f"no failed call while a valid token existed: {r.failed} of {r.calls + r.failed} calls failed",
        ),
        (
            r.calls + r.failed == r.resolves,
            f"every call counted: {r.calls + r.failed} calls made, the provider counted {r.resolves}",
        ),
    ]
    if r.outage_start is None:
        checks.append((False, "the outage took place within the hour"))
        return checks
    checks += [
        (
            r.outage_calls > 0 and r.outage_failed == 0 and r.outage_tokens == 1 and r.outage_token_valid,
            (
                f"during the outage all {r.outage_calls} calls were served on the cached, unexpired token "
                f"({r.outage_failed} failed)"
            ),
        ),
        (
            r.failed_refreshes > 0 and r.refused == r.failed_refreshes * attempts,
            (
                f"the outage hit the refresh: {r.failed_refreshes} background refreshes failed, "
                f"{r.refused} requests refused ({attempts} tries each)"
            ),
        ),
        (
            r.recovered_at is not None and r.outage_end is not None and r.recovered_at >= r.outage_end
            and r.recovered_margin is not None and r.recovered_margin > 0,
            "the token was refreshed after the outage, before the cached one expired",
        ),
        (
            r.server_requests == fetched + r.refused,
            (
                f"the server's counters agree: {r.server_requests} requests seen = {fetched} tokens fetched "
                f"+ {r.refused} refused"
            ),
        ),
    ]
    return checks


def _format(report: DemoReport) -> str:
    s = report.settings
    title = (
        f"literauth demo: FakeIdentityServer at {report.url}, {s.threads} threads, "
        f"one simulated hour in {s.step:g}-second steps"
    )
    timing = (
        f"  tokens live {s.lifetime / 60:g} min and are refreshed {REFRESH_MARGIN / 60:g} min before expiry, "
        "in the background"
    )
    header = (
        f"{'provider':<24}{'calls served':>14}{'failed':>8}{'token requests':>16}{'refused':>9}"
        f"{'tokens':>8}{'cache hits':>12}{'p50 resolve':>13}{'p99 resolve':>13}"
    )
    lines = [title, timing, "", header]
    for p in report.providers:
        lines.append(
            f"{p.name:<24}{p.calls:>14}{p.failed:>8}{p.server_requests:>16}{p.refused:>9}"
            f"{p.tokens_served:>8}{p.hit_rate:>12.3%}{p.p50 * 1e6:>10.1f} us{p.p99 * 1e6:>10.1f} us"
        )
    outage = (
        f"Outage: each endpoint answers 503 for {OUTAGE_LENGTH / 60:g} simulated minutes, "
        "starting just before a refresh falls due:"
    )
    lines += ["", outage]
    for p in report.providers:
        if p.outage_start is None or p.outage_end is None:
            lines.append(f"  {p.name:<24}no outage took place")
            continue
        recovered = (
            f"refreshed at {_clock_text(p.recovered_at)}, {p.recovered_margin / 60:.1f} min before it expired"
            if p.recovered_at is not None and p.recovered_margin is not None
            else "not refreshed afterwards"
        )
        lines.append(
            f"  {p.name:<24}{_clock_text(p.outage_start)}-{_clock_text(p.outage_end)}: "
            f"{p.failed_refreshes} refresh attempts failed ({p.refused} requests refused); "
            f"{p.outage_calls} calls served on the cached token, {p.outage_failed} failed; {recovered}"
        )
    lines += ["", "Server counters (FakeIdentityServer's own):"]
    for p in report.providers:
        lines.append(
            f"  {p.name:<24}{p.server_requests} requests = {p.issued} tokens issued + {p.refused} refused"
        )
    lines += ["", "Checks:"]
    total = held = 0
    for p in report.providers:
        for ok, text in p.checks:
            total += 1
            held += ok
            lines.append(f"  [{'ok' if ok else 'FAILED'}] {p.name}: {text}")
    lines.append("")
    if held == total:
        lines.append(f"All {total} claims held ({report.elapsed:.1f} s).")
    else:
        lines.append(f"{total - held} of {total} claims did NOT hold ({report.elapsed:.1f} s).")
    return "\n".join(lines) + "\n"


def run_demo(
    settings: DemoSettings | None = None,
    *,
    out: TextIO | None = None,
    progress: Callable[[str], None] | None = None,
    server: FakeIdentityServer | None = None,
) -> DemoReport:
    """Run the demo and return its report; print it to `out` when given.

    `server`, when given, must be running; the demo then uses (and leaves running) it, so a
    caller can compare the printed counts with the server's own.
    """
    settings = settings or DemoSettings()
    report_progress = progress or (lambda message: None)
    started = time.perf_counter()
    owned = server is None
    if server is None:
        report_progress("starting FakeIdentityServer on 127.0.0.1")
        server = FakeIdentityServer(https=settings.https)
        server.start()
    try:
        for endpoint in (server.azure, server.sts, server.google):
            endpoint.lifetime = settings.lifetime
        with tempfile.TemporaryDirectory(prefix="literauth-demo-") as directory:
            report_progress("generating a throwaway RSA key and web identity token")
            env = server.environ(directory)  # a token file and a throwaway service-account key
            report = DemoReport([], server.url, settings)
            report.providers = _Simulation(server, settings, report_progress).run(env)
    finally:
        if owned:
            server.stop()
    report.elapsed = time.perf_counter() - started
    if out is not None:
        out.write(_format(report))
        out.flush()
    return report
