"""Time for tests: a clock moved by hand, a sleep that records, and a clock the server follows.

Providers take `clock=` and `sleep=`; tests pass these and move time instead of sleeping.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["FakeClock", "FakeSleep", "SyncedClock"]

START = 1_800_000_000.0  # a fixed "now" far from the epoch, 2027-01-15


class _Advancing(Protocol):
    def clock(self) -> float: ...

    def advance(self, seconds: float) -> None: ...


class FakeClock:
    """A clock tests move by hand; calling it returns epoch seconds."""

    def __init__(self, start: float = START) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`."""
        self.now += seconds


class FakeSleep:
    """Records requested sleeps instead of sleeping; with a `clock`, the sleep also advances it."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.calls: list[float] = []
        self.clock = clock

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self.clock is not None:
            self.clock.advance(seconds)


class SyncedClock(FakeClock):
    """A fake clock starting at the server's time that the server's clock follows.

    Moving it moves `FakeIdentityServer`'s clock too, so expiries the fakes check (JWT `exp`,
    STS `Expiration`, the `Date` header) agree with what the provider believes.
    """

    def __init__(self, server: _Advancing) -> None:
        super().__init__(server.clock())
        self._server = server

    def advance(self, seconds: float) -> None:
        super().advance(seconds)
        self._server.advance(seconds)
