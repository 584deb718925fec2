"""moto's standalone server (moto_server) as a real, independent AWS peer for the tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import requests

MOTO_SERVER = shutil.which("moto_server")
STARTUP_TIMEOUT = 30.0  # moto imports every service backend before it listens

# Apply to a module: moto tests are slow-ish and need moto[server] (the test extra has it).
moto_marks = [
    pytest.mark.slow,
    pytest.mark.skipif(MOTO_SERVER is None, reason="moto_server (moto[server]) is not installed"),
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(process: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if process.poll() is not None:
            pytest.fail(f"moto_server exited with {process.returncode}")
        try:
            with requests.Session() as probe:
                probe.trust_env = False
                probe.get(url + "/moto-api/", timeout=1).close()
            return
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                pytest.fail(f"moto_server did not answer within {STARTUP_TIMEOUT:.0f} s")
            time.sleep(0.1)  # polling a starting subprocess, not waiting for an expiry


@contextlib.contextmanager
def moto_server(unchecked_actions: int | None = None) -> Iterator[str]:
    """Run moto_server on a free loopback port and yield its URL; stop it afterwards.

    `unchecked_actions` turns request authentication on after that many actions (moto's
    INITIAL_NO_AUTH_ACTION_COUNT); `None` leaves it off.
    """
    assert MOTO_SERVER is not None
    port = _free_port()
    env = dict(os.environ)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        env.pop(name, None)
    if unchecked_actions is not None:
        env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(unchecked_actions)
    process = subprocess.Popen(
        [MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(process, url)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
