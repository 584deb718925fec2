"""Reading Google credential files (key files, ADC files): JSON objects, errors naming the file, never its content."""

from __future__ import annotations

import os
from typing import Any

from .. import _safejson
from ..errors import ConfigurationError

__all__ = ["MAX_FILE", "read_json_file"]

MAX_FILE = 1024 * 1024  # a credentials file is a few kB; refuse to read a huge file into memory


def read_json_file(path: str | os.PathLike[str], *, provider: str, what: str) -> Any:
    """The parsed JSON of the file at `path`, named `what` ("service-account key file") in errors."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike naming a {what}, not {type(path).__name__}")
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            raw = handle.read(MAX_FILE + 1)
    except FileNotFoundError:
        raise ConfigurationError(f"{provider}: {what} {name} does not exist") from None
    except OSError as exc:
        raise ConfigurationError(f"{provider}: {what} {name} cannot be read ({type(exc).__name__})") from None
    except ValueError:  # a NUL character, or a name the file system encoding cannot hold
        raise ConfigurationError(f"{provider}: {what} {name!r} is not a usable path") from None
    if len(raw) > MAX_FILE:
        raise ConfigurationError(f"{provider}: {name} is larger than 1 MiB; it is not a {what}")
    parsed = _safejson.loads(raw)
    if isinstance(parsed, _safejson.Invalid):
        raise ConfigurationError(f"{provider}: {what} {name} is {parsed}")
    return parsed
