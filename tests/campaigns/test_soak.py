"""Soak: 24 simulated hours, 16 threads, random outages of up to 4 minutes around refresh windows.

One Azure AD provider over real HTTP to `FakeIdentityServer`, with default policies and a
fake clock that a driver moves in steps: coarse between refresh windows, one second inside
them. At every step all 16 threads resolve; then the driver waits for any background
refresh to finish, so the identity provider answers "instantly" in simulated time. Outages
(seeded random starts and lengths) make every request fail with 503 until they end.

It must hold that no resolve() fails while a usable token exists, that every credential
handed out is usable, that each token is fetched once per refresh cycle, and that the total
number of token requests is within 10% of the ideal: one per refresh plus the retries the
policy prescribes during outages.
"""

from __future__ import annotations

import dataclasses
import random
import threading
import time
from collections.abc import Iterator

import pytest

from literauth import CredentialError
from literauth._policy import RefreshPolicy, RetryPolicy
from literauth.testing import FakeIdentityServer
from literauth.testing._simulation import Outage, RefreshQueue, Simulation

from ..conftest import FakeClock, FakeSleep

SEED = 20270115
SIMULATED = 24 * 3600.0
THREADS = 16
LIFETIME = 3600.0
MAX_OUTAGE = 240.0  # four minutes
OUTAGE_CHANCE = 0.7  # of a refresh window getting an outage
COARSE = 30.0  # seconds per step between windows
FINE = 1.0  # seconds per step around windows and outages
POLICY = RefreshPolicy()
ATTEMPTS = RetryPolicy().max_attempts
REFRESH_AFTER = LIFETIME - POLICY.refresh_margin  # jitter moves it up to POLICY.jitter earlier
WALL_LIMIT = 55.0


@dataclasses.dataclass
class Soak:
    """What the driver observed, on the simulated clock."""

    issued: list[float] = dataclasses.field(default_factory=list)  # times of successful fetches
    failed_requests: int = 0
    outages: list[Outage] = dataclasses.field(default_factory=list)
    # (when, whether a usable token existed then)
    failures: list[tuple[float, bool]] = dataclasses.field(default_factory=list)
    unusable_served: list[float] = dataclasses.field(default_factory=list)
    resolves: int = 0


def _prescribed_failed_tries(outage: Outage) -> int:
    """Background tries the policy makes inside an outage: at its first try, then after each cool-down."""
    if outage.first_try is None:
        return 0
    count, at, failures = 0, outage.first_try, 0
    while at < outage.end:
        count += 1
        failures += 1
        at += POLICY.pause_after(failures)
    return count


@pytest.fixture
def soak_server() -> Iterator[FakeIdentityServer]:
    with FakeIdentityServer() as server:
        yield server


