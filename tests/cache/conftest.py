"""Fixtures for the token-cache tests: a real redis-server on a free loopback port, per session.

The server runs from Debian's `redis-server` binary in a temporary directory (no persistence);
tests that need it skip, naming the reason, only when the binary is not installed (CI
installs it: `.ci/run`). `RedisServer.stop()`/`start()` kill and restart it on the same port.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest

from literauth.testing import FakeIdentityServer

REDIS_BINARY = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process on 127.0.0.1:`port`, its files in `directory`."""

    def __init__(self, directory: pathlib.Path, *extra: str) -> None:
        assert REDIS_BINARY is not None
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._extra = extra
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        assert REDIS_BINARY is not None
        command = [REDIS_BINARY, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--dir", str(self.directory), *self._extra]
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start: {(self.directory / 'redis.log').read_text()[-500:]}")
                time.sleep(0.01)  # polling a starting subprocess

    def stop(self) -> None:
        """SIGKILL: an outage as sudden as a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def client(self):  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis.from_url(self.url)


def _need_redis() -> None:
    if REDIS_BINARY is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run does)")
    pytest.importorskip("redis")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server shared by the session's tests; each test uses its own key prefix."""
    _need_redis()
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture
def own_redis(tmp_path: pathlib.Path) -> Iterator[RedisServer]:
    """A redis-server for one test alone (to kill, restart or configure)."""
    _need_redis()
    server = RedisServer(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    """A key prefix of this test's own in the shared Redis."""
    return f"t{abs(hash(request.node.nodeid)) % 10**12}:"


@pytest.fixture
def identity() -> Iterator[FakeIdentityServer]:
    with FakeIdentityServer() as server:
        yield server
