"""After a server rejected a credential: is there a fresher one to retry with? Transport-neutral.

Every adapter (requests today; httpx and azure-core next) retries a rejected request at most
once, and only with a credential other than the one that was rejected. The decision needs
nothing from the HTTP library, so it lives here, once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..credentials import Credential

__all__ = ["fresher_credential", "invalidate"]

C = TypeVar("C", bound=Credential)


def invalidate(provider: object) -> bool:
    """Drop `provider`'s cached credential through its `invalidate()`; False when it has none.

    Engine providers have `invalidate()`; a plain object with only `resolve()` (the
    `SupportsResolve` protocol) is tolerated and simply has nothing to drop.
    """
    method = getattr(provider, "invalidate", None)
    if not callable(method):
        return False
    method()
    return True


def fresher_credential(provider: object, used: C, resolve: Callable[[], C]) -> C | None:
    """A credential other than the rejected `used`, or `None` when a retry would change nothing.

    Another thread may have refreshed already; its credential is then taken as it is, so a
    burst of rejections drops the cache once, not once per request. Otherwise `provider`'s
    cache is dropped and `resolve` (the adapter's typed, checked resolve) is asked again.
    """
    current = resolve()
    if current != used:
        return current
    if invalidate(provider):
        current = resolve()
    return None if current == used else current
