"""The optional `[cache]` table: which token cache the configuration's providers share.

    [cache]
    kind = "redis"              # "memory" (the default), "file", "redis" or "none"
    url = "${REDIS_URL}"        # redis only; interpolated like every field
    directory = "/var/cache/x"  # file only; default: the user's cache directory
    key = "${LITERAUTH_CACHE_KEY}"  # file and redis: for identities without a secret of their own

The store is built at load, so a bad table fails at start-up with the other problems; Redis
itself is not contacted before the first fetch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..cache import FileCache, RedisCache, TokenCache
from ..errors import ConfigProblem, ConfigurationError
from ._document import kind
from ._fields import interpolate

__all__ = ["cache_option"]

_KINDS = ("memory", "file", "redis", "none")
_FIELDS = {"kind", "url", "directory", "key"}
_FOR = {"url": {"redis"}, "directory": {"file"}, "key": {"file", "redis"}}


def cache_option(
    source: str, document: Mapping[str, Any], environ: Mapping[str, str]
) -> tuple[TokenCache | bool | None, list[ConfigProblem]]:
    """The `cache=` option the `[cache]` table asks for (None without one), and its problems."""
    table = document.get("cache")
    if table is None:
        return None, []

    def problem(message: str, field: str | None = None) -> tuple[None, list[ConfigProblem]]:
        return None, [ConfigProblem(source, message if field is None else f"[cache] {field}: {message}")]

    if not isinstance(table, dict):
        return problem(f"[cache] must be a table, not {kind(table)}")
    unknown = sorted(set(table) - _FIELDS)
    if unknown:
        return problem(f"unknown field {unknown[0]!r}; the fields are {', '.join(sorted(_FIELDS))}")
    chosen = table.get("kind", "memory")
    if chosen not in _KINDS:
        shown = repr(chosen) if isinstance(chosen, str) else kind(chosen)
        return problem(f"must be one of {', '.join(_KINDS)}, not {shown}", "kind")
    values: dict[str, str] = {}
    for field in ("url", "directory", "key"):
        if field not in table:
            continue
        if chosen not in _FOR[field]:
            return problem(f"applies to kind {' or '.join(sorted(_FOR[field]))}, not {chosen}", field)
        raw = table[field]
        if not isinstance(raw, str):
            return problem(f"must be a string, not {kind(raw)}", field)
        checked = interpolate(raw, environ)
        if checked.value is None:
            return problem(checked.problems[0], field)
        values[field] = checked.value.value
    if chosen == "none":
        return False, []
    if chosen == "memory":
        return None, []
    error = ""
    try:
        if chosen == "file":
            return FileCache(values.get("directory") or None, key=values.get("key") or None), []
        return RedisCache(values.get("url") or None, key=values.get("key") or None), []
    except ConfigurationError as exc:
        error = str(exc)
    return problem(error)
