"""Token caches shared beyond one provider: one token request per identity per lifetime.

Every refreshing provider keeps its own in-process entry (the hot path) and, behind it, a
`TokenCache` chosen with its ``cache=`` option: `None` (the default) is the process-wide
`MemoryCache` (`default_cache()`), `False` turns sharing off, and a `FileCache` (one host) or
`RedisCache` (many hosts) shares tokens between processes. Shared stores hold entries sealed
with AES-256-GCM under keys derived from each identity's own secret (or the user's
``key=``/``LITERAUTH_CACHE_KEY``), and name them with HMACs that reveal nothing.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol, runtime_checkable

from ._file import FileCache, default_directory
from ._keys import KEY_VARIABLE
from ._memory import MemoryCache
from ._redis import RedisCache

__all__ = ["KEY_VARIABLE", "FileCache", "MemoryCache", "RedisCache", "TokenCache", "default_cache",
           "default_directory"]


@runtime_checkable
class TokenCache(Protocol):
    """What a store offers the engine. Keys are hex digests; entries are opaque bytes.

    `lease(key, timeout)` is single flight: the context manager yields True to the one holder
    (who fetches and `put`s) and, to the others, True once the holder is gone or False after
    `timeout` seconds; either way they read again and fetch themselves if still missing.
    A store may also say `in_process = True` (entries never leave the process: not
    encrypted) and carry `key`, the user's cache key (bytes) for identities with no secret.
    """

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, entry: bytes, expires_at: float) -> None: ...

    def delete(self, key: str) -> None: ...

    def lease(self, key: str, timeout: float) -> AbstractContextManager[bool]: ...


_DEFAULT = MemoryCache()


def default_cache() -> MemoryCache:
    """The process-wide `MemoryCache` providers use when given no ``cache=``."""
    return _DEFAULT

