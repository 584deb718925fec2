"""`literauth demo`: what it prints. The simulated hour itself is `literauth.testing._simulation`.

The demo starts `FakeIdentityServer` on loopback, builds every registry provider with
`from_env()` as an application would (a throwaway RSA key and token file in a temporary
directory), drives them through one simulated hour with an endpoint outage during a refresh
window, and checks every claim it prints against the providers' stats and the server's
counters. A provider whose fake cannot run here (`FakeIdentityServer.unavailable`: its extra
is not installed) is skipped, and the demo says so, one line each with the reason.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from .._policy import RetryPolicy
from .._registry import SPECS, ProviderSpec
from ..testing import FakeIdentityServer
from ..testing._simulation import (
    HourSettings,
    ProviderRun,
    SimulationError,
    endpoint_for,
    run_hour,
)
from ._common import EXIT_FAILURE, EXIT_OK, CommandFailed
from ._progress import Progress

__all__ = ["DemoReport", "DemoSettings", "Skipped", "run", "run_demo"]

DemoSettings = HourSettings
_HTTPS_PACKAGE = "cryptography"
_HTTPS_INSTALL = 'pip install cryptography (or "literauth[all]")'


@dataclasses.dataclass
class ProviderReport(ProviderRun):
    """One provider's run, and each claim printed about it with whether it held."""

    checks: list[tuple[bool, str]] = dataclasses.field(default_factory=list)

    @classmethod
    def of(cls, run: ProviderRun, attempts: int) -> ProviderReport:
        """The report of `run`, its claims checked (`attempts`: tries per refresh)."""
        counters = {field.name: getattr(run, field.name) for field in dataclasses.fields(ProviderRun)}
        return cls(**counters, checks=_checks(run, attempts))

    @property
    def ok(self) -> bool:
        return all(held for held, _ in self.checks)


@dataclasses.dataclass(frozen=True)
class Skipped:
    """A provider the demo could not run here: its spec name and why (safe to print)."""

    name: str
    reason: str


@dataclasses.dataclass
class DemoReport:
    """The whole run: one report per provider, the providers skipped, and the real time it took."""

    providers: list[ProviderReport]
    url: str
    settings: HourSettings
    skipped: list[Skipped] = dataclasses.field(default_factory=list)
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether every printed claim held."""
        return all(p.ok for p in self.providers)

    @property
    def text(self) -> str:
        """The report as printed: the table, the outage, the server's counters and every check."""
        return _format(self)


def _checks(r: ProviderRun, attempts: int) -> list[tuple[bool, str]]:
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


def _clock_text(seconds: float) -> str:
    """Simulated seconds since the start as mm:ss."""
    whole = round(seconds)
    return f"{whole // 60:02d}:{whole % 60:02d}"


def _format(report: DemoReport) -> str:
    s = report.settings
    title = (
        f"literauth demo: FakeIdentityServer at {report.url}, {s.threads} threads, "
        f"one simulated hour in {s.step:g}-second steps"
    )
    timing = (
        f"  tokens live {s.lifetime / 60:g} min and are refreshed {s.refresh_margin / 60:g} min before expiry, "
        "in the background"
    )
    header = (
        f"{'provider':<24}{'calls served':>14}{'failed':>8}{'token requests':>16}{'refused':>9}"
        f"{'tokens':>8}{'cache hits':>12}{'p50 resolve':>13}{'p99 resolve':>13}"
    )
    lines = [title, timing, "", header]
    for r in report.providers:
        lines.append(
            f"{r.name:<24}{r.calls:>14}{r.failed:>8}{r.server_requests:>16}{r.refused:>9}"
            f"{r.tokens_served:>8}{r.hit_rate:>12.3%}{r.p50 * 1e6:>10.1f} us{r.p99 * 1e6:>10.1f} us"
        )
    outage = (
        f"Outage: each endpoint answers 503 for {s.outage_length / 60:g} simulated minutes, "
        "starting just before a refresh falls due:"
    )
    lines += ["", outage]
    for r in report.providers:
        lines.append(_outage_line(r))
    lines += ["", "Server counters (FakeIdentityServer's own):"]
    for r in report.providers:
        lines.append(f"  {r.name:<26}{r.server_requests} requests = {r.issued} tokens issued + {r.refused} refused")
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


