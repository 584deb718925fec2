"""Shared fixtures: a fake clock, a running FakeIdentityServer, a secret-leak checker, a network guard.

`FakeClock` and `FakeSleep` are the ones `literauth.testing` ships, re-exported for the tests
that import them from here.
"""

from __future__ import annotations

import atexit
import logging
import os
import socket
from collections.abc import Iterable, Iterator

import pytest

from literauth.cache import default_cache
from literauth.testing import FakeClock, FakeIdentityServer, FakeSleep, ServerCore
from literauth.testing._clock import START
from literauth.testing._guard import NetworkGuard

__all__ = ["START", "FakeClock", "FakeSleep", "assert_no_secret", "secret_fragments"]

# The suite's own loopback traffic (raw `requests` calls to the fakes, examples, CLI
# subprocesses) never goes through a proxy, even on a machine with HTTP(S)_PROXY set and no
# NO_PROXY for loopback. literauth's fetcher bypasses proxies for loopback by itself; the
# tests of that remove these variables again.
_LOOPBACK = "127.0.0.1,localhost,::1"
for _name in ("NO_PROXY", "no_proxy"):
    _value = os.environ.get(_name, "")
    os.environ[_name] = f"{_value},{_LOOPBACK}" if _value else _LOOPBACK

# Every metadata service the default chains may probe points at a loopback port that refuses
# connections (bound, never listening, held for the session), so that a chain built from
# `os.environ` here or in a CLI subprocess can never reach 169.254.169.254 or
# metadata.google.internal, whatever the machine's own environment says.
_REFUSING = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
_REFUSING.bind(("127.0.0.1", 0))
atexit.register(_REFUSING.close)
REFUSED_PORT: int = _REFUSING.getsockname()[1]
METADATA_OVERRIDES = {
    "AZURE_POD_IDENTITY_AUTHORITY_HOST": f"http://127.0.0.1:{REFUSED_PORT}",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://127.0.0.1:{REFUSED_PORT}",
    "GCE_METADATA_HOST": f"127.0.0.1:{REFUSED_PORT}",
    "GCE_METADATA_IP": f"127.0.0.1:{REFUSED_PORT}",
}
os.environ.update(METADATA_OVERRIDES)

# Every test process (each xdist worker imports this file too) refuses connections and name
# lookups outside loopback from here on, fixtures included; subprocesses are not covered.
NETWORK_GUARD = NetworkGuard()
NETWORK_GUARD.install()


@pytest.fixture(autouse=True)
def _network_guard() -> Iterator[None]:
    """Fail a test that tried to leave loopback, even if the code under test swallowed the refusal."""
    NETWORK_GUARD.take_violations()
    yield
    violations = NETWORK_GUARD.take_violations()
    if violations:
        pytest.fail("; ".join(violations), pytrace=False)


def pytest_configure(config: pytest.Config) -> None:
    """The user's token cache (`literauth token`'s FileCache) is a temporary directory, for
    this process and the commands it runs: tests never read or write the real one."""
    import tempfile

    config.stash[_CACHE_HOME] = os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="literauth-test-cache-")


def pytest_unconfigure(config: pytest.Config) -> None:
    import shutil

    shutil.rmtree(config.stash.get(_CACHE_HOME, ""), ignore_errors=True)


_CACHE_HOME = pytest.StashKey[str]()


@pytest.fixture(autouse=True)
def _empty_token_cache() -> Iterator[None]:
    """Each test starts with an empty process-wide token cache (`literauth.cache.default_cache()`)."""
    default_cache().clear()
    yield
    default_cache().clear()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def core() -> Iterator[ServerCore]:
    """A bare `ServerCore` serving only `TokenEndpoint`, for tests of the fetcher alone."""
    from ._token_endpoint import TokenEndpoint

    server = ServerCore([TokenEndpoint])
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server() -> Iterator[FakeIdentityServer]:
    with FakeIdentityServer() as srv:
        yield srv


def secret_fragments(secret: str, size: int = 16) -> set[str]:
    """The secret and every `size`-character substring of it (for long secrets)."""
    if len(secret) <= size:
        return {secret}
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


def assert_no_secret(texts: Iterable[str], secrets: Iterable[str]) -> None:
    """Fail if any text contains a secret or any 16-character piece of one."""
    pieces = set()
    for secret in secrets:
        pieces |= secret_fragments(secret)
    for text in texts:
        for piece in pieces:
            assert piece not in text, "a secret leaked into captured output"


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture literauth, requests and urllib3 logs at DEBUG."""
    caplog.set_level(logging.DEBUG)
    for name in ("literauth", "urllib3", "requests"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


# Live loopback servers (FakeIdentityServer, moto, gunicorn) and subprocesses make a test an
# integration test; everything else is a pure unit test (fake clock, no sockets).
_SERVER_FIXTURES = frozenset({
    "server", "core", "tls_server", "idp", "identity", "demo_server", "soak_server", "moto", "api",
    "fake_identity_server", "fake_identity_env",
})
_INTEGRATION_DIRS = frozenset({"integration", "campaigns", "cli"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark integration tests, so `-m "not integration"` runs the unit tests alone."""
    for item in items:
        parts = set(item.path.parts)
        fixtures = set(getattr(item, "fixturenames", ()))
        if parts & _INTEGRATION_DIRS or fixtures & _SERVER_FIXTURES or any(
            name.startswith("fake_") and name.endswith("_provider") for name in fixtures
        ):
            item.add_marker(pytest.mark.integration)
