"""Fields of Google credential configuration files (ADC JSON), checked with messages naming the field.

Messages name the file and the field, never a value that could be a secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigurationError
from ._files import read_json_file

__all__ = ["DEFAULT_UNIVERSE", "optional_text", "read_info_file", "universe_domain"]

DEFAULT_UNIVERSE = "googleapis.com"


def read_info_file(provider: str, path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    """The JSON object in the file at `path`; `ConfigurationError` naming `what` and the path."""
    parsed = read_json_file(path, provider=provider, what=what)
    if not isinstance(parsed, dict):
        raise ConfigurationError(f"{provider}: {what} {os.fspath(path)} is not a JSON object")
    return parsed


def optional_text(provider: str, info: Mapping[str, Any], field: str, source: str) -> str | None:
    """A string field stripped, None when absent or empty; `ConfigurationError` for another type."""
    value = info.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ConfigurationError(f"{provider}: {source}: field {field!r} must be a string")
    return value.strip() or None


def universe_domain(provider: str, info: Mapping[str, Any], source: str) -> str:
    """The file's `universe_domain` (default googleapis.com): the domain default endpoints use."""
    domain = optional_text(provider, info, "universe_domain", source) or DEFAULT_UNIVERSE
    if "/" in domain or ":" in domain or " " in domain:
        raise ConfigurationError(f"{provider}: {source}: field 'universe_domain' must be a domain name")
    return domain
