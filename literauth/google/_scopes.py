"""OAuth scopes as every Google provider takes them: one string, several separated by spaces, or an iterable."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..errors import ConfigurationError

__all__ = ["normalize_scopes"]


def normalize_scopes(provider: str, scopes: str | Iterable[str]) -> tuple[str, ...]:
    """Scopes as a tuple without duplicates; a string may hold several separated by spaces.

    A value that is not a string or an iterable of them is a `TypeError`; an empty one, or a
    scope holding whitespace, a `ConfigurationError` naming `provider`.
    """
    if not isinstance(scopes, (str, Iterable)) or isinstance(scopes, (bytes, Mapping)):
        raise TypeError(f"scopes must be a string or an iterable of strings, not {type(scopes).__name__}")
    items = scopes.split() if isinstance(scopes, str) else list(scopes)
    if not items or not all(isinstance(s, str) and s.strip() for s in items):
        raise ConfigurationError(f"{provider}: scopes must be one or more non-empty strings")
    for scope in items:
        if len(scope.split()) != 1:
            raise ConfigurationError(f"{provider}: a scope must not contain whitespace, got {scope!r}")
    return tuple(dict.fromkeys(s.strip() for s in items))
