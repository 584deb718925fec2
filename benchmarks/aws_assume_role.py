"""Refresh cost of sts:AssumeRole: literauth's AssumeRoleProvider vs botocore's AssumeRoleCredentialFetcher.

    python benchmarks/aws_assume_role.py                 # 200 refreshes each, interleaved
    python benchmarks/aws_assume_role.py --iterations 20

Both sign with the same static source keys and call the same fake STS AssumeRole
(`literauth.testing`, which verifies every signature) over plain HTTP on 127.0.0.1. The fake
runs in its own process, so the CPU time measured (`time.process_time`) is the client's
alone: building and signing the request, the HTTP round trip, parsing the answer. botocore
is driven the way its refresh runs: `fetch_credentials()` with a cache that keeps nothing,
so every call builds its STS client and assumes the role, as on every botocore refresh.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

_SERVER = """
import json, sys
from literauth.testing import FakeIdentityServer
from literauth._registry import by_name
with FakeIdentityServer(specs=[by_name("aws.web_identity"), by_name("aws.assume_role")]) as server:
    keys = server.assume_role.source_keys
    print(json.dumps({"url": server.url, "key": keys.access_key_id.expose_secret(),
                      "secret": keys.secret_access_key.expose_secret(),
                      "token_file": server.sts.write_web_identity_token()}), flush=True)
    sys.stdin.read()  # serve until the parent closes our stdin
"""
ROLE_ARN = "arn:aws:iam::222222222222:role/literauth-bedrock-invoker"


def _measure(refresh: Callable[[], Any], iterations: int) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    for _ in range(iterations):
        wall, cpu = time.perf_counter_ns(), time.process_time_ns()
        refresh()
        cpus.append((time.process_time_ns() - cpu) / 1e6)
        walls.append((time.perf_counter_ns() - wall) / 1e6)
    return walls, cpus


def _literauth(info: dict[str, str]) -> Callable[[], Any]:
    import requests

    from literauth import AwsCredentials, SecretString
    from literauth.aws import AssumeRoleProvider
    from literauth.testing.aws.assume_role import StaticKeysProvider

    session = requests.Session()
    session.trust_env = False
    source = StaticKeysProvider(AwsCredentials(SecretString(info["key"]), SecretString(info["secret"])))
    provider = AssumeRoleProvider(source, ROLE_ARN, session_name="literauth-bench", sts_endpoint=info["url"],
                                  environ={}, session=session, background_refresh=False)
    return lambda: provider.resolve(force_refresh=True)


def _literauth_web_identity(info: dict[str, str]) -> Callable[[], Any]:
    """For reference: literauth's unsigned AssumeRoleWithWebIdentity refresh on the same server."""
    import requests

    from literauth.aws import WebIdentityCredentialProvider

    session = requests.Session()
    session.trust_env = False
    provider = WebIdentityCredentialProvider(
        "arn:aws:iam::123456789012:role/literauth-test", info["token_file"], sts_endpoint=info["url"],
        session=session, background_refresh=False,
    )
    return lambda: provider.resolve(force_refresh=True)


class _KeepNothing(dict):  # type: ignore[type-arg]
    """A credential cache that stores nothing: every fetch goes to STS, as a due refresh does."""

    def __setitem__(self, key: object, value: object) -> None:
        pass


def _botocore(info: dict[str, str]) -> Callable[[], Any]:
    import botocore.credentials
    import botocore.session

    os.environ["AWS_ENDPOINT_URL_STS"] = info["url"]
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    session = botocore.session.get_session()
    fetcher = botocore.credentials.AssumeRoleCredentialFetcher(
        session.create_client,
        botocore.credentials.Credentials(info["key"], info["secret"]),
        ROLE_ARN,
        extra_args={"RoleSessionName": "botocore-bench"},
        cache=_KeepNothing(),
    )
    return fetcher.fetch_credentials


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200, help="refreshes per library per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (the first warms up)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    server = subprocess.Popen([sys.executable, "-c", _SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": os.path.dirname(HERE)})
    try:
        assert server.stdout is not None
        info = json.loads(server.stdout.readline())
        libraries = {"literauth": _literauth(info), "botocore": _botocore(info),
                     "literauth web identity": _literauth_web_identity(info)}
        results: dict[str, dict[str, list[float]]] = {name: {"wall": [], "cpu": []} for name in libraries}
        for round_index in range(args.rounds):
            for name, refresh in libraries.items():
                for _ in range(3):
                    refresh()  # warm: imports done, connections pooled
                walls, cpus = _measure(refresh, args.iterations)
                if round_index > 0 or args.rounds == 1:
                    results[name]["wall"] += walls
                    results[name]["cpu"] += cpus
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=10)
    summary = {
        name: {"cpu_ms_median": statistics.median(r["cpu"]), "wall_ms_median": statistics.median(r["wall"]),
               "refreshes": len(r["cpu"])}
        for name, r in results.items()
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    import botocore

    print(f"sts:AssumeRole refresh against a loopback fake (median of {summary['literauth']['refreshes']})\n")
    print("| library | CPU ms per refresh | wall ms per refresh |")
    print("|---|---:|---:|")
    for name, row in summary.items():
        label = f"botocore {botocore.__version__}" if name == "botocore" else name
        if name.endswith("web identity"):
            label += " (reference: unsigned AssumeRoleWithWebIdentity)"
        print(f"| {label} | {row['cpu_ms_median']:.2f} | {row['wall_ms_median']:.2f} |")
    ratio = summary["botocore"]["cpu_ms_median"] / summary["literauth"]["cpu_ms_median"]
    print(f"\nbotocore spends {ratio:.1f}x the CPU of literauth per AssumeRole refresh.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
