"""pytest plugin: fixtures that run providers against `FakeIdentityServer`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from . import FakeIdentityServer


@pytest.fixture
def fake_identity_server() -> Iterator[FakeIdentityServer]:
    """A fresh `FakeIdentityServer` on loopback, stopped after the test."""
    with FakeIdentityServer() as server:
        yield server
