"""Token files: checking a path once at construction, and reading the token at every fetch.

Kubernetes (IRSA, Azure workload identity, EKS Pod Identity) mounts short-lived tokens as
files and rotates them, so providers re-read the file for every request. A file that cannot
be read *now* is a `CredentialSourceError` (retryable: a rewrite or a mount is usually done a
moment later); messages name the path, never the content.
"""

from __future__ import annotations

import os

from .errors import ConfigurationError, CredentialSourceError
from .secret import SecretString

__all__ = ["MAX_TOKEN_FILE", "check_path", "read_small_file", "read_token_file"]

MAX_TOKEN_FILE = 64 * 1024  # read no more: a bigger file does not hold a token


def check_path(provider: str, what: str, path: object) -> str:
    """`path` as a string, refused at construction when it can never be opened."""
    try:
        text = os.fspath(path)  # type: ignore[call-overload]
    except TypeError:
        text = None
    if not isinstance(text, str) or not text.strip():
        raise ConfigurationError(f"{provider}: {what} must be a non-empty path, got {path!r}")
    try:  # open() would raise ValueError for these at every fetch; say so once, here
        usable = "\x00" not in text and bool(os.fsencode(text))
    except UnicodeError:
        usable = False
    if not usable:
        raise ConfigurationError(
            f"{provider}: {what} {text!r} is not a usable path "
            "(it holds a NUL character or cannot be encoded for the file system)"
        )
    return text


def read_token_file(path: str, *, provider: str, what: str, max_length: int | None = None) -> SecretString:
    """The one token in the file at `path`, stripped of surrounding whitespace.

    `CredentialSourceError` naming `what` and the path when the file is missing, unreadable,
    empty, too large, not UTF-8, or holds more than one token.
    """
    shown = _shown(path)
    raw = read_small_file(path, provider=provider, what=what)
    try:
        token: str | None = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        token = None  # raised below, outside the handler: the decoding error holds the file's bytes
    if token is None:
        raise _unreadable(provider, f"{what} {shown} is not UTF-8 text")
    if not token:
        raise _unreadable(provider, f"{what} {shown} is empty")
    if max_length is not None and len(token) > max_length:
        raise _unreadable(provider, f"the token in {shown} is longer than the {max_length} characters accepted")
    if any(char.isspace() or not char.isprintable() for char in token):
        raise _unreadable(
            provider,
            f"the token in {shown} contains whitespace or control characters; the file must hold exactly one token",
        )
    return SecretString(token)


def read_small_file(path: str, *, provider: str, what: str) -> bytes:
    """The bytes of the file at `path`, at most `MAX_TOKEN_FILE` of them, read now.

    `CredentialSourceError` naming `what` and the path when it is missing, unreadable, a
    directory or larger than that.
    """
    shown = _shown(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_TOKEN_FILE + 1)
    except FileNotFoundError:
        raise _unreadable(provider, f"{what} {shown} does not exist") from None
    except IsADirectoryError:
        raise _unreadable(provider, f"{what} {shown} is a directory") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise _unreadable(provider, f"{what} {shown} cannot be read ({reason})") from None
    if len(raw) > MAX_TOKEN_FILE:
        raise _unreadable(provider, f"{what} {shown} is larger than {MAX_TOKEN_FILE} bytes; it does not hold a token")
    return raw


def _shown(path: str) -> str:
    """`path` for a message: a name with undecodable bytes (lone surrogates) escaped, so logs can encode it."""
    return path.encode("utf-8", "backslashreplace").decode("utf-8")


def _unreadable(provider: str, message: str) -> CredentialSourceError:
    return CredentialSourceError(f"{provider}: {message}", provider=provider)
