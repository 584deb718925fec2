"""What the adapter tests share: real threads released together, the provider's current token."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from literauth import BearerToken


def in_threads(count: int, job: Callable[[], Any]) -> list[Any]:
    """Run `job` on `count` real threads released together; their results, in no order."""
    barrier = threading.Barrier(count)
    results: list[Any] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        result = job()
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()
    return results


def current_token(provider: Any) -> str:
    """The token `provider` serves now (a cache hit when one is cached)."""
    credential = provider.resolve()
    assert isinstance(credential, BearerToken)
    return credential.token.expose_secret()
