"""`literauth check [CONFIG]`: which setups or models are usable, and the variables each needs.

Without CONFIG, one row per `token` kind (every registry spec, and `static`); with CONFIG,
one row per `[[models]]` entry, from `config.inspect()` (the loader's own reading and checks,
so `check` and `load_models()` can never disagree). Nothing is fetched unless `--fetch`.
A cloud's default chain (``azure``) chooses its source, which may probe that cloud's
metadata service within the chain's one deadline, and its `describe()` is printed under the
table. Output never holds a secret or the value of a variable: only variable names and
whether each is set, and names as the file writes them.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from .._registry import CHAINS, SPECS, by_name
from ..chain import ChainProvider
from ..config import (
    EntryReport,
    ModelTable,
    VariableState,
    VariableUse,
    inspect,
    load_models,
)
from ..credentials import Credential
from ..errors import (
    ConfigProblem,
    ConfigurationError,
    LiterAuthError,
    SourceNotConfigured,
)
from ..provider import CredentialProvider, RefreshingCredentialProvider
from ._common import EXIT_FAILURE, EXIT_OK, iso, one_line
from ._progress import Progress
from ._setups import SETUPS, Setup, build, close, command_cache, substitutes

__all__ = ["run"]

_LABELS = tuple(f"{name}: " for name in (*(s.name for s in SPECS), *(c.name for c in CHAINS), "static"))


@dataclasses.dataclass
class _Row:
    """One line of the `check` table and the note printed below it (never a secret)."""

    name: str
    provider: str
    variables: list[tuple[str, str]]  # (name, "set" | "MISSING" | "empty" | "default")
    status: str = "ok"
    note: str | None = None
    usable: bool = True
    chain: tuple[str, ...] = ()  # a chain's describe(), one line per source

    def explain(self, provider: CredentialProvider, environ: Mapping[str, str]) -> None:
        """For a chain: its chosen provider and that one's variables, and `describe()` under the table."""
        if not isinstance(provider, ChainProvider):
            return
        self.chain = tuple(one_line(str(outcome)) for outcome in provider.describe())
        if provider.chosen is not None:
            self.provider = type(provider.chosen).__name__
            spec = next((s for s in SPECS if s.class_name == self.provider), None)
            if spec is not None and not self.variables:
                self.variables = [(name, _state(environ, name)) for name in spec.required_env]

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


def _choose(row: _Row, chain: ChainProvider, label: str, ui: Progress) -> None:
    """Let the chain pick its source without fetching; not usable when none is configured."""
    try:
        chain.choose()
    except SourceNotConfigured:
        row.fail("not usable", "no credential source is configured (see the chain below)")
    except LiterAuthError as exc:
        row.fail("not usable", _note(str(exc)))


def _show_result(row: _Row, credential: Credential | None, error: str | None) -> None:
    if credential is None:
        row.fail("FAILED", error)
        return
    expires = iso(credential.expires_at)
    row.status = "ok, never expires" if expires is None else f"ok, expires {expires}"


# -- the environment -------------------------------------------------------------------------


def _environment_rows(fetch: bool, ui: Progress, cache: bool) -> list[_Row]:
    """A row per `token` kind; `static` unset is reported, not counted as a failure."""
    environ = dict(os.environ)
    rows = []
    store = command_cache(cache and fetch)
    checked: set[str] = set()  # a chain's aliases ('token google' for 'token vertex') are checked once
    for setup in SETUPS:
        if setup.spec is not None:
            if setup.spec.name in checked:
                continue
            checked.add(setup.spec.name)
        row = _Row(setup.kind, setup.class_name, _needed(setup, environ))
        rows.append(row)
        if setup.spec is None and not (environ.get(setup.required_env[0]) or "").strip():
            row.status = "unused"  # only 'token static' reads it
            continue
        try:
            options: dict[str, Any] = {} if setup.spec is None else {"cache": store}
            provider = build(setup, environ, background_refresh=False, **options)
        except ConfigurationError as exc:
            row.fail("not usable", _note(str(exc)))
            continue
        row.provider = type(provider).__name__  # StaticTokenProvider for AZURE_AD_TOKEN
        try:
            if fetch:
                _show_result(row, *_try_resolve(provider, setup.kind, ui))
            elif isinstance(provider, ChainProvider):
                _choose(row, provider, setup.kind, ui)
            row.explain(provider, environ)
        finally:
            close(provider)
    return rows


# -- a configuration file ------------------------------------------------------------------------

_STATES = {VariableState.SET: "set", VariableState.EMPTY: "empty", VariableState.UNSET: "MISSING"}


