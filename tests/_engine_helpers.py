"""A scriptable provider for exercising the caching engine without HTTP."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from literauth import (
    BearerToken,
    Credential,
    RefreshingCredentialProvider,
    SecretString,
)
from literauth.credentials import UTC


class ScriptedProvider(RefreshingCredentialProvider):
    """`_fetch` returns tokens living `lifetime` seconds, or raises what `fail_with` holds."""

    provider_name = "scripted"

    def __init__(self, lifetime: float = 3600.0, delay: Callable[[], None] | None = None, **options: Any) -> None:
        super().__init__(**options)
        self.lifetime = lifetime
        self.delay = delay
        self.fail_with: BaseException | None = None
        self.calls = 0
        self._count_lock = threading.Lock()

    def _fetch(self) -> Credential:
        with self._count_lock:
            self.calls += 1
            n = self.calls
        if self.delay is not None:
            self.delay()
        if self.fail_with is not None:
            raise self.fail_with
        now = self._clock()
        return BearerToken(SecretString(f"token-{n}"), datetime.fromtimestamp(now + self.lifetime, UTC))


class RecordingSpawn:
    """A `spawn=` that records background jobs; the test runs them when it chooses."""

    def __init__(self) -> None:
        self.jobs: list[tuple[Callable[[], None], str]] = []

    def __call__(self, job: Callable[[], None], name: str) -> None:
        self.jobs.append((job, name))

    def run_all(self) -> int:
        """Run every recorded job in this thread; return how many ran."""
        jobs, self.jobs = self.jobs, []
        for job, _ in jobs:
            job()
        return len(jobs)


def token_of(credential: Credential) -> str:
    assert isinstance(credential, BearerToken)
    return credential.token.expose_secret()
