"""Refresh cost of workload identity federation: literauth vs google-auth, against the same fakes.

One refresh = read the subject token file, the STS exchange (and, with impersonation,
generateAccessToken), over real HTTP to `FakeIdentityServer` on 127.0.0.1. Reported per
refresh: CPU time of the calling thread (the client's work only: both libraries refresh in
the caller, the fake serves on its own threads) and wall time, as the median of `--rounds`
rounds of `--refreshes`. A literauth refresh with impersonation always does both legs;
google-auth reuses its STS token while it is valid, so its refresh here is one request.

    python benchmarks/google_federation.py [--refreshes 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from literauth import ExternalAccountCredentialProvider
from literauth.testing import FakeIdentityServer
from literauth.testing.google.iam import GoogleIamEndpoint
from literauth.testing.google.sts import GoogleStsEndpoint

CLOUD = "https://www.googleapis.com/auth/cloud-platform"


def _literauth(server: FakeIdentityServer, info: dict[str, Any]) -> Callable[[], None]:
    provider = ExternalAccountCredentialProvider.from_info(info, session=server.session(), background_refresh=False)

    def refresh() -> None:
        provider.resolve(force_refresh=True)

    return refresh


def _google_auth(info: dict[str, Any]) -> Callable[[], None]:
    import requests
    from google.auth import identity_pool
    from google.auth.transport.requests import Request

    session = requests.Session()
    session.trust_env = False
    credentials = identity_pool.Credentials.from_info(info, scopes=[CLOUD])
    transport = Request(session)

    def refresh() -> None:
        credentials.refresh(transport)

    return refresh


def _measure(refresh: Callable[[], None], refreshes: int, rounds: int) -> tuple[float, float]:
    """(median CPU ms, median wall ms) per refresh, after two warm-up refreshes."""
    refresh()
    refresh()
    cpu, wall = [], []
    for _ in range(rounds):
        started_cpu, started = time.thread_time(), time.perf_counter()
        for _ in range(refreshes):
            refresh()
        cpu.append((time.thread_time() - started_cpu) * 1000 / refreshes)
        wall.append((time.perf_counter() - started) * 1000 / refreshes)
    return statistics.median(cpu), statistics.median(wall)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--refreshes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with FakeIdentityServer() as server:
        sts = server.endpoint("google.external_account")
        iam = server.endpoint("google.impersonated")
        assert isinstance(sts, GoogleStsEndpoint) and isinstance(iam, GoogleIamEndpoint)
        plain = sts.config()
        impersonating = sts.config(service_account_impersonation_url=iam.generate_url())
        cases = [
            ("file source", "literauth", _literauth(server, plain)),
            ("file source", "google-auth", _google_auth(plain)),
            ("file source + impersonation", "literauth", _literauth(server, impersonating)),
            ("file source + impersonation", "google-auth", _google_auth(impersonating)),
        ]
        print("| refresh | library | client CPU ms / refresh | wall ms / refresh |")
        print("|---|---|---:|---:|")
        for name, library, refresh in cases:
            cpu, wall = _measure(refresh, args.refreshes, args.rounds)
            print(f"| {name} | {library} | {cpu:.2f} | {wall:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
