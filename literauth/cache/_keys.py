"""Cache key names and entry keys, derived from an identity and its secret.

A *slot* is where one identity's credential lives in a store: its key name and, for a store
that leaves the process, the AES-256-GCM cipher that seals it.

- In-process stores: the name is an HMAC, under a random per-process key, of the identity's
  fields and its secret; nothing is encrypted (the credential is in this process's memory
  anyway) but a rotated secret or another identity never lands on the same name.
- Shared stores: HKDF-SHA256 over the identity's own secret (and the user's cache key when
  one is given) yields two keys: one names the entry (an HMAC of the identity's fields, so a
  name reveals neither the identity nor the secret), one seals it. Only a process holding the
  same secret can find or read the entry, i.e. one that could fetch the token itself. An
  identity with no local secret (metadata servers, federated token files) uses the user's
  key alone; without one it gets no shared slot.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

from ..errors import ConfigurationError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["KEY_VARIABLE", "MIN_KEY_BYTES", "Slot", "check_key", "in_process_slot", "shared_slot"]

KEY_VARIABLE = "LITERAUTH_CACHE_KEY"
MIN_KEY_BYTES = 32
_SALT = b"literauth token cache v1"
_PROCESS_KEY = os.urandom(32)  # in-process names only; a forked child shares its parent's cache too


class Slot(NamedTuple):
    """One identity's place in one store: the key name, and the cipher for shared stores."""

    name: str
    cipher: AESGCM | None

    @property
    def aad(self) -> bytes:
        """What an entry is bound to: it opens only under this very name."""
        return self.name.encode("ascii")


def canonical(kind: str, fields: Mapping[str, str]) -> bytes:
    """The identity as bytes, the same in every process: provider kind plus sorted fields."""
    return json.dumps({"provider": kind, **fields}, sort_keys=True, separators=(",", ":")).encode("utf-8")


def in_process_slot(kind: str, fields: Mapping[str, str], secret: bytes | None) -> Slot:
    """The slot in an in-process store: a keyed digest of the identity and of its secret."""
    mac = hmac.new(_PROCESS_KEY, canonical(kind, fields), hashlib.sha256)
    mac.update(b"\x00" if secret is None else b"\x01" + hashlib.sha256(secret).digest())
    return Slot(mac.hexdigest(), None)


def shared_slot(kind: str, fields: Mapping[str, str], secret: bytes | None, key: bytes | None) -> Slot | None:
    """The slot in a store that leaves the process, or None without any secret to derive from."""
    if secret is None and key is None:
        return None
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    material = b"".join(
        len(part).to_bytes(4, "big") + part for part in (secret or b"", key or b"")
    )
    identity = canonical(kind, fields)
    derived = HKDF(hashes.SHA256(), 64, _SALT, b"literauth cache keys\x00" + identity).derive(material)
    name = hmac.new(derived[:32], identity, hashlib.sha256).hexdigest()
    return Slot(name, AESGCM(derived[32:]))


def check_key(owner: str, key: bytes | str | None, environ: Mapping[str, str] | None = None) -> bytes | None:
    """The user's cache key: `key`, else `LITERAUTH_CACHE_KEY`, else None; at least 32 bytes."""
    source = "key"
    if key is None:
        value = (os.environ if environ is None else environ).get(KEY_VARIABLE) or None
        if value is None:
            return None
        key, source = value, KEY_VARIABLE
    if isinstance(key, str):
        key = key.encode("utf-8")
    if not isinstance(key, (bytes, bytearray)):
        raise ConfigurationError(f"{owner}: key must be bytes or str, not {type(key).__name__}")
    if len(key) < MIN_KEY_BYTES:
        raise ConfigurationError(
            f"{owner}: {source} must be a secret of at least {MIN_KEY_BYTES} bytes, got {len(key)} "
            "(make one with: python -c \"import secrets; print(secrets.token_urlsafe(32))\")"
        )
    return bytes(key)
