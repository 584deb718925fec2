"""Real processes sharing one cache: one token request per identity per refresh, whatever the fleet.

8 processes x 3 identities resolve through a simulated day (every process's clock is real time
plus an offset read from a file the test moves, and the fake identity provider moves with it);
with a `FileCache` the fake sees exactly one token request per identity per refresh. Two
"hosts" (separate cache directories, so only Redis is shared) do the same through Redis.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import pathlib
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from literauth.testing import FakeIdentityServer

from .conftest import RedisServer

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROCESSES = 8
IDENTITIES = 3
STEP = 1700.0  # simulated seconds per step: every second step lands in the refresh window (3400 s of 3600)
DAY = 86400.0

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name != "posix", reason="POSIX processes")]


class Fleet:
    """Worker processes following the test's steps (see `tests/cache/_worker.py`)."""

    def __init__(self, identity: FakeIdentityServer, directory: pathlib.Path, stores: list[dict[str, Any]]) -> None:
        self.identity = identity
        self.directory = directory
        self.control = directory / "control"
        self.control.mkdir()
        self.clock = directory / "clock"
        self.clock.write_text("0")
        (self.control / "step").write_text("0")
        self.step = 0
        self.clients = [identity.azure.add_client() for _ in range(IDENTITIES)]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "LITERAUTH_"))}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self.processes = []
        for index, store in enumerate(stores):
            config = {
                "index": index, "control": str(self.control), "clock": str(self.clock), "store": store,
                "tenant": identity.azure.tenant_id, "authority": identity.url, "resolves": 3,
                "clients": [[c, s.expose_secret() if hasattr(s, "expose_secret") else s] for c, s in self.clients],
            }
            path = directory / f"worker-{index}.json"
            path.write_text(json.dumps(config))
            host = {**env, "XDG_CACHE_HOME": str(directory / f"host-{index % 2}")}  # two "hosts"
            with (directory / f"worker-{index}.log").open("wb") as log:
                self.processes.append(subprocess.Popen(
                    [sys.executable, "-m", "tests.cache._worker", str(path)], cwd=ROOT, env=host, stderr=log,
                ))
        self.failures = 0
        self.wait()

    def requests_by_client(self) -> collections.Counter[str]:
        return collections.Counter(str(r.form.get("client_id")) for r in self.identity.azure.requests)

    def wait(self) -> None:
        """Until every worker acknowledged the current step (bounded)."""
        deadline = time.monotonic() + 60
        pending = set(range(len(self.processes)))
        while pending:
            for index in list(pending):
                try:
                    step, failures = (self.control / f"ack-{index}").read_text().split()
                except (OSError, ValueError):
                    continue
                if int(step) == self.step:
                    pending.discard(index)
                    self.failures += int(failures)
            for index, process in enumerate(self.processes):
                if process.poll() is not None:
                    log = (self.directory / f"worker-{index}.log").read_text()[-2000:]
                    pytest.fail(f"worker {index} exited with {process.returncode}: {log}")
            if time.monotonic() > deadline:
                pytest.fail(f"workers {sorted(pending)} did not finish step {self.step}")
            time.sleep(0.002)  # polling other processes' acknowledgements

    def advance(self, seconds: float) -> None:
        offset = float(self.clock.read_text()) + seconds
        staging = self.directory / "clock.new"
        staging.write_text(repr(offset))
        staging.replace(self.clock)
        self.identity.advance(seconds)
        self.step += 1
        staging = self.control / "step.new"
        staging.write_text(str(self.step))
        staging.replace(self.control / "step")
        self.wait()

    def close(self) -> None:
        (self.control / "step").write_text("-1")
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def _fleet(identity: FakeIdentityServer, directory: pathlib.Path, stores: list[dict[str, Any]]) -> Iterator[Fleet]:
    fleet = Fleet(identity, directory, stores)
    try:
        yield fleet
    finally:
        fleet.close()


def _simulate_day(fleet: Fleet) -> None:
    """Step through a day; after each step, no identity was fetched more than once."""
    assert fleet.requests_by_client() == {c: 1 for c, _ in fleet.clients}  # the cold start: one each
    refreshes = 1
    elapsed = 0.0
    while elapsed < DAY:
        before = fleet.requests_by_client()
        fleet.advance(STEP)
        elapsed += STEP
        delta = fleet.requests_by_client() - before
        assert set(delta.values()) <= {1}, delta  # at most one request per identity in this step
        if delta:
            assert len(delta) == IDENTITIES, delta  # all three were due together
            refreshes += 1
    assert refreshes >= DAY // 3600  # a refresh (at least) per token lifetime happened
    assert sum(fleet.requests_by_client().values()) == IDENTITIES * refreshes
    assert fleet.failures == 0


def test_eight_processes_three_identities_file_cache(identity: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    store = {"kind": "file", "directory": str(tmp_path / "cache")}
    with _fleet(identity, tmp_path, [store] * PROCESSES) as fleet:
        _simulate_day(fleet)


def test_two_hosts_sharing_one_redis(
    identity: FakeIdentityServer, tmp_path: pathlib.Path, redis_server: RedisServer, prefix: str
) -> None:
    stores = [{"kind": "redis", "url": redis_server.url, "prefix": prefix}] * 4
    with _fleet(identity, tmp_path, stores) as fleet:
        _simulate_day(fleet)