def test_a_day_of_outages_around_refresh_windows(soak_server: FakeIdentityServer) -> None:
    rng = random.Random(SEED)
    endpoint = soak_server.azure
    clock = FakeClock(soak_server.clock())
    refreshes = RefreshQueue()
    provider = soak_server.azure_provider(clock=clock, sleep=FakeSleep(), spawn=refreshes.spawn)
    soak = Soak()
    best_expiry = [0.0]  # the latest expiry any thread was handed: is a usable token known?
    lock = threading.Lock()

    def work(index: int) -> None:
        now = clock()
        for _ in range(2):
            try:
                credential = provider.resolve()
            except CredentialError:
                with lock:
                    soak.failures.append((now, best_expiry[0] - POLICY.expiry_skew > now))
                continue
            expires = credential.expires_at_epoch
            assert expires is not None
            with lock:
                soak.resolves += 1
                best_expiry[0] = max(best_expiry[0], expires)
                if expires - POLICY.expiry_skew < now:
                    soak.unusable_served.append(now)

    sim = Simulation(soak_server, threads=THREADS, clock=clock, name="soak", refreshes=refreshes)
    sim.start(work)
    started_wall = time.monotonic()
    begin = clock.now
    outage: Outage | None = None
    next_outage: Outage | None = None
    seen_requests = 0
    steps = 0
    try:
        while clock.now - begin < SIMULATED:
            now = clock.now
            if next_outage is not None and now >= next_outage.start:
                outage, next_outage = next_outage, None
                sim.begin_outage(endpoint, outage)
                soak.outages.append(outage)
            if outage is not None and now >= outage.end:
                sim.end_outage(endpoint, outage, now)
                outage = None
            sim.burst(timeout=30)  # the workers resolve at `now`, and are done
            steps += 1
            sim.settle()  # run the background refresh the burst started, before time moves on
            count = endpoint.request_count
            if count > seen_requests:
                if outage is not None:
                    soak.failed_requests += count - seen_requests
                    if outage.first_try is None:
                        outage.first_try = now
                else:
                    surplus = count - seen_requests
                    assert surplus == 1, f"{surplus} requests at once at {now - begin:.0f} s"
                    soak.issued.append(now)
                    if rng.random() < OUTAGE_CHANCE:  # script an outage around the next refresh window
                        due = now + REFRESH_AFTER
                        start = due + rng.uniform(-60.0, 30.0)
                        next_outage = Outage(start, start + rng.uniform(10.0, MAX_OUTAGE))
                seen_requests = count
            last = soak.issued[-1] if soak.issued else begin
            fine_from = last + REFRESH_AFTER - 90
            fine_until = last + LIFETIME
            if fine_from <= now < fine_until or outage is not None:
                step = FINE
            else:
                step = min(COARSE, max(FINE, fine_from - now))
            clock.advance(step)
            assert time.monotonic() - started_wall < WALL_LIMIT, "the soak is too slow for CI"
    finally:
        sim.close()
        provider.close()
    threads = [t for t in threading.enumerate() if t.name.startswith("soak-")]
    for thread in threads:
        thread.join(10)
    assert not any(t.is_alive() for t in threads)
    for thread in [t for t in threading.enumerate() if t.name.startswith("literauth-refresh-")]:
        thread.join(10)
        assert not thread.is_alive()

    # Nobody failed while a usable token existed, and nobody was handed an unusable one.
    assert [when for when, usable in soak.failures if usable] == []
    assert soak.failures == []  # outages end before the cached token stops being usable
    assert soak.unusable_served == []
    assert soak.resolves == 2 * THREADS * steps  # every call of every step was answered

    # One fetch per refresh cycle: never early, never late by more than the outage tries.
    gaps = [b - a for a, b in zip(soak.issued, soak.issued[1:], strict=False)]
    longest_delay = sum(POLICY.pause_after(n) for n in range(1, 4)) + FINE  # tries at 0, 30, 90, 210 s
    earliest, latest = REFRESH_AFTER - POLICY.jitter - FINE, REFRESH_AFTER + longest_delay
    assert all(earliest <= gap <= latest for gap in gaps), gaps
    cycles = SIMULATED / LIFETIME
    assert cycles - 1 <= len(soak.issued) <= SIMULATED / (REFRESH_AFTER - POLICY.jitter) + 1

    effective = [o for o in soak.outages if o.first_try is not None]
    assert len(effective) >= 5, "the seed should put several outages over refresh points"
    prescribed = sum(_prescribed_failed_tries(o) for o in effective) * ATTEMPTS
    ideal = len(soak.issued) + prescribed
    actual = endpoint.request_count
    assert actual == len(soak.issued) + soak.failed_requests
    print(
        f"soak: {steps} steps, {soak.resolves} resolves, {len(soak.issued)} tokens, {len(effective)} "
        f"outages over refresh points, {soak.failed_requests} failed requests, ideal {ideal}, actual {actual}"
    )
    assert abs(actual - ideal) <= 0.10 * ideal, (actual, ideal)
    stats = provider.stats()
    assert stats.token_requests == len(soak.issued) + soak.failed_requests // ATTEMPTS