def _outage_line(r: ProviderRun) -> str:
    if r.outage_start is None or r.outage_end is None:
        return f"  {r.name:<26}no outage took place"
    recovered = (
        f"refreshed at {_clock_text(r.recovered_at)}, {r.recovered_margin / 60:.1f} min before it expired"
        if r.recovered_at is not None and r.recovered_margin is not None
        else "not refreshed afterwards"
    )
    return (
        f"  {r.name:<26}{_clock_text(r.outage_start)}-{_clock_text(r.outage_end)}: "
        f"{r.failed_refreshes} refresh attempts failed ({r.refused} requests refused); "
        f"{r.outage_calls} calls served on the cached token, {r.outage_failed} failed; {recovered}"
    )


def _runnable(server: FakeIdentityServer, specs: Sequence[ProviderSpec]) -> tuple[list[ProviderSpec], list[Skipped]]:
    """The specs the server can fake here, and those it cannot with the reason.

    The reasons are `FakeIdentityServer.unavailable`'s (a missing optional package, and
    the extra that brings it), so the demo never guesses on its own.
    """
    ready = [spec for spec in specs if spec.name not in server.unavailable]
    skipped = [Skipped(spec.name, server.unavailable[spec.name]) for spec in specs if spec.name in server.unavailable]
    return ready, skipped


def skipped_line(skipped: Skipped) -> str:
    """The line saying one provider was skipped, and why (e.g. the extra to install)."""
    return f"demo: skipped {skipped.name}: {skipped.reason}"


def run_demo(
    settings: HourSettings | None = None,
    *,
    out: TextIO | None = None,
    progress: Callable[[str], None] | None = None,
    server: FakeIdentityServer | None = None,
    specs: Sequence[ProviderSpec] | None = None,
) -> DemoReport:
    """Run the demo and return its report; print it to `out` when given.

    `server`, when given, must be running; the demo then uses (and leaves running) it, so a
    caller can compare the printed counts with the server's own.
    """
    if specs is None:  # every provider FakeIdentityServer fakes (a process provider has no endpoint)
        specs = [spec for spec in SPECS if spec.fake is not None and spec.standalone]
    settings = settings or HourSettings()
    report_progress = progress or (lambda message: None)
    started = time.perf_counter()
    owned = server is None
    if server is None:
        report_progress("starting FakeIdentityServer on 127.0.0.1")
        server = FakeIdentityServer(https=settings.https)
        server.start()
    url = server.url
    try:
        for spec in specs:
            endpoint_for(server, spec).lifetime = settings.lifetime
        with tempfile.TemporaryDirectory(prefix="literauth-demo-") as directory:
            report_progress("writing throwaway tokens and keys for the fakes")
            server.environ(directory)  # a token file and, with cryptography, a service-account key
            ready, skipped = _runnable(server, specs)  # after environ(), which may add to `unavailable`
            envs = {spec.name: server.environ(directory, spec=spec.name) for spec in ready}  # before the clock
            runs = run_hour(server, lambda spec: envs[spec.name], ready, settings, report_progress)
    finally:
        if owned:
            server.stop()
    attempts = RetryPolicy().max_attempts
    report = DemoReport([ProviderReport.of(r, attempts) for r in runs], url, settings, skipped)
    report.elapsed = time.perf_counter() - started
    if out is not None:
        out.write(report.text)
        out.flush()
    return report


def _require_https_support() -> None:
    try:
        __import__(_HTTPS_PACKAGE)
    except ImportError:
        raise CommandFailed(f"demo --https needs the {_HTTPS_PACKAGE} package: {_HTTPS_INSTALL}") from None


def run(args: argparse.Namespace, ui: Progress) -> int:
    """The `demo` command."""
    settings = HourSettings(threads=args.threads, https=args.https)
    if settings.https:
        _require_https_support()
    try:
        with ui.task("running the demo: one simulated hour") as update:
            report = run_demo(settings, progress=update)
    except SimulationError as exc:
        raise CommandFailed(f"the demo could not run: {exc}") from exc
    for skipped in report.skipped:
        ui.note(skipped_line(skipped))
    sys.stdout.write(report.text)
    sys.stdout.flush()
    return EXIT_OK if report.ok else EXIT_FAILURE
