"""How long the AWS default chain takes to decide "no credentials here" off AWS: literauth vs botocore.

Nothing is configured but EC2 instance metadata, pointed (`AWS_EC2_METADATA_SERVICE_ENDPOINT`)
at a loopback port that either refuses connections or accepts them and never answers (a
black hole: what a firewalled or hop-limited IMDS looks like from a container). Timed:
`literauth.aws.default_chain(environ=...).choose()` until it raises `SourceNotConfigured`,
and `botocore.session.Session().get_credentials()` until it returns None, each from a fresh
chain or session. Both run in this process with the same variables; no request leaves loopback.

    python benchmarks/aws_chain.py [--repeat N] [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aws_metadata import (  # the same stand-ins as the metadata benchmark
    black_hole,
    refused_url,
)

from literauth.aws import default_chain
from literauth.aws._chain import IMDS_PROBE_TIMEOUT
from literauth.errors import SourceNotConfigured


@contextlib.contextmanager
def refused() -> Iterator[str]:
    """A loopback URL nothing listens on (the stand-in `aws_metadata.py` uses too)."""
    yield refused_url()


def environment(url: str, home: str) -> dict[str, str]:
    """Only instance metadata is configured, at `url`; no file, no key, no other endpoint."""
    return {
        "HOME": home,
        "AWS_CONFIG_FILE": os.path.join(home, "config"),
        "AWS_SHARED_CREDENTIALS_FILE": os.path.join(home, "credentials"),
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": url + "/",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


@contextlib.contextmanager
def patched_os_environ(env: dict[str, str]) -> Iterator[None]:
    """botocore reads `os.environ`: give it exactly `env` for the AWS variables."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def literauth_decides(env: dict[str, str]) -> float:
    chain = default_chain(environ=env)
    started = time.perf_counter()
    try:
        chain.choose()
    except SourceNotConfigured:
        pass
    else:
        raise AssertionError("literauth found credentials where there are none")
    return time.perf_counter() - started


def botocore_decides(env: dict[str, str]) -> float:
    import botocore.session

    with patched_os_environ(env):
        started = time.perf_counter()
        found = botocore.session.Session().get_credentials()
        elapsed = time.perf_counter() - started
    if found is not None:
        raise AssertionError("botocore found credentials where there are none")
    return elapsed


def measure(name: str, endpoint: Callable[[], contextlib.AbstractContextManager[str]], repeat: int) -> dict[str, object]:
    results: dict[str, object] = {"scenario": name}
    with endpoint() as url, tempfile.TemporaryDirectory() as home:
        env = environment(url, home)
        for library, decide in (("literauth", literauth_decides), ("botocore", botocore_decides)):
            decide(env)  # warm-up: the first run also imports requests or botocore's data
            times = [decide(env) for _ in range(repeat)]
            results[library] = {"median_s": statistics.median(times), "max_s": max(times), "runs": repeat}
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args()
    rows = [measure("refused port", refused, args.repeat), measure("black hole", black_hole, args.repeat)]
    print(f"literauth IMDS probe deadline: {IMDS_PROBE_TIMEOUT} s")
    print(f"{'scenario':<14} {'literauth median':>17} {'botocore median':>16} {'literauth max':>14} {'botocore max':>13}")
    for row in rows:
        ours, theirs = row["literauth"], row["botocore"]
        assert isinstance(ours, dict) and isinstance(theirs, dict)
        print(f"{row['scenario']:<14} {ours['median_s'] * 1000:>14.1f} ms {theirs['median_s'] * 1000:>13.1f} ms "
              f"{ours['max_s'] * 1000:>11.1f} ms {theirs['max_s'] * 1000:>10.1f} ms")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
