"""`RedisCache`: sealed entries in Redis, shared by every host that reaches it (redis-py).

Entries expire with a TTL at their usable-until time. The lease is ``SET <name>:lease <token>
NX PX <timeout>``, released by a Lua compare-and-delete so only its owner releases it; a
holder that dies loses it when the PX runs out. Waiters poll with backoff (2 to 50 ms) within
their deadline. A Redis that is down, slow or refuses the login never fails a resolve(): the
store logs one WARNING per outage, behaves as empty meanwhile (everyone fetches directly) and
tries again every `retry_after` seconds.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigurationError
from ._keys import check_key
from ._wait import Outage, poll

__all__ = ["RedisCache"]

#: Deletes KEYS[1] only while it still holds ARGV[1], the owner's token: atomic in Redis.
_RELEASE = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
"""
SOCKET_TIMEOUT = 0.5  #: seconds a Redis call may take before the store counts as slow (down)


class RedisCache:
    """Entries in Redis under `prefix` (`url`: ``redis://`` or ``rediss://``, ACL user and password
    in it as redis-py reads them; or a ready `client`), sealed with AES-256-GCM.

    With neither `url` nor `client`, ``REDIS_URL`` (else ``redis://127.0.0.1:6379/0``) is used.
    `key` (or ``LITERAUTH_CACHE_KEY``) as for `FileCache`. `clock` gives the epoch seconds the
    TTLs are computed from (tests share a fake one with the providers). `timeout` bounds each
    Redis call made through `url` (a slower Redis counts as down); `retry_after` is how long
    an outage lasts before Redis is tried again.
    """

    in_process = False

    def __init__(
        self,
        url: str | None = None,
        client: Any = None,
        *,
        prefix: str = "literauth:",
        key: bytes | str | None = None,
        clock: Callable[[], float] = time.time,
        timeout: float = SOCKET_TIMEOUT,
        retry_after: float = 5.0,
    ) -> None:
        try:
            import redis
        except ImportError:
            raise ConfigurationError("RedisCache needs redis-py: pip install 'literauth[redis]'") from None
        from ._file import _require_cryptography

        _require_cryptography("RedisCache")
        if url is not None and client is not None:
            raise ConfigurationError("RedisCache: pass url or client, not both")
        if not isinstance(prefix, str):
            raise ConfigurationError(f"RedisCache: prefix must be a str, not {type(prefix).__name__}")
        for name, value in (("timeout", timeout), ("retry_after", retry_after)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ConfigurationError(f"RedisCache: {name} must be a positive number of seconds, got {value!r}")
        self.key = check_key("RedisCache", key)
        self._prefix = prefix
        self._clock = clock
        if client is None:
            url = url or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
            where = _where(url)
            try:
                client = redis.Redis.from_url(
                    url, socket_timeout=timeout, socket_connect_timeout=timeout,
                    retry=None, retry_on_timeout=False,
                )
            except ValueError as exc:
                problem = str(exc).split(":")[0]  # redis-py's message may quote the URL (a password)
                raise ConfigurationError(f"RedisCache: {where}: {problem}") from None
        else:
            where = "the given client"
        self._client = client
        self._release = client.register_script(_RELEASE)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._outage = Outage(f"the Redis cache at {where}", retry_after=retry_after)

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """One Redis command; None (and the outage noted) when Redis fails or is skipped."""
        if not self._outage.usable():
            return None
        try:
            result = getattr(self._client, method)(*args, **kwargs)
        except self._errors as exc:
            self._outage.failed(exc)
            return None
        self._outage.recovered()
        return result

    def get(self, key: str) -> bytes | None:
        value = self._call("get", self._prefix + key)
        return value if isinstance(value, bytes) else None

    def put(self, key: str, entry: bytes, expires_at: float) -> None:
        if math.isinf(expires_at):
            self._call("set", self._prefix + key, entry)
            return
        ttl = int((expires_at - self._clock()) * 1000)
        if ttl > 0:
            self._call("set", self._prefix + key, entry, px=ttl)

    def delete(self, key: str) -> None:
        self._call("delete", self._prefix + key)

    @contextlib.contextmanager
    def lease(self, key: str, timeout: float) -> Iterator[bool]:
        """Hold `key`'s lease for at most `timeout` seconds (True), or wait that long for it (False)."""
        name = self._prefix + key + ":lease"
        token = os.urandom(16).hex()
        duration = max(1, int(timeout * 1000))

        def attempt() -> bool:
            if not self._outage.usable():
                raise _Unavailable
            return bool(self._call("set", name, token, nx=True, px=duration))

        try:
            held = poll(attempt, timeout)
        except _Unavailable:
            held = False
        try:
            yield held
        finally:
            if held and self._outage.usable():
                try:
                    self._release(keys=[name], args=[token])
                except self._errors as exc:
                    self._outage.failed(exc)

    def __repr__(self) -> str:
        return f"RedisCache(prefix={self._prefix!r})"


class _Unavailable(Exception):
    """Redis is down: stop waiting for a lease nobody can hand over."""


def _where(url: str) -> str:
    """`host:port` of `url`, never its user or password."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "an unparsable URL"
    scheme = parts.scheme or "redis"
    return f"{scheme}://{parts.hostname or '127.0.0.1'}:{port or 6379}"
