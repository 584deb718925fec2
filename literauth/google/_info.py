"""Reading Google credential configuration files (ADC JSON): size-capped, errors naming the file.

Messages name the path and what is wrong, never the content: these files hold client
secrets and refresh tokens.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from .. import _safejson
from ..errors import ConfigurationError

__all__ = ["DEFAULT_UNIVERSE", "optional_text", "read_info_file", "universe_domain"]

DEFAULT_UNIVERSE = "googleapis.com"
_MAX_FILE = 1024 * 1024  # a credential configuration is a few kB


def read_info_file(provider: str, path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    """The JSON object in the file at `path`; `ConfigurationError` naming `what` and the path."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike naming a {what}, not {type(path).__name__}")
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            raw = handle.read(_MAX_FILE + 1)
    except FileNotFoundError:
        raise ConfigurationError(f"{provider}: {what} {name} does not exist") from None
    except OSError as exc:
        raise ConfigurationError(f"{provider}: {what} {name} cannot be read ({type(exc).__name__})") from None
    except ValueError:  # a NUL character, or a name the file system encoding cannot hold
        raise ConfigurationError(f"{provider}: {what} {name!r} is not a usable path") from None
    if len(raw) > _MAX_FILE:
        raise ConfigurationError(f"{provider}: {what} {name} is larger than 1 MiB")
    parsed = _safejson.loads(raw)
    if isinstance(parsed, _safejson.Invalid):
        raise ConfigurationError(f"{provider}: {what} {name} is {parsed}")
    if not isinstance(parsed, dict):
        raise ConfigurationError(f"{provider}: {what} {name} is not a JSON object")
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
