"""pytest plugin: fixtures that run providers against `FakeIdentityServer`.

Registered through the `pytest11` entry point, so installing literauth makes them available
in any test suite:

- `fake_identity_server`: a fresh server on loopback per test (fresh counters and faults).
- `fake_identity_env`: `os.environ` pointed at that server, so `from_env()` and code that
  calls it reach the fake; returns the variables set.
- `fake_azure_provider`, `fake_sts_provider`, `fake_vertex_provider`: ready providers built
  against the server and closed after the test (the Vertex one skips the test when
  `cryptography` or `pyjwt` is missing).

The `fake_` prefix keeps them clear of fixtures a suite defines itself (`server`, `clock`).
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from . import FakeIdentityServer

__all__ = [
    "fake_azure_provider",
    "fake_identity_env",
    "fake_identity_server",
    "fake_sts_provider",
    "fake_vertex_provider",
]

# Variables that would take precedence over (or change) what `fake_identity_env` sets.
_SHADOWING = (
    "AZURE_AD_TOKEN",
    "AZURE_AD_SCOPE",
    "AWS_DEFAULT_REGION",
    "VERTEX_AI_SCOPE",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)


@pytest.fixture
def fake_identity_server() -> Iterator[FakeIdentityServer]:
    """A fresh `FakeIdentityServer` on loopback, stopped after the test."""
    with FakeIdentityServer() as server:
        yield server


@pytest.fixture
def fake_identity_env(
    fake_identity_server: FakeIdentityServer, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Point the environment of `from_env()` at `fake_identity_server` for this test."""
    for name in _SHADOWING:
        monkeypatch.delenv(name, raising=False)
    directory = tmp_path / "literauth-fake-identity"
    directory.mkdir(exist_ok=True)
    env = fake_identity_server.environ(directory)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _closing(provider: Any) -> Iterator[Any]:
    try:
        yield provider
    finally:
        provider.close()


@pytest.fixture
def fake_azure_provider(fake_identity_server: FakeIdentityServer) -> Iterator[Any]:
    """An `AzureAdCredentialProvider` for the server's default app."""
    yield from _closing(fake_identity_server.azure_provider())


@pytest.fixture
def fake_sts_provider(fake_identity_server: FakeIdentityServer) -> Iterator[Any]:
    """A `WebIdentityCredentialProvider` reading a token file the server issued."""
    yield from _closing(fake_identity_server.sts_provider())


@pytest.fixture
def fake_vertex_provider(fake_identity_server: FakeIdentityServer) -> Iterator[Any]:
    """A `VertexOAuthCredentialProvider` for a service account registered with the server."""
    pytest.importorskip("cryptography", reason="the Vertex provider needs literauth[vertex-auth]")
    pytest.importorskip("jwt", reason="the Vertex provider needs literauth[vertex-auth]")
    yield from _closing(fake_identity_server.vertex_provider())
