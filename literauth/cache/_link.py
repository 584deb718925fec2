"""`CacheLink`: what a provider's engine asks of its token cache, kept out of the engine.

The engine calls `obtain()` instead of fetching (on the hard path and in background refreshes
alike) and `discard()` when it drops a credential. `obtain()` reads the store; on a miss it
takes the store's lease for the identity, reads again (the lease holder may just have written
it), and only then fetches and writes through. A store that fails in any way is a miss: the
cache can make a resolve() cheaper, never make it fail.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from ..credentials import Credential
from ._entry import Loaded, cacheable, decode, encode
from ._keys import Slot, in_process_slot, shared_slot

if TYPE_CHECKING:
    from .._policy import RefreshPolicy
    from . import TokenCache

__all__ = ["CacheLink", "Engine"]


class _Entry(Protocol):
    credential: Credential
    refresh_at: float
    usable_until: float


class Engine(Protocol):
    """What the link uses of its provider (`Engine`): the cache sits
    below the engine, so it names the engine's parts instead of importing it."""

    provider_name: str
    _clock: Callable[[], float]
    _policy: RefreshPolicy

    @property
    def credential_type(self) -> type[Credential]: ...

    def _cache_identity(self) -> tuple[dict[str, str], bytes | None] | None: ...

    def _fetch(self) -> Credential: ...

    def _new_entry(self, credential: Credential, issued_at: float) -> Any: ...

_log = logging.getLogger("literauth.cache")
_UNSET: Any = object()
_told: set[str] = set()  # provider kinds already told they are not shared (INFO once per process)


class CacheLink:
    """One provider's view of one store: its slot (derived once), and what it counted."""

    __slots__ = ("_rejected", "_slot", "loads", "rejects", "store", "writes")

    def __init__(self, store: TokenCache) -> None:
        self.store = store
        self._slot: Slot | None = _UNSET
        self.loads = 0  #: credentials taken from the store instead of fetched
        self.rejects = 0  #: entries that did not parse, had another version or failed authentication
        self.writes = 0
        self._rejected: bytes | None = None  # the last entry refused: read again under the lease, it counts once

    def slot(self, provider: Engine) -> Slot | None:
        """The identity's slot in the store, or None when this identity is not shared there."""
        if self._slot is _UNSET:
            self._slot = self._derive(provider)
        return self._slot

    def _derive(self, provider: Engine) -> Slot | None:
        identity = provider._cache_identity()
        if identity is None:
            return None
        fields, secret = identity
        kind = provider.provider_name
        if getattr(self.store, "in_process", False):
            return in_process_slot(kind, fields, secret)
        slot = shared_slot(kind, fields, secret, getattr(self.store, "key", None))
        if slot is None and kind not in _told:  # no lock: at worst two threads both say it once
            _told.add(kind)
            _log.info(
                "%s: not writing tokens to %r: this identity has no secret of its own to encrypt "
                "them with; give the store a key (key=... or LITERAUTH_CACHE_KEY) to share them",
                kind, self.store,
            )
        return slot

    def obtain(self, provider: Engine, issued_at: float, lease_timeout: float) -> Any:
        """A fresh entry from the store, or else from `provider._fetch()`, written through."""
        slot = self.slot(provider)
        if slot is None:
            return provider._new_entry(provider._fetch(), issued_at)
        entry = self._load(provider, slot)
        if entry is not None:
            return entry
        with self._lease(slot, lease_timeout):
            entry = self._load(provider, slot)  # the holder we waited for may have written it
            if entry is not None:
                return entry
            issued_at = provider._clock()
            entry = provider._new_entry(provider._fetch(), issued_at)
            self._store(slot, entry, issued_at)
            return entry

    def discard(self, provider: Engine, credential: Credential) -> None:
        """Delete the shared entry if it still holds `credential` (which was found bad or dropped)."""
        slot = self.slot(provider)
        if slot is None:
            return
        loaded = self._read(slot)
        if loaded is not None and loaded.credential == credential:
            self._guard("delete", slot.name)

    def _read(self, slot: Slot) -> Loaded | None:
        blob = self._guard("get", slot.name)
        if not isinstance(blob, (bytes, bytearray)):
            return None
        blob = bytes(blob)
        loaded = decode(blob, slot.cipher, slot.aad)
        if loaded is None and blob != self._rejected:
            self._rejected = blob
            self.rejects += 1
            _log.debug("literauth.cache: ignoring an entry in %r that does not decode", self.store)
        return loaded

    def _load(self, provider: Engine, slot: Slot) -> Any:
        """The stored credential as this provider's entry, if it is fresh on this provider's clock."""
        loaded = self._read(slot)
        if loaded is None or not isinstance(loaded.credential, provider.credential_type):
            return None
        now = provider._clock()
        expires = loaded.credential.expires_at_epoch
        if expires is not None and provider._policy.usable_until(expires) <= now:
            return None
        entry = provider._new_entry(loaded.credential, loaded.issued_at)
        if now >= entry.refresh_at:
            return None  # due for refresh here: fetch a new one (once, under the lease)
        self.loads += 1
        return dataclasses.replace(entry, fetched=False)

    def _store(self, slot: Slot, entry: _Entry, issued_at: float) -> None:
        if not cacheable(entry.credential):
            return
        blob = encode(entry.credential, issued_at, slot.cipher, slot.aad)
        self._guard("put", slot.name, blob, entry.usable_until)
        self.writes += 1

    def _guard(self, method: str, *args: Any) -> Any:
        """Call the store; a store that raises is a miss (logged), never the caller's failure."""
        try:
            return getattr(self.store, method)(*args)
        except Exception as exc:  # noqa: BLE001 - any store, ours or the user's, may fail
            _log.warning("literauth.cache: %r.%s failed (%s); going without the cache", self.store, method,
                         type(exc).__name__)
            return None

    @contextlib.contextmanager
    def _lease(self, slot: Slot, timeout: float) -> Iterator[None]:
        """The store's lease; going ahead without it when taking it fails or times out."""
        try:
            lease = self.store.lease(slot.name, timeout)
            lease.__enter__()
        except Exception as exc:  # noqa: BLE001 - as in _guard
            _log.warning("literauth.cache: %r.lease failed (%s); fetching without it", self.store,
                         type(exc).__name__)
            yield
            return
        try:
            yield
        finally:  # release; a failed fetch's own error propagates, not the store's
            with contextlib.suppress(Exception):
                lease.__exit__(None, None, None)
