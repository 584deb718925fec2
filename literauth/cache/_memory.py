"""`MemoryCache`: the process-wide, bounded LRU store every provider uses by default."""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator

__all__ = ["MemoryCache"]

_instances: weakref.WeakSet[MemoryCache] = weakref.WeakSet()


class MemoryCache:
    """Entries in this process's memory, at most `max_entries` (least recently used go first).

    Two providers built for the same identity in one process share one token through it: a
    provider built per request costs one token request per lifetime, not one per request.
    Nothing here is encrypted (`in_process`): the credential lives in this process anyway.
    Expiry is the reader's business (each provider judges an entry on its own clock), so
    `expires_at` is not used to evict.
    """

    in_process = True
    key: bytes | None = None

    def __init__(self, max_entries: int = 256) -> None:
        if isinstance(max_entries, bool) or not isinstance(max_entries, int) or max_entries < 1:
            from ..errors import ConfigurationError

            raise ConfigurationError(f"MemoryCache: max_entries must be a positive integer, got {max_entries!r}")
        self._max = max_entries
        self._reset()
        _instances.add(self)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, bytes] = OrderedDict()
        self._leases: dict[str, _Lease] = {}

    def get(self, key: str) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: str, entry: bytes, expires_at: float) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def delete(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        """Forget every entry (tests call this between cases)."""
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    @contextlib.contextmanager
    def lease(self, key: str, timeout: float) -> Iterator[bool]:
        """Hold `key`'s lease (True), or give up after `timeout` seconds (False)."""
        with self._lock:
            lease = self._leases.setdefault(key, _Lease())
            lease.users += 1
        held = lease.lock.acquire(timeout=max(timeout, 0.0))
        try:
            yield held
        finally:
            if held:
                lease.lock.release()
            with self._lock:
                lease.users -= 1
                if lease.users == 0 and self._leases.get(key) is lease:
                    del self._leases[key]

    def __repr__(self) -> str:
        return f"MemoryCache(max_entries={self._max}, entries={len(self._entries)})"


class _Lease:
    """One key's lease: the lock its holder takes, and how many callers hold or wait for it."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0


def _after_fork() -> None:
    # A lock held by a thread that does not exist in the child would block it for ever.
    for cache in list(_instances):
        entries = cache._entries
        cache._reset()
        cache._entries = entries


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
