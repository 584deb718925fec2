"""Proxy-style model configuration: a credential provider for each `[[models]]` entry of a TOML file.

`load_models(path)` reads a file, `loads_models(text)` a string (tomllib's `load`/`loads`
convention), entries like::

    [[models]]
    name = "gpt-4o"
    provider_model = "azure/gpt-4o"      # <provider>/<model id>
    api_key = "${AZURE_AD_TOKEN}"        # optional: a static token, from the environment

and gives each model a credential provider: a `StaticTokenProvider` for an `api_key`, else
the identity provider the registry names for the prefix (`azure/`, `bedrock/`, `vertex/`
or `vertex_ai/`), built from the environment. Entries with the same identity share one
provider, so one cache and one token. Everything is checked at load, so a bad file or a
missing variable fails at start-up, and every problem in the file is reported in one
`ModelConfigError`. No token is fetched before `resolve()`.

`inspect(path)` reads a file the same way and reports, per entry, what it needs from the
environment and what is wrong with it, without raising for problems: `literauth check`.

Keys, defaults and the values of variables never appear in a message or a repr: a value
built from a variable is shown as written, each reference as `${NAME}`.

The work is three jobs, one private module each, imported in this order:

- `_document`: read a file (regular files only, size-capped, never blocking), parse the
  TOML, find the `[[models]]` tables;
- `_fields`: `${VAR}` interpolation and one checker per field, each returning a value or
  the problems that stop it, then the checks across entries (names, fallbacks);
- `_identity`: one credential provider per identity, from a static key or the registry
  spec's `from_env()`.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, NoReturn, Union

from ..credentials import Credential
from ..errors import ConfigProblem, ModelConfigError
from ..provider import CredentialProvider, RefreshingCredentialProvider
from ._cache import cache_option
from ._document import (
    MAX_FILE_BYTES,
    TEXT_SOURCE,
    model_tables,
    parse,
    read_file,
)
from ._fields import (
    FIELDS,
    CheckedEntry,
    Reference,
    check_entries,
)
from ._identity import close_all, share_identities, spec_for

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack  # noqa: UP035 - Python 3.10 has neither

    from ..provider import ProviderOptions

__all__ = [
    "FIELDS",
    "MAX_FILE_BYTES",
    "TEXT_SOURCE",
    "ConfigProblem",
    "ConfigReport",
    "EntryReport",
    "ModelConfigError",
    "ModelEntry",
    "ModelTable",
    "VariableState",
    "VariableUse",
    "inspect",
    "load_models",
    "loads_models",
]

StrPath = Union[str, "os.PathLike[str]"]


# -- what load_models returns ------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ModelEntry:
    """One `[[models]]` entry, validated, with the credential provider it resolves through.

    `provider` and `model` are `provider_model` split at its first `/`. `base_url` and
    `timeout_secs` are `None` when the entry does not set them; they are for the caller's
    requests to the model, never used for token requests. `credential_provider` may be
    shared with other entries of the same identity.
    """

    name: str
    provider: str
    model: str
    provider_model: str
    base_url: str | None
    timeout_secs: float | None
    fallbacks: tuple[str, ...]
    credential_provider: CredentialProvider

    def resolve(self) -> Credential:
        """A credential for this model, from the (cached) provider."""
        return self.credential_provider.resolve()


class ModelTable(Mapping[str, ModelEntry]):
    """A read-only mapping from model name to `ModelEntry`, in file order.

    `resolve(name)` returns a credential for a model; `providers` lists the distinct
    providers, and `close()` releases their HTTP sessions.
    """

    __slots__ = ("_entries", "_source")

    def __init__(self, entries: Mapping[str, ModelEntry], *, source: str = TEXT_SOURCE) -> None:
        self._entries: Mapping[str, ModelEntry] = MappingProxyType(dict(entries))
        self._source = source

    def __getitem__(self, name: str) -> ModelEntry:
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def source(self) -> str:
        """The file the table was read from, or the `source` given to `loads_models()`."""
        return self._source

    @property
    def providers(self) -> tuple[CredentialProvider, ...]:
        """The distinct credential providers, in order of first use."""
        unique = {id(e.credential_provider): e.credential_provider for e in self._entries.values()}
        return tuple(unique.values())

    def resolve(self, name: str) -> Credential:
        """A credential for model `name`; `KeyError` when no such model is configured."""
        return self[name].credential_provider.resolve()

    def close(self) -> None:
        """Close the HTTP sessions of the refreshing providers."""
        for provider in self.providers:
            if isinstance(provider, RefreshingCredentialProvider):
                provider.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ModelTable(source={self._source!r}, models={list(self._entries)!r})"

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("ModelTable holds credential providers, which hold secrets, and cannot be pickled")


# -- loading -------------------------------------------------------------------------------


def load_models(
    path: StrPath,
    *,
    environ: Mapping[str, str] | None = None,
    **options: Unpack[ProviderOptions],
) -> ModelTable:
    """Read the `[[models]]` entries of the TOML file at `path` and build their providers.

    `path` (a `str` or an `os.PathLike`) is always a file name; TOML text goes to
    `loads_models()`. Only a regular file of at most `MAX_FILE_BYTES` is read: a directory,
    a FIFO or a device is refused before it is read, so loading never blocks.
    `environ` (default: a snapshot of `os.environ`) feeds both `${VAR}` interpolation and the
    identity providers. `options` (clock, session, timeout, ...) go to the refreshing
    providers. Raises `ConfigurationError` when the file cannot be used, `ModelConfigError`
    listing every problem in it, and `TypeError` naming the argument of a wrong type.
    """
    name = _path(path, "load_models")
    env = _environ(environ, "load_models")
    return _load(name, read_file(name), env, options)


def loads_models(
    text: str,
    *,
    source: str = TEXT_SOURCE,
    environ: Mapping[str, str] | None = None,
    **options: Unpack[ProviderOptions],
) -> ModelTable:
    """Build the providers of the `[[models]]` entries of TOML `text`, as `load_models()` does.

    `source` names the text in messages and in `ModelTable.source` (e.g. where it came
    from); the default is `TEXT_SOURCE`.
    """
    return _load(_str(source, "source"), _str(text, "text"), _environ(environ, "loads_models"), options)


def _load(source: str, text: str, environ: Mapping[str, str], options: Mapping[str, Any]) -> ModelTable:
    """The table of a checked configuration, or `ModelConfigError` with every problem (providers closed)."""
    found = _analyse(source, text, environ, options)
    if found.problems:
        close_all(found.providers.values())
        raise ModelConfigError(source, list(found.problems))
    entries = {}
    for entry in found.entries:  # all ok: any problem would have been raised above
        assert entry.name is not None and entry.provider_model is not None  # ok entries have both
        split = entry.provider_model
        entries[entry.name] = ModelEntry(
            name=entry.name,
            provider=split.provider,
            model=split.model,
            provider_model=split.text.value,
            base_url=entry.base_url,
            timeout_secs=entry.timeout_secs,
            fallbacks=tuple(target.value for target in entry.fallbacks),
            credential_provider=found.providers[entry.index],
        )
    return ModelTable(entries, source=source)


@dataclasses.dataclass(frozen=True)
class _Analysis:
    """One pass over a configuration: its checked entries, their providers, every problem in file order."""

    entries: tuple[CheckedEntry, ...]
    providers: Mapping[int, CredentialProvider]
    problems: tuple[ConfigProblem, ...]


def _analyse(source: str, text: str, environ: Mapping[str, str], options: Mapping[str, Any]) -> _Analysis:
    """The three jobs in order: the document, the field checks, the identities."""
    document = parse(source, text)
    if isinstance(document, ConfigProblem):
        return _Analysis((), {}, (document,))
    tables, problems = model_tables(source, document)
    entries = check_entries(source, tables, environ)
    cache, cache_problems = cache_option(source, document, environ)
    problems += cache_problems
    if cache is not None and "cache" not in options:  # an option given in code wins over the file
        options = {**options, "cache": cache}
    identities = share_identities(source, entries, environ, options)  # also for broken entries: finds more
    problems += [problem for entry in entries for problem in entry.problems]
    problems += identities.problems
    problems.sort(key=lambda p: -1 if p.index is None else p.index)  # stable: file order, by field
    return _Analysis(tuple(entries), identities.providers, tuple(problems))


def _str(value: object, argument: str) -> str:
    """`value`, a `str` argument of `loads_models()`; `TypeError` naming the argument otherwise."""
    if isinstance(value, str):
        return value
    hint = "; decode bytes first, and pass a file's path to load_models()" if isinstance(value, bytes) else ""
    raise TypeError(f"loads_models(): {argument} must be a str, not {type(value).__name__}{hint}")


def _path(path: object, function: str) -> str:
    """`path` as a `str` file name; `TypeError` naming the argument for anything but str or path-like."""
    if isinstance(path, str):
        return path
    if isinstance(path, os.PathLike):
        return os.fsdecode(os.fspath(path))
    hint = "; for TOML text use loads_models()" if isinstance(path, bytes) else ""
    raise TypeError(f"{function}(): path must be a str or an os.PathLike naming a file, not "
                    f"{type(path).__name__}{hint}")


def _environ(environ: object, function: str) -> dict[str, str]:
    """A snapshot of `environ` (of `os.environ` for None), checked to map str to str."""
    if environ is None:
        return dict(os.environ)
    if not isinstance(environ, Mapping):
        raise TypeError(f"{function}(): environ must be a mapping of str to str, or None, not "
                        f"{type(environ).__name__}")
    snapshot = dict(environ)
    for key, value in snapshot.items():
        if not isinstance(key, str) or not isinstance(value, str):  # never quote the value: it may be a secret
            raise TypeError(f"{function}(): environ must map str to str; a {type(key).__name__} key maps to "
                            f"a {type(value).__name__}")
    return snapshot


# -- inspecting ------------------------------------------------------------------------------


class VariableState(str, enum.Enum):
    """Whether an environment variable is set."""

    SET = "set"  #: set and not empty
    EMPTY = "empty"  #: set to the empty string (a `${NAME:-default}` then takes its default)
    UNSET = "unset"


@dataclasses.dataclass(frozen=True)
class VariableUse:
    """A `${NAME}` an entry references: the name and its state, never its value or default."""

    name: str
    state: VariableState
    has_default: bool  #: written ``${NAME:-default}``, so an unset or empty variable is no problem

    @property
    def satisfied(self) -> bool:
        """Whether interpolation can use it: set, or with a default."""
        return self.state is VariableState.SET or self.has_default


@dataclasses.dataclass(frozen=True)
class EntryReport:
    """What `inspect()` found about one `[[models]]` entry.

    Every text here is safe to print: a value built from a variable is shown as written,
    with each reference as ``${NAME}``.
    """

    index: int  #: position in `[[models]]`
    name: str | None  #: the name, as problems show it; None when missing or unusable
    provider_model: str | None  #: as problems show it; None when missing or unusable
    provider: str | None  #: the prefix of `provider_model` as shown (``azure``, or ``${PM}``)
    spec: str | None  #: the registry spec giving credentials from the environment (``azure.client_secret``)
    credentials: Literal["api_key", "environment"] | None  #: where they come from; None: not a table
    variables: tuple[VariableUse, ...]  #: the variables its fields reference, each once, in order
    problems: tuple[ConfigProblem, ...]  #: what `load_models()` would report for this entry

    @property
    def usable(self) -> bool:
        """Whether `load_models()` would accept this entry."""
        return not self.problems


@dataclasses.dataclass(frozen=True)
class ConfigReport:
    """What `inspect()` found in a configuration file: each entry, and the problems of the file itself."""

    source: str  #: the file
    entries: tuple[EntryReport, ...]  #: one per `[[models]]` element, tables or not, in file order
    problems: tuple[ConfigProblem, ...]  #: those of no entry: invalid TOML, no `[[models]]`, ...

    @property
    def all_problems(self) -> tuple[ConfigProblem, ...]:
        """Every problem, in the order `ModelConfigError.problems` lists them."""
        return self.problems + tuple(problem for entry in self.entries for problem in entry.problems)

    @property
    def usable(self) -> bool:
        """Whether `load_models()` would succeed: entries and no problem."""
        return bool(self.entries) and not self.all_problems


def inspect(path: StrPath, *, environ: Mapping[str, str] | None = None) -> ConfigReport:
    """Report on the `[[models]]` file at `path` without raising for its problems.

    The file is read and checked exactly as `load_models()` reads and checks it (the same
    size cap, regular-file rule and interpolation), and the identity providers are built
    from `environ` (default: a snapshot of `os.environ`) to find what is missing, then
    closed; no token is fetched. Raises `ConfigurationError` when the file cannot be read,
    as `load_models()` does; every problem inside it is in the report.
    """
    name = _path(path, "inspect")
    env = _environ(environ, "inspect")
    found = _analyse(name, read_file(name), env, {"background_refresh": False})
    close_all(found.providers.values())
    by_index: dict[int, list[ConfigProblem]] = {}
    for problem in found.problems:
        if problem.index is not None:
            by_index.setdefault(problem.index, []).append(problem)
    checked = {entry.index: entry for entry in found.entries}
    entries = tuple(
        _entry_report(index, checked.get(index), tuple(by_index.get(index, ())), env)
        for index in sorted(set(checked) | set(by_index))
    )
    file_problems = tuple(problem for problem in found.problems if problem.index is None)
    return ConfigReport(name, entries, file_problems)


def _entry_report(
    index: int, entry: CheckedEntry | None, problems: tuple[ConfigProblem, ...], environ: Mapping[str, str]
) -> EntryReport:
    if entry is None:  # an element of [[models]] that is not a table
        return EntryReport(index, None, None, None, None, None, (), problems)
    shown = None if entry.provider_model is None else entry.provider_model.text.written
    if entry.provider_model is not None and not entry.provider_model.text.from_variables:
        shown = entry.provider_model.text.value
    spec = spec_for(entry)
    return EntryReport(
        index=index,
        name=entry.label,
        provider_model=shown,
        provider=None if shown is None else shown.partition("/")[0],
        spec=None if spec is None else spec.name,
        credentials=entry.credentials,
        variables=tuple(_variable_use(reference, environ) for reference in entry.references),
        problems=problems,
    )


def _variable_use(reference: Reference, environ: Mapping[str, str]) -> VariableUse:
    value = environ.get(reference.name)
    state = VariableState.UNSET if value is None else VariableState.SET if value else VariableState.EMPTY
    return VariableUse(reference.name, state, reference.has_default)
