"""The explicit, versioned serialisation of a cached credential, plain or sealed.

Credentials refuse pickle; an entry is a small JSON document (the credential's fields, its
absolute expiry and when it was issued) behind a two-byte header: the format version and
whether the rest is plain (in-process stores) or sealed with AES-256-GCM (every store that
leaves the process). Anything else — another version, bad JSON, a wrong field, a failed tag —
decodes to `None`: the caller counts it as a reject and fetches anew.
"""

from __future__ import annotations

import json
import math
import os
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from ..credentials import UTC, AwsCredentials, BearerToken, Credential
from ..errors import LiterAuthError
from ..secret import SecretString

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["VERSION", "Loaded", "decode", "encode"]

VERSION = 1
_PLAIN = 0
_SEALED = 1
_NONCE = 12
MAX_ENTRY = 64 * 1024  #: no credential entry is larger; a bigger blob is damage, not an entry


class Loaded(NamedTuple):
    """A decoded entry: the credential and when its writer started the fetch (epoch seconds)."""

    credential: Credential
    issued_at: float


def _fields(credential: Credential) -> dict[str, Any]:
    if isinstance(credential, BearerToken):
        return {"kind": "bearer", "token": credential.token.expose_secret()}
    if isinstance(credential, AwsCredentials):
        session = credential.session_token
        return {
            "kind": "aws",
            "access_key_id": credential.access_key_id.expose_secret(),
            "secret_access_key": credential.secret_access_key.expose_secret(),
            "session_token": None if session is None else session.expose_secret(),
        }
    raise TypeError(f"a {type(credential).__name__} cannot be cached")


def cacheable(credential: Credential) -> bool:
    """Whether `credential` has a serialisation (bearer tokens and AWS keys do)."""
    return isinstance(credential, (BearerToken, AwsCredentials))


def encode(credential: Credential, issued_at: float, cipher: AESGCM | None, aad: bytes) -> bytes:
    """The entry for `credential`; sealed with `cipher` (bound to `aad`, the key name) when given."""
    document = {"v": VERSION, "issued_at": issued_at, "expires_at": credential.expires_at_epoch,
                **_fields(credential)}
    body = json.dumps(document, separators=(",", ":")).encode("utf-8")
    if cipher is None:
        return bytes((VERSION, _PLAIN)) + body
    nonce = os.urandom(_NONCE)
    return bytes((VERSION, _SEALED)) + nonce + cipher.encrypt(nonce, body, aad)


def decode(blob: bytes, cipher: AESGCM | None, aad: bytes) -> Loaded | None:
    """The credential in `blob`, or None when it is not an entry this reader may use."""
    if len(blob) < 2 or len(blob) > MAX_ENTRY or blob[0] != VERSION:
        return None
    if blob[1] != (_PLAIN if cipher is None else _SEALED):
        return None  # a plain entry where a sealed one belongs (or back) is refused, never trusted
    body: bytes | None = blob[2:]
    if cipher is not None:
        body = _open(cipher, blob[2:], aad)
    if body is None:
        return None
    try:
        document = json.loads(body)
    except ValueError:  # UnicodeDecodeError included
        document = None
    return _credential(document)


def _open(cipher: AESGCM, sealed: bytes, aad: bytes) -> bytes | None:
    from cryptography.exceptions import InvalidTag

    if len(sealed) <= _NONCE:
        return None
    try:
        return cipher.decrypt(sealed[:_NONCE], sealed[_NONCE:], aad)
    except InvalidTag:
        return None


def _credential(document: object) -> Loaded | None:
    if not isinstance(document, dict) or document.get("v") != VERSION:
        return None
    issued_at, expires = document.get("issued_at"), document.get("expires_at")
    if not isinstance(issued_at, (int, float)) or not _number(issued_at) or not (expires is None or _number(expires)):
        return None
    expires_at = None if expires is None else datetime.fromtimestamp(expires, UTC)
    try:
        credential = _build(document, expires_at)
    except (LiterAuthError, TypeError, ValueError):
        return None
    if credential is None:
        return None
    return Loaded(credential, float(issued_at))


def _build(document: dict[str, Any], expires_at: datetime | None) -> Credential | None:
    def secret(name: str) -> SecretString:
        value = document.get(name)
        if not isinstance(value, str):
            raise TypeError(name)
        return SecretString(value)

    kind = document.get("kind")
    if kind == "bearer":
        return BearerToken(secret("token"), expires_at)
    if kind == "aws":
        session = None if document.get("session_token") is None else secret("session_token")
        return AwsCredentials(secret("access_key_id"), secret("secret_access_key"), session, expires_at)
    return None


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
