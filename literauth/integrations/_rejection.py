"""After a server rejected a credential: is there a fresher one to retry with? Transport-neutral.

Every adapter (requests today; httpx and azure-core next) retries a rejected request at most
once, and only with a credential other than the one that was rejected. The decision needs
nothing from the HTTP library, so it lives here, once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..credentials import Credential

__all__ = ["drop_if_current", "fresher_credential", "invalidate"]

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


def drop_if_current(provider: object, credential: Credential) -> bool:
    """Drop `provider`'s cache if it still holds `credential`; True when something was dropped.

    Engine providers do it atomically (`invalidate_if_current`), so callers reporting one
    rejection together drop the cache once. A provider with only `invalidate()` is simply
    invalidated; one with only `resolve()` has nothing to drop.
    """
    method = getattr(provider, "invalidate_if_current", None)
    if callable(method):
        return bool(method(credential))
    return invalidate(provider)


def fresher_credential(provider: object, used: C, resolve: Callable[[], C]) -> C | None:
    """A credential other than the rejected `used`, or `None` when a retry would change nothing.

    Another thread may have refreshed already; its credential is then taken as it is, so a
    burst of rejections drops the cache once, not once per request. Otherwise `provider`'s
    cache is dropped (unless another thread just did) and `resolve` (the adapter's typed,
    checked resolve) is asked again: threads rejected together cost one fetch in all.
    """
    current = resolve()
    if current != used:
        return current
    drop_if_current(provider, current)  # False: another thread did, and its fetch is joined below
    current = resolve()
    return None if current == used else current
