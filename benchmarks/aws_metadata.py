"""Benchmark the AWS metadata sources against botocore: the "no IMDS here" decision, and refresh CPU.

    python benchmarks/aws_metadata.py            # full: 7 black-hole runs, 200 refreshes each
    python benchmarks/aws_metadata.py --quick    # a few runs, for a smoke test

Off EC2 a default chain must decide quickly that there is no IMDS. Two loopback stand-ins:
a refused port (nothing listens) and a black hole (a listener that accepts and never
answers, as a firewalled 169.254.169.254 behaves). literauth's `probe(1.0)` is compared with
botocore's `InstanceMetadataProvider(InstanceMetadataFetcher(timeout=1, num_attempts=1))`,
its default settings. Refresh CPU is `time.process_time()` per refresh of the container and
IMDS providers against `FakeIdentityServer`, which runs in another process so its own CPU is
not counted. A markdown table goes to stdout, the numbers as JSON with ``--output``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

TIMEOUT = 1.0  # botocore's default metadata timeout; literauth's probe gets the same budget


# -- the endpoints ----------------------------------------------------------------------------------


def refused_url() -> str:
    """A loopback URL nothing listens on: the connection is refused at once."""
    from literauth.testing import refused_port

    return f"http://127.0.0.1:{refused_port()}"


@contextmanager
def black_hole() -> Iterator[str]:
    """A loopback listener that accepts every connection and never answers."""
    from literauth.testing import BlackHole

    with BlackHole() as hole:
        yield hole.url


def _serve(pipe: Any) -> None:
    """In a child process: a FakeIdentityServer; sends its URL and the container token, serves until told."""
    from literauth.testing import FakeIdentityServer

    with FakeIdentityServer() as server:
        pipe.send((server.url, server.aws_container.authorization_token.expose_secret()))
        pipe.recv()


@contextmanager
def fake_server() -> Iterator[tuple[str, str]]:
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(target=_serve, args=(child,), daemon=True)
    process.start()
    try:
        yield parent.recv()
    finally:
        parent.send("stop")
        process.join(10)


# -- the decision "no IMDS here" ----------------------------------------------------------------------


def literauth_probe(url: str) -> str:
    from literauth import SourceNotConfigured
    from literauth.aws import InstanceMetadataCredentialsProvider

    with InstanceMetadataCredentialsProvider(endpoint=url) as provider:
        try:
            provider.probe(TIMEOUT)
        except SourceNotConfigured as exc:
            return str(exc).rsplit(": ", 1)[-1]
    return "answered"


def botocore_probe(url: str) -> str:
    from botocore.credentials import InstanceMetadataProvider
    from botocore.utils import InstanceMetadataFetcher

    fetcher = InstanceMetadataFetcher(timeout=TIMEOUT, num_attempts=1, base_url=url + "/")
    found = InstanceMetadataProvider(iam_role_fetcher=fetcher).load()
    return "credentials" if found is not None else "None"


def _wall(call: Callable[[], str], runs: int) -> tuple[float, str]:
    times, outcome = [], ""
    for _ in range(runs):
        started = time.perf_counter()
        outcome = call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, outcome


# -- refresh CPU ----------------------------------------------------------------------------------------


def _cpu(refresh: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median CPU and wall milliseconds per refresh, after one warm-up."""
    refresh()
    cpu, wall = [], []
    for _ in range(runs):
        c, w = time.process_time(), time.perf_counter()
        refresh()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return statistics.median(cpu) * 1000, statistics.median(wall) * 1000


def refresh_costs(url: str, token: str, runs: int) -> dict[str, tuple[float, float]]:
    from botocore.credentials import ContainerProvider
    from botocore.utils import InstanceMetadataFetcher

    from literauth.aws import (
        ContainerCredentialsProvider,
        InstanceMetadataCredentialsProvider,
    )

    results: dict[str, tuple[float, float]] = {}
    env = {"AWS_CONTAINER_CREDENTIALS_FULL_URI": url + "/v1/credentials", "AWS_CONTAINER_AUTHORIZATION_TOKEN": token}
    with ContainerCredentialsProvider.from_env(env) as container:
        results["container literauth"] = _cpu(lambda: container.resolve(force_refresh=True), runs)
    theirs = ContainerProvider(environ=env).load()
    results["container botocore"] = _cpu(theirs._refresh_using, runs)
    with InstanceMetadataCredentialsProvider(endpoint=url) as imds:
        results["imds literauth"] = _cpu(lambda: imds.resolve(force_refresh=True), runs)
    fetcher = InstanceMetadataFetcher(timeout=TIMEOUT, num_attempts=1, base_url=url + "/")
    results["imds botocore"] = _cpu(fetcher.retrieve_iam_role_credentials, runs)
    return results


# -- the report -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few runs only")
    parser.add_argument("--output", help="write the numbers as JSON here")
    args = parser.parse_args(argv)
    slow_runs, fast_runs, refreshes = (2, 5, 20) if args.quick else (7, 50, 200)
    document: dict[str, Any] = {"probe_ms": {}, "refresh_ms": {}}
    refused = refused_url()
    for name, call, runs in (
        ("refused port: literauth probe(1.0)", lambda: literauth_probe(refused), fast_runs),
        ("refused port: botocore InstanceMetadataProvider", lambda: botocore_probe(refused), fast_runs),
    ):
        document["probe_ms"][name] = _wall(call, runs)
    with black_hole() as hole:
        for name, call in (
            ("black hole: literauth probe(1.0)", lambda: literauth_probe(hole)),
            ("black hole: botocore InstanceMetadataProvider", lambda: botocore_probe(hole)),
        ):
            document["probe_ms"][name] = _wall(call, slow_runs)
    with fake_server() as (url, token):
        document["refresh_ms"] = refresh_costs(url, token, refreshes)
    print("| decision off EC2 | median wall ms | outcome |\n|---|---:|---|")
    for name, (ms, outcome) in document["probe_ms"].items():
        print(f"| {name} | {ms:.1f} | {outcome} |")
    print("\n| refresh | CPU ms | wall ms |\n|---|---:|---:|")
    for name, (cpu, wall) in document["refresh_ms"].items():
        print(f"| {name} | {cpu:.2f} | {wall:.2f} |")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2)
    return document


if __name__ == "__main__":
    main()