def _variable_state(use: VariableUse) -> str:
    """How the table shows a referenced variable: set, default (taken), empty or MISSING."""
    if use.state is not VariableState.SET and use.has_default:
        return "default"
    return _STATES[use.state]


def _problem_note(problem: ConfigProblem) -> str:
    """A problem of an entry as a note of its row: the row already names the entry."""
    return problem.message if problem.field is None else f"{problem.field}: {problem.message}"


def _entry_row(entry: EntryReport, environ: Mapping[str, str]) -> _Row:
    """The row of one `[[models]]` entry: what it needs from the environment, and its problems.

    Every text comes from `inspect()`'s report, which shows a value built from a variable as
    written (``${NAME}``), so no value of a variable can reach the table.
    """
    name = entry.name if entry.name is not None else f"models[{entry.index}]"
    provider = entry.provider if entry.provider is not None else "?"
    variables = {use.name: _variable_state(use) for use in entry.variables}
    if entry.credentials == "api_key":
        provider = f"{provider} (api_key)"
    elif entry.spec is not None:
        provider = f"{provider} (from env)"
        spec = by_name(entry.spec)
        setup = next((s for s in SETUPS if s.spec == spec), Setup(spec.name, spec))
        for variable, state in _needed(setup, environ):  # AZURE_AD_TOKEN in place of the secret, when set
            variables.setdefault(variable, state)
    row = _Row(name, provider, list(variables.items()))
    for problem in entry.problems:
        row.fail("not usable", _problem_note(problem))
    return row


def _explain_chains(entries: Sequence[EntryReport], rows: list[_Row], environ: Mapping[str, str], ui: Progress) -> None:
    """Under the first row of each cloud whose default chain gives entries their credentials, its `describe()`."""
    seen: set[str] = set()
    for entry, row in zip(entries, rows):
        if entry.spec is None or entry.spec in seen or entry.spec not in {c.name for c in CHAINS}:
            continue
        seen.add(entry.spec)
        chain = by_name(entry.spec).from_env(environ, background_refresh=False)
        assert isinstance(chain, ChainProvider)
        try:
            chain.choose()
        except LiterAuthError:
            pass  # the row already holds the loader's own words for it
        shown = row.provider  # the row names the entry's provider prefix, not a class
        row.explain(chain, environ)
        row.provider = shown
        close(chain)


def _config_check(path: str, fetch: bool, ui: Progress, cache: bool) -> tuple[list[_Row], list[str]]:
    """Rows for a configuration file, and problems that belong to no model.

    `config.inspect()` reads the file as `load_models()` does (regular files only, size
    capped, never blocking), so a directory, a FIFO or a huge file is refused in its words
    (a `ConfigurationError`, printed by `main`). Only a usable file is loaded, for `--fetch`;
    its `[cache]` table chooses the token cache, unless `--no-cache` turns it off.
    """
    environ = dict(os.environ)
    report = inspect(path, environ=environ)
    rows = [_entry_row(entry, environ) for entry in report.entries]
    _explain_chains(report.entries, rows, environ, ui)
    general = [str(problem) for problem in report.problems]
    if not rows and not general:
        general.append(f"{report.source}: no [[models]] entries")
    if fetch and report.usable:
        try:
            options: dict[str, Any] = {} if cache else {"cache": False}
            table = load_models(path, environ=environ, background_refresh=False, **options)
        except ConfigurationError as exc:  # the file changed since it was inspected
            general.append(one_line(str(exc)))
            return rows, general
        with table:
            _fetch_rows(table, rows, ui)
    elif fetch:
        general.append("--fetch was skipped: the configuration has problems (see above)")
    return rows, general


def _fetch_rows(table: ModelTable, rows: list[_Row], ui: Progress) -> None:
    """Resolve each distinct provider once; rows and entries are both in file order.

    Rows keep the name the report shows: the table's names are interpolated, and may hold
    the value of a variable.
    """
    results: dict[int, tuple[Credential | None, str | None]] = {}
    for row, entry in zip(rows, table.values()):
        provider = entry.credential_provider
        if id(provider) not in results:
            results[id(provider)] = _try_resolve(provider, row.name, ui)
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
    for row in rows:
        if row.chain:
            lines += ["", f"{row.name}: default chain, in order:", *(f"  {line}" for line in row.chain)]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, ui: Progress) -> int:
    """The `check` command."""
    general: list[str] = []
    if args.config is not None:
        rows, general = _config_check(args.config, args.fetch, ui, not args.no_cache)
        first = "MODEL"
    else:
        rows = _environment_rows(args.fetch, ui, not args.no_cache)
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
