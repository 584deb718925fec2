"""What the shared stores have in common: waiting for a lease, and living through an outage."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["Outage", "poll"]

_log = logging.getLogger("literauth.cache")

FIRST_PAUSE = 0.002  #: a waiter's first pause between tries; doubled up to LAST_PAUSE
LAST_PAUSE = 0.05


def poll(attempt: Callable[[], bool], timeout: float) -> bool:
    """Call `attempt()` until it returns True or `timeout` seconds (monotonic) have passed.

    Backs off from 2 ms to 50 ms: a waiter notices a release 12 to 27 ms late (measured for
    holds of 20 ms to 1 s, benchmarks/cache.py), once per token lifetime, with no subscribed
    connection and no Redis configuration (keyspace notifications need both).
    """
    deadline = time.monotonic() + timeout
    pause = FIRST_PAUSE
    while True:
        if attempt():
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(pause, left))
        pause = min(pause * 2, LAST_PAUSE)


class Outage:
    """A store that is unreachable: warn once, skip it for `retry_after` seconds, try again.

    `failed(error)` logs one WARNING per outage (not per call); `usable()` says whether to try
    the store now; `recovered()` ends the outage with one INFO line. No lock (nothing a fork
    could leave held): two threads failing at once may both warn, nothing worse.
    """

    def __init__(self, store: str, retry_after: float) -> None:
        self._store = store
        self._retry_after = retry_after
        self._down_since: float | None = None
        self._next_try = 0.0

    def usable(self) -> bool:
        return self._down_since is None or time.monotonic() >= self._next_try

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def failed(self, error: BaseException) -> None:
        now = time.monotonic()
        first = self._down_since is None
        if first:
            self._down_since = now
        self._next_try = now + self._retry_after
        if first:
            _log.warning(
                "%s unavailable (%s); fetching credentials directly, retrying the store every %g s",
                self._store, type(error).__name__, self._retry_after,
            )

    def recovered(self) -> None:
        since, self._down_since = self._down_since, None
        if since is not None:
            _log.info("%s reachable again after %.1f s", self._store, time.monotonic() - since)
