"""The test suite's network guard: nothing leaves loopback, and a refusal comes before any packet."""

from __future__ import annotations

import pathlib
import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from literauth.testing import FakeIdentityServer, NetworkBlocked, NetworkGuard

from ..conftest import NETWORK_GUARD

METADATA_V4 = ["169.254.169.254", "169.254.170.2", "169.254.170.23", "10.0.0.1", "8.8.8.8", "0.0.0.0"]
METADATA_V6 = ["fd00:ec2::254", "fd00:ec2::23", "2001:db8::1", "::ffff:169.254.169.254"]
ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def sent() -> Iterator[list[Any]]:
    """What reached the real `connect`/`connect_ex`; the guard's record is cleared afterwards."""
    calls: list[Any] = []
    real_connect, real_connect_ex = NETWORK_GUARD.real_connect, NETWORK_GUARD.real_connect_ex
    NETWORK_GUARD.real_connect = lambda sock, address: calls.append(address)
    NETWORK_GUARD.real_connect_ex = lambda sock, address: calls.append(address) or 0
    try:
        yield calls
    finally:
        NETWORK_GUARD.real_connect, NETWORK_GUARD.real_connect_ex = real_connect, real_connect_ex
        NETWORK_GUARD.take_violations()  # the refusals below were on purpose


def test_the_guard_is_installed_in_this_process() -> None:
    assert NETWORK_GUARD.installed
    assert socket.socket.connect.__qualname__.startswith("NetworkGuard.install")


@pytest.mark.parametrize("host", METADATA_V4)
def test_connecting_to_a_metadata_address_is_refused_before_anything_is_sent(sent: list[Any], host: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(NetworkBlocked, match=host):
        sock.connect((host, 80))
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(NetworkBlocked):
        sock.connect_ex((host, 80))
    with pytest.raises(NetworkBlocked):
        socket.create_connection((host, 80), timeout=0.1)
    assert sent == []
    assert len(NETWORK_GUARD.violations) == 3


@pytest.mark.parametrize("host", METADATA_V6)
def test_ipv6_metadata_addresses_are_refused(sent: list[Any], host: str) -> None:
    with pytest.raises(NetworkBlocked, match="connect to"):
        NETWORK_GUARD.check_address(socket.AF_INET6, (host, 80, 0, 0))
    assert sent == []


@pytest.mark.parametrize("name", ["metadata.google.internal", "metadata", "login.microsoftonline.com",
                                  "sts.amazonaws.com", "attacker.localhost.example"])
def test_name_lookups_outside_loopback_are_refused(sent: list[Any], name: str) -> None:
    with pytest.raises(NetworkBlocked, match="look up"):
        socket.getaddrinfo(name, 80)
    with pytest.raises(NetworkBlocked):
        socket.gethostbyname(name)
    with pytest.raises(NetworkBlocked):
        socket.create_connection((name, 80), timeout=0.1)
    assert sent == []


def test_requests_to_the_metadata_server_are_refused_not_wrapped(sent: list[Any]) -> None:
    """An AssertionError, not an OSError: neither urllib3 nor the fetcher turn it into a retryable error."""
    with requests.Session() as session, pytest.raises(NetworkBlocked):
        session.trust_env = False  # straight there, not through a proxy a machine may set
        session.get("http://169.254.169.254/latest/meta-data/iam/security-credentials/", timeout=0.1)
    with requests.Session() as session, pytest.raises(NetworkBlocked):
        session.trust_env = False
        session.get("http://metadata.google.internal/computeMetadata/v1/", timeout=0.1)
    assert sent == []


def test_loopback_and_unix_sockets_pass(server: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    assert socket.getaddrinfo("localhost", server.port)
    for host in ("127.0.0.1", "localhost", "127.0.0.1"):
        with socket.create_connection((host, server.port), timeout=2):
            pass
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        assert sock.connect_ex(("127.0.0.1", server.port)) == 0
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(1)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(path)
    assert NETWORK_GUARD.violations == []


def test_a_guard_can_be_removed_again() -> None:
    guard = NetworkGuard()
    before = socket.getaddrinfo
    guard.install()
    guard.install()  # idempotent
    assert socket.getaddrinfo is not before
    guard.uninstall()
    assert socket.getaddrinfo is before and not guard.installed


def test_a_swallowed_refusal_still_fails_the_test(tmp_path: pathlib.Path) -> None:
    """Code that catches everything cannot hide an attempt: the autouse guard fails the test at teardown."""
    case = ROOT / "tests" / "testing" / f"_swallowed_probe_{uuid.uuid4().hex}.py"  # not collected by other runs
    case.write_text(textwrap.dedent('''
        import socket

        def test_swallows_the_refusal():
            try:
                socket.create_connection(("169.254.169.254", 80), timeout=0.1)
            except BaseException:
                pass

        def test_innocent():
            assert True
    '''))
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-n", "0",
             str(case)],
            check=False, cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
    finally:
        case.unlink()
    assert done.returncode == 1, done.stdout + done.stderr
    assert "network access outside loopback blocked in tests: connect to ('169.254.169.254', 80)" in done.stdout
    assert "2 passed, 1 error" in done.stdout  # the swallowing test errs at teardown, the innocent one passes
