"""A real WSGI server: gunicorn --preload, 4 forked workers x 2 threads, one provider made in the master.

400 concurrent requests through the app must all succeed without a worker hanging or
restarting, and the fake identity provider must see exactly one token request per worker
that served (cold start), or exactly one in all when the master resolved before forking
(the workers inherit its cached token across `fork`) and then one refresh per worker
when the token enters its refresh window. Every process's clock is moved through a file
the app reads, never by sleeping.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from literauth.testing import FakeIdentityServer

WORKERS = 4
THREADS = 2
REQUESTS = 400
CLIENTS = 64  # concurrent client threads: far more than the 8 worker threads
STARTUP_TIMEOUT = 20.0
ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.name != "posix", reason="gunicorn forks: POSIX only"),
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, timeout: float) -> requests.Response:
    """GET ignoring proxy variables (a proxy must not stand between the test and loopback)."""
    with requests.Session() as session:
        session.trust_env = False
        return session.get(url, timeout=timeout)


class Gunicorn:
    """A gunicorn master serving tests/_wsgi_app.py, with its log captured to a file."""

    def __init__(self, env: dict[str, str], log: pathlib.Path, *, preload: bool = True) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        command = [
            sys.executable, "-m", "gunicorn", *(["--preload"] if preload else []),
            "-w", str(WORKERS), "--threads", str(THREADS), "-b", f"127.0.0.1:{self.port}",
            "--timeout", "20", "--graceful-timeout", "10", "--log-level", "info",
            "--chdir", str(ROOT), "tests._wsgi_app:app",
        ]
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(command, env=env, stdout=self._log_file, stderr=subprocess.STDOUT)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"gunicorn exited with {self.process.returncode}:\n{self.text()[-3000:]}")
            try:
                if _get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):  # without --preload a worker imports slowly
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not answer within {STARTUP_TIMEOUT} s:\n{self.text()[-3000:]}")
            time.sleep(0.05)  # polling a starting subprocess, not waiting for an expiry

    def stop(self) -> int:
        """SIGTERM (graceful shutdown) and the exit status; killed if it does not end in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
                pytest.fail(f"gunicorn did not shut down on SIGTERM:\n{self.text()[-3000:]}")
        self._log_file.flush()
        return self.process.returncode

    def close(self) -> None:
        self.stop()
        self._log_file.close()

    def text(self) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        return self.log.read_text(errors="replace")


@pytest.fixture
def identity() -> Iterator[FakeIdentityServer]:
    pytest.importorskip("gunicorn")
    pytest.importorskip("flask")
    with FakeIdentityServer() as server:
        yield server


