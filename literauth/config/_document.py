"""The document: reading a configuration file safely, parsing its TOML, finding `[[models]]`.

A file is checked with `stat` before it is opened and again, with `fstat`, after opening
it without blocking: a directory, a FIFO or a device is refused before a byte is read, so
`literauth check` can never hang on a pipe or stream `/dev/zero`. The size cap applies
before any parsing, and at most one byte more than the cap is ever read.
"""

from __future__ import annotations

import difflib
import os
import stat
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigProblem, ConfigurationError

if sys.version_info >= (3, 11):  # noqa: UP036 - tomllib is new in 3.11
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["MAX_FILE_BYTES", "TEXT_SOURCE", "Tables", "model_tables", "parse", "read_file"]

MAX_FILE_BYTES = 4 * 1024 * 1024  # a model table is a few KiB; never read an endless file (/dev/zero) whole
TEXT_SOURCE = "<string>"  # how errors name a configuration given as text (`compile()`'s convention)

# O_NONBLOCK: opening a FIFO must not wait for a writer; absent on Windows, where FIFOs are not files.
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
_TOML_HINTS = ("\n", "\r", "[[", "=", '"')  # in a "path" that names no file: it was meant as text

Tables = Sequence[tuple[int, Mapping[str, Any]]]  # (index in [[models]], the entry's table)


def read_file(path: str) -> str:
    """The text of the configuration file at `path`; `ConfigurationError` saying why not.

    Only a regular file of at most `MAX_FILE_BYTES` UTF-8 bytes (a BOM is accepted) is
    read. No message quotes the file's content.
    """
    try:
        _check_kind(path, os.stat(path))
        descriptor = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise ConfigurationError(_unusable(path, f"{path}: model configuration file does not exist")) from None
    except OSError as exc:  # ENAMETOOLONG for text passed as a path, EACCES, ELOOP, ...
        raise ConfigurationError(_unusable(path, f"{path}: cannot be read ({type(exc).__name__})")) from None
    except ValueError:  # a NUL character, or a name the file system encoding cannot hold
        raise ConfigurationError(
            _unusable(path, f"{path!r}: is not a usable path for a model configuration file")
        ) from None
    with open(descriptor, "rb") as handle:  # owns the descriptor from here on
        _check_kind(path, os.fstat(descriptor))  # the same check on what was opened: no swap in between
        try:
            raw = handle.read(MAX_FILE_BYTES + 1)
        except OSError as exc:
            raise ConfigurationError(f"{path}: cannot be read ({type(exc).__name__})") from None
    if len(raw) > MAX_FILE_BYTES:  # grew after the stat
        raise ConfigurationError(_too_large(path))
    try:
        return raw.decode("utf-8-sig")  # tolerate the BOM some Windows editors write
    except UnicodeDecodeError as exc:
        offset = exc.start  # raised below, outside the handler: the decoding error holds the file's bytes
    raise ConfigurationError(f"{path}: is not UTF-8 text (bad byte at offset {offset})")


def _check_kind(path: str, status: os.stat_result) -> None:
    """Refuse anything but a regular file no larger than the cap, before reading it."""
    if stat.S_ISDIR(status.st_mode):
        raise ConfigurationError(f"{path}: is a directory, not a model configuration file")
    if not stat.S_ISREG(status.st_mode):  # a FIFO would block, a device (/dev/zero) never ends
        raise ConfigurationError(f"{path}: is not a regular file (a FIFO, socket or device); not read")
    if status.st_size > MAX_FILE_BYTES:
        raise ConfigurationError(_too_large(path))


def _too_large(path: str) -> str:
    return f"{path}: is larger than {MAX_FILE_BYTES} bytes; it is not a model configuration"


def _unusable(path: str, message: str) -> str:
    """`message`, unless `path` looks like TOML text passed by mistake: that may hold a key.

    Only the wording depends on it: a `str` is always a path, never parsed as text.
    """
    if any(hint in path for hint in _TOML_HINTS):
        return ("load_models(): path names no readable file and looks like TOML text, so it is not quoted; "
                "pass text to loads_models(), and a path (e.g. a pathlib.Path) to load_models()")
    return message


def parse(source: str, text: str) -> Mapping[str, Any] | ConfigProblem:
    """The parsed TOML document, or the file-level problem that makes it invalid."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message names line and column, never a value
        return ConfigProblem(source, f"invalid TOML: {exc}")
    except (ValueError, RecursionError):  # an integer of over 4300 digits; arrays nested past the stack
        return ConfigProblem(source, "invalid TOML: a value is too large or nested too deeply")


def model_tables(source: str, document: Mapping[str, Any]) -> tuple[Tables, list[ConfigProblem]]:
    """The `[[models]]` tables, and the problems of the array's shape.

    Other top-level keys belong to the rest of a proxy's configuration and are ignored
    (never interpolated).
    """
    models = document.get("models")
    if models is None:
        guess = difflib.get_close_matches("models", list(document), n=1, cutoff=0.7)
        hint = f" (found [[{guess[0]}]]; the array is named 'models')" if guess else ""
        return [], [ConfigProblem(source, f"no [[models]] entries{hint}")]
    if not isinstance(models, list):
        return [], [ConfigProblem(source, f"'models' must be an array of tables written [[models]], not {kind(models)}")]
    problems: list[ConfigProblem] = []
    if not models:
        problems.append(ConfigProblem(source, "'models' is empty; add at least one [[models]] entry"))
    tables: list[tuple[int, Mapping[str, Any]]] = []
    for index, raw in enumerate(models):
        if isinstance(raw, dict):
            tables.append((index, raw))
        else:
            problems.append(ConfigProblem(source, f"an entry must be a table, not {kind(raw)}", index))
    return tables, problems


def kind(value: object) -> str:
    """The TOML name of a parsed value's type, for messages that must not quote the value."""
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
             dict: "a table"}
    for python_type, name in names.items():
        if type(value) is python_type:
            return name
    return "a date or time"
