"""Shared fixtures: a fake clock, a running FakeIdentityServer, and a secret-leak checker."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

import pytest

from literauth.testing import FakeIdentityServer

START = 1_800_000_000.0  # a fixed "now" far from the epoch, 2027-01-15


class FakeClock:
    """A clock tests move by hand; `clock()` returns epoch seconds."""

    def __init__(self, start: float = START) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeSleep:
    """Records requested sleeps instead of sleeping."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.calls: list[float] = []
        self.clock = clock

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self.clock is not None:
            self.clock.advance(seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


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