@contextlib.contextmanager
def _serve(server: FakeIdentityServer, tmp_path: pathlib.Path, warm: bool) -> Iterator[Gunicorn]:
    """gunicorn serving the app with the fake's Azure settings; `tmp_path/clock` offsets its clock."""
    (tmp_path / "clock").write_text("0")
    skip = ("AZURE_", "REQUESTS_CA", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env.update(server.azure.environ())
    env["LITERAUTH_WSGI_WARM"] = "1" if warm else "0"
    env["LITERAUTH_WSGI_CLOCK"] = str(tmp_path / "clock")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["NO_PROXY"] = "127.0.0.1,localhost"
    gunicorn = Gunicorn(env, tmp_path / "gunicorn.log")
    try:
        gunicorn.wait_ready()
        yield gunicorn
    finally:
        gunicorn.close()


def _hammer(url: str) -> list[dict[str, Any]]:
    """REQUESTS GETs of /token from CLIENTS threads at once; each answer's JSON."""

    def one(_: int) -> dict[str, Any]:
        response = _get(url + "/token", timeout=15)
        assert response.status_code == 200, response.text[:200]
        body: dict[str, Any] = response.json()
        return body

    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        return list(pool.map(one, range(REQUESTS), timeout=45))


def _check_workers(gunicorn: Gunicorn, answers: list[dict[str, Any]]) -> set[int]:
    """Every answer came from a forked worker, none was restarted, and none timed out."""
    pids = {answer["pid"] for answer in answers}
    master = gunicorn.process.pid
    assert master not in pids
    assert all(answer["imported_in"] == master for answer in answers)  # --preload: imported in the master
    assert 1 <= len(pids) <= WORKERS
    log = gunicorn.text()
    booted = {int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", log)}
    assert len(booted) == WORKERS, log[-3000:]  # no worker died and was replaced
    assert pids <= booted
    assert "WORKER TIMEOUT" not in log and "Traceback" not in log, log[-3000:]
    return pids


def test_cold_master_one_token_request_per_worker(
    identity: FakeIdentityServer, tmp_path: pathlib.Path
) -> None:
    """The master only creates the provider: each worker fetches once, however many threads ask."""
    with _serve(identity, tmp_path, warm=False) as gunicorn:
        answers = _hammer(gunicorn.url)
        assert len(answers) == REQUESTS
        pids = _check_workers(gunicorn, answers)
        assert identity.azure.request_count == len(pids)
        tokens_by_pid = {pid: {a["token"] for a in answers if a["pid"] == pid} for pid in pids}
        assert all(len(tokens) == 1 for tokens in tokens_by_pid.values())  # one token per worker, reused
        assert len({next(iter(t)) for t in tokens_by_pid.values()}) == len(pids)  # each fetched its own
        assert all(a["token_requests"] == 1 for a in answers)
        assert gunicorn.stop() == 0


def _advance(server: FakeIdentityServer, tmp_path: pathlib.Path, seconds: float) -> None:
    """Move the clock of gunicorn's processes (and the fake's) forward by `seconds`."""
    offset = float((tmp_path / "clock").read_text()) + seconds
    staging = tmp_path / "clock.new"
    staging.write_text(repr(offset))
    staging.replace(tmp_path / "clock")  # atomic: a worker never reads a half-written number
    server.advance(seconds)


def _settle(server: FakeIdentityServer, url: str, expected: int) -> None:
    """Wait (bounded) for the workers' background refreshes, then prove no other request was made.

    Each worker reports its own completed token requests and whether a refresh is running;
    once none is running, the fake's count must equal the master's request plus every
    worker's own: a surplus request from any process would break the equality, with no
    sleeping to wait for it.
    """
    deadline = time.monotonic() + 10
    while server.azure.request_count < expected and time.monotonic() < deadline:
        time.sleep(0.02)  # waiting for other processes' threads, not for an expiry
    while True:
        latest: dict[int, dict[str, Any]] = {}
        for answer in _hammer(url):
            latest[answer["pid"]] = answer
        if not any(a["refreshing"] for a in latest.values()) or time.monotonic() > deadline:
            break
    assert not any(a["refreshing"] for a in latest.values())
    own = sum(a["token_requests"] - 1 for a in latest.values())  # each inherited the master's one
    # Asking may have started the due refresh of a worker not asked before: it counts on both sides.
    assert server.azure.request_count == 1 + own >= expected


def test_warm_master_token_is_inherited_then_refreshed_once_per_worker(
    identity: FakeIdentityServer, tmp_path: pathlib.Path
) -> None:
    """The master resolved before forking: workers serve its token, then each refreshes it once."""
    with _serve(identity, tmp_path, warm=True) as gunicorn:
        assert identity.azure.request_count == 1  # the master, at import
        answers = _hammer(gunicorn.url)
        assert len(answers) == REQUESTS
        _check_workers(gunicorn, answers)
        assert identity.azure.request_count == 1  # inherited across fork: nobody fetched
        warm = answers[0]["warm"]
        assert warm and all(a["token"] == warm for a in answers)

        _advance(identity, tmp_path, 3400)  # into the refresh window, still valid for 170 s
        in_window = _hammer(gunicorn.url)
        refreshed = {a["pid"] for a in in_window}
        for pid in refreshed:  # the inherited token until the worker's refresh lands, then its new one
            assert len({a["token"] for a in in_window if a["pid"] == pid} - {warm}) <= 1
        _settle(identity, gunicorn.url, 1 + len(refreshed))  # one background refresh per worker that was asked

        after = _hammer(gunicorn.url)
        pids = _check_workers(gunicorn, in_window + after)
        _settle(identity, gunicorn.url, 1 + len(pids))
        for pid in refreshed:
            tokens = {a["token"] for a in after if a["pid"] == pid}
            assert len(tokens) <= 1 and warm not in tokens  # its own new token, nothing else
        assert gunicorn.stop() == 0
