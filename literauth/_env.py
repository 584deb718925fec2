"""Reading configuration from environment variables, the same way for every provider."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from .errors import ConfigurationError

__all__ = ["environment", "optional", "require"]


def environment(environ: Mapping[str, str] | None) -> Mapping[str, str]:
    """`environ`, or `os.environ` when it is None (tests pass a dict); `TypeError` for a non-mapping."""
    if environ is None:
        return os.environ
    if not isinstance(environ, Mapping):
        raise TypeError(f"environ must be a mapping of variable names to values, not {type(environ).__name__}")
    return environ


def optional(environ: Mapping[str, str], name: str) -> str | None:
    """The variable's value stripped of surrounding whitespace; `None` when unset or blank.

    A stray newline or CR from a .env file or a mounted secret is never meant. A value that
    is not a string (a dict built by hand) is a `ConfigurationError` naming the variable.
    """
    value = environ.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"environment variable {name} must be a string, not {type(value).__name__}")
    return value.strip() or None


def _join(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def require(environ: Mapping[str, str], names: Iterable[str], *, provider: str, hint: str) -> dict[str, str]:
    """The stripped values of `names`; one `ConfigurationError` naming every one unset or blank."""
    values = {name: optional(environ, name) for name in names}
    missing = [name for name, value in values.items() if value is None]
    if missing:
        plural = len(missing) > 1
        raise ConfigurationError(
            f"{provider}: environment variable{'s' if plural else ''} {_join(missing)} "
            f"{'are' if plural else 'is'} not set or empty; {hint}"
        )
    return {name: value for name, value in values.items() if value is not None}
