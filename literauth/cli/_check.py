"""`literauth check [CONFIG]`: which setups or models are usable, and the variables each needs.

Without CONFIG, one row per `token` kind (every registry spec, and `static`); with CONFIG,
one row per `[[models]]` entry. Nothing is fetched unless `--fetch`. Output never holds a
secret: only variable names and whether each is set.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import sys
from collections.abc import Mapping, Sequence

from .._registry import SPECS, by_prefix
from ..config import ModelConfigError, ModelTable, load_models
from ..credentials import Credential
from ..errors import ConfigurationError, LiterAuthError
from ..provider import CredentialProvider, RefreshingCredentialProvider
from ._common import EXIT_FAILURE, EXIT_OK, CommandFailed, iso, one_line
from ._progress import Progress
from ._setups import SETUPS, Setup, build, close, substitutes

if sys.version_info >= (3, 11):  # noqa: UP036 - tomllib is new in 3.11
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["run"]

# Until config.inspect() exists, the rows come from a second, raw read of the file; it is
# skipped above load_models()' own cap, which then reports the size.
_RAW_READ_LIMIT = 4 * 1024 * 1024
_VARIABLE_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")
_LABELS = tuple(f"{name}: " for name in (*(s.name for s in SPECS), "static"))


@dataclasses.dataclass
class _Row:
    """One line of the `check` table and the note printed below it (never a secret)."""

    name: str
    provider: str
    variables: list[tuple[str, str]]  # (name, "set" | "MISSING" | "empty" | "default")
    status: str = "ok"
    note: str | None = None
    usable: bool = True

    def fail(self, status: str, note: str | None) -> None:
        """Mark the row not usable, with `note` saying why (appended to an earlier note)."""
        self.usable = False
        self.status = status
        if note is not None:
            self.note = note if self.note is None else f"{self.note}; {note}"


def _state(environ: Mapping[str, str], name: str) -> str:
    return "set" if (environ.get(name) or "").strip() else "MISSING"


def _needed(setup: Setup, environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """The variables `setup` reads to be usable, and whether each is set."""
    instead = substitutes(setup, environ)  # e.g. AZURE_AD_TOKEN in place of a client secret
    names = instead or setup.required_env
    return [(name, _state(environ, name)) for name in names]


def _note(message: str) -> str:
    """An error as a note: one line, without the provider label the row already shows."""
    text = one_line(message)
    for label in _LABELS:
        if text.startswith(label):
            return text[len(label):]
    return text


def _try_resolve(provider: CredentialProvider, label: str, ui: Progress) -> tuple[Credential | None, str | None]:
    """Resolve once; progress is shown only when a credential is really requested."""
    try:
        if isinstance(provider, RefreshingCredentialProvider):
            with ui.task(f"{label}: requesting a credential"):
                return provider.resolve(), None
        return provider.resolve(), None
    except LiterAuthError as exc:
        return None, _note(str(exc))


def _show_result(row: _Row, credential: Credential | None, error: str | None) -> None:
    if credential is None:
        row.fail("FAILED", error)
        return
    expires = iso(credential.expires_at)
    row.status = "ok, never expires" if expires is None else f"ok, expires {expires}"


# -- the environment -------------------------------------------------------------------------


def _environment_rows(fetch: bool, ui: Progress) -> list[_Row]:
    """A row per `token` kind; `static` unset is reported, not counted as a failure."""
    environ = dict(os.environ)
    rows = []
    for setup in SETUPS:
        row = _Row(setup.kind, setup.class_name, _needed(setup, environ))
        rows.append(row)
        if setup.spec is None and not (environ.get(setup.required_env[0]) or "").strip():
            row.status = "unused"  # only 'token static' reads it
            continue
        try:
            provider = build(setup, environ, background_refresh=False)
        except ConfigurationError as exc:
            row.fail("not usable", _note(str(exc)))
            continue
        row.provider = type(provider).__name__  # StaticTokenProvider for AZURE_AD_TOKEN
        try:
            if fetch:
                _show_result(row, *_try_resolve(provider, setup.kind, ui))
        finally:
            close(provider)
    return rows


# -- a configuration file ------------------------------------------------------------------------


def _references(value: object) -> list[tuple[str, bool]]:
    """`${VAR}` references in a configuration value: (name, has a default)."""
    found: list[tuple[str, bool]] = []
    texts = value if isinstance(value, list) else [value]
    for text in texts:
        if isinstance(text, str):
            found += [(m.group(1), m.group(2) is not None) for m in _VARIABLE_REFERENCE.finditer(text) if m.group(1)]
    return found


def _variable_state(value: str | None, has_default: bool) -> str:
    if value:
        return "set"
    if has_default:
        return "default"
    return "MISSING" if value is None else "empty"


def _raw_models(path: str) -> list[object]:
    """The `[[models]]` entries as TOML values, or `[]` when load_models() will say why not."""
    try:
        if os.path.getsize(path) > _RAW_READ_LIMIT:
            return []
        with open(path, "rb") as handle:
            document = tomllib.loads(handle.read().decode("utf-8-sig"))
    except (OSError, ValueError, RecursionError):
        return []  # load_models() reports why, in its own words
    models = document.get("models")
    return models if isinstance(models, list) else []


def _config_rows(path: str, environ: Mapping[str, str]) -> list[_Row]:
    """A row per `[[models]]` entry, from the raw TOML: what each needs from the environment."""
    rows: list[_Row] = []
    for index, entry in enumerate(_raw_models(path)):
        if not isinstance(entry, dict):
            rows.append(_Row(f"models[{index}]", "?", []))
            continue
        name = entry.get("name") if isinstance(entry.get("name"), str) else f"models[{index}]"
        provider_model = entry.get("provider_model")
        prefix = provider_model.partition("/")[0] if isinstance(provider_model, str) else "?"
        variables: dict[str, str] = {}
        for value in entry.values():
            for variable, has_default in _references(value):
                variables.setdefault(variable, _variable_state(environ.get(variable), has_default))
        spec = by_prefix(prefix)
        provider = prefix
        if "api_key" in entry:
            provider = f"{prefix} (api_key)"
        elif spec is not None:
            provider = f"{prefix} (from env)"
            setup = next((s for s in SETUPS if s.spec == spec), Setup(prefix, spec))
            for variable, state in _needed(setup, environ):
                variables.setdefault(variable, state)
        rows.append(_Row(str(name), provider, list(variables.items())))
    return rows


def _require_file(path: str) -> None:
    """A `CommandFailed` naming the path unless it is a regular file (a FIFO would block)."""
    if os.path.isdir(path):
        raise CommandFailed(f"{path}: is a directory, not a model configuration file")
    if not os.path.exists(path):
        raise CommandFailed(f"{path}: model configuration file does not exist")
    if not os.path.isfile(path):
        raise CommandFailed(f"{path}: is not a regular file")


def _config_check(path: str, fetch: bool, ui: Progress) -> tuple[list[_Row], list[str]]:
    """Rows for a configuration file, and problems that belong to no model."""
    environ = dict(os.environ)
    _require_file(path)
    rows = _config_rows(path, environ)
    try:
        table = load_models(path, environ=environ, background_refresh=False)
    except ModelConfigError as exc:
        general: list[str] = []
        for problem in exc.problems:
            row = rows[problem.index] if problem.index is not None and problem.index < len(rows) else None
            text = problem.message if problem.field is None else f"{problem.field}: {problem.message}"
            if row is None:
                general.append(str(problem))
            else:
                row.fail("not usable", text)
        if not rows and not general:
            general.append(str(exc))
        if fetch:
            general.append("--fetch was skipped: the configuration has problems (see above)")
        return rows, general
    with table:
        if fetch:
            _fetch_rows(table, rows, ui)
    return rows, []


def _fetch_rows(table: ModelTable, rows: list[_Row], ui: Progress) -> None:
    """Resolve each distinct provider once; rows and entries are both in file order."""
    results: dict[int, tuple[Credential | None, str | None]] = {}
    for row, entry in zip(rows, table.values()):
        row.name = entry.name  # as interpolated
        provider = entry.credential_provider
        if id(provider) not in results:
            results[id(provider)] = _try_resolve(provider, entry.name, ui)
        _show_result(row, *results[id(provider)])


# -- output --------------------------------------------------------------------------------------


def _table(rows: Sequence[_Row], first: str) -> str:
    """The rows as aligned columns, then the notes of rows that have one."""
    header = (first, "PROVIDER", "ENVIRONMENT", "STATUS")
    cells = [
        (r.name, r.provider, " ".join(f"{n}={state}" for n, state in r.variables) or "-", r.status) for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(3)]
    lines = [
        "  ".join(f"{value:<{widths[i]}}" for i, value in enumerate(line[:3])) + "  " + line[3]
        for line in [header, *cells]
    ]
    notes = [f"  {r.name}: {r.note}" for r in rows if r.note]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, ui: Progress) -> int:
    """The `check` command."""
    general: list[str] = []
    if args.config is not None:
        rows, general = _config_check(args.config, args.fetch, ui)
        first = "MODEL"
    else:
        rows = _environment_rows(args.fetch, ui)
        first = "SETUP"
    if rows:
        sys.stdout.write(_table(rows, first))
    for problem in general:
        sys.stdout.write(f"{problem}\n")
    usable = all(row.usable for row in rows) and not general and bool(rows)
    summary = "everything checked is usable" if usable else "some of what was checked is not usable"
    sys.stdout.write(f"\n{summary}\n")
    sys.stdout.flush()
    return EXIT_OK if usable else EXIT_FAILURE
