"""Field checks: `${VAR}` interpolation and one checker per `[[models]]` field.

Every checker returns a `Checked` value: the usable value (or None) and the problems that
stop it. No checker looks at problems found elsewhere, so what an entry is — its identity
included — follows from the checkers' values, not from counting problems.

Messages never quote a key, a default or the value of a variable: a string that took part
of its value from a variable is shown as written, each reference as `${NAME}`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import urlsplit

from .._url import check_endpoint_url, is_loopback_host
from ..errors import ConfigProblem, ConfigurationError
from ..secret import SecretString
from ._document import Tables, kind

__all__ = [
    "FIELDS", "REFERENCE", "Checked", "CheckedEntry", "FromEnvironment", "ProviderModel", "Reference",
    "StaticKey", "Text", "check_entries", "interpolate", "references", "shown",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
_Report = Callable[[str | None, Sequence[str]], None]  # (field, messages) -> recorded as ConfigProblems

FIELDS = ("name", "provider_model", "api_key", "base_url", "timeout_secs", "fallbacks")

# Names other proxies use for our fields: suggested when they appear as unknown fields.
_ALIASES = {
    "api_base": "base_url",
    "base": "base_url",
    "endpoint": "base_url",
    "url": "base_url",
    "model": "provider_model",
    "model_name": "name",
    "key": "api_key",
    "token": "api_key",
    "timeout": "timeout_secs",
    "request_timeout": "timeout_secs",
    "fallback": "fallbacks",
}

_PROVIDER_PREFIX = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The one interpolation syntax (the loader and `inspect()` both use it): `$${` first (the
# escape), then a complete `${...}`, then a `${` that is never closed.
REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_SHOWN = 80  # characters of a (non-secret) value quoted in an error message


# -- values ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Checked(Generic[T_co]):
    """What a checker found: the usable value (None when absent or unusable) and its problems."""

    value: T_co | None = None
    problems: tuple[str, ...] = ()


def _rejected(*messages: str) -> Checked[Any]:
    return Checked(None, messages)


@dataclasses.dataclass(frozen=True)
class Text:
    """A string value after interpolation, with the form messages may show."""

    value: str  #: after interpolation
    written: str  #: as in the file, each reference shown as ``${NAME}`` (no value, no default)
    from_variables: bool  #: whether a variable (or its default) supplied part of `value`

    @property
    def quoted(self) -> str:
        """For a message: the value if it is all literal text, else the masked written form."""
        return shown(self.written if self.from_variables else self.value)


@dataclasses.dataclass(frozen=True)
class Reference:
    """A well-formed `${NAME}` or `${NAME:-default}` in a value; the default is not kept."""

    name: str
    has_default: bool


@dataclasses.dataclass(frozen=True)
class ProviderModel:
    """`provider_model` split at its first `/`."""

    text: Text
    provider: str
    model: str

    @property
    def provider_quoted(self) -> str:
        """The provider prefix for a message, or the masked field if a variable supplied it."""
        return f"of provider_model {self.text.quoted}" if self.text.from_variables else shown(self.provider)


@dataclasses.dataclass(frozen=True)
class StaticKey:
    """The entry's identity is its `api_key`."""

    key: SecretString


@dataclasses.dataclass(frozen=True)
class FromEnvironment:
    """The entry's identity comes from the environment, through the prefix's registry spec."""

    provider_model: ProviderModel


@dataclasses.dataclass(frozen=True)
class CheckedEntry:
    """One `[[models]]` entry after its field checks; `None` marks a missing or unusable field.

    `identity` is None when `provider_model` or `api_key` is unusable: nothing then says
    which credentials the entry should have. `label` is how problems name the entry.
    """

    index: int
    label: str | None
    name: str | None
    provider_model: ProviderModel | None
    credentials: Literal["api_key", "environment"]  # where the entry says its credentials come from
    identity: StaticKey | FromEnvironment | None
    base_url: str | None
    timeout_secs: float | None
    fallbacks: tuple[Text, ...]
    references: tuple[Reference, ...]
    problems: tuple[ConfigProblem, ...]


# -- interpolation ----------------------------------------------------------------------------


def interpolate(written: str, environ: Mapping[str, str]) -> Checked[Text]:
    """`written` with `${VAR}` and `${VAR:-default}` replaced; `$${` is a literal `${`.

    Substituted text is not scanned again. A default applies when the variable is unset or
    empty, as in the shell. Problems name variables only: the default and the value may be
    secrets.
    """
    value: list[str] = []
    masked: list[str] = []
    problems: list[str] = []
    from_variables = False
    position = 0
    for match in REFERENCE.finditer(written):
        literal = written[position:match.start()]
        value.append(literal)
        masked.append(literal)
        position = match.end()
        if match.group(0) == "$${":
            value.append("${")
            masked.append("$${")
            continue
        body = match.group(1)
        if body is None:
            problems.append("has a '${' without a closing '}' (write '$${' for a literal '${')")
            continue
        name, has_default, default = body.partition(":-")
        if not _VAR_NAME.fullmatch(name):
            problems.append(
                "has a malformed ${...} reference; write ${NAME} or ${NAME:-default}, where NAME is "
                "letters, digits and '_'"
            )
            continue
        from_variables = True
        masked.append(f"${{{name}:-…}}" if has_default else f"${{{name}}}")
        found = environ.get(name)
        if has_default:
            value.append(found if found else default)
        elif found is None:
            problems.append(f"environment variable {name} is not set (set it, or give a default: ${{{name}:-...}})")
        else:
            value.append(found)
    value.append(written[position:])
    masked.append(written[position:])
    if problems:
        return _rejected(*problems)
    return Checked(Text("".join(value), "".join(masked), from_variables))


def references(written: str) -> tuple[Reference, ...]:
    """The well-formed references in `written`, in order (malformed ones are problems elsewhere)."""
    found: list[Reference] = []
    for match in REFERENCE.finditer(written):
        name, has_default, _ = (match.group(1) or "").partition(":-")
        if _VAR_NAME.fullmatch(name):
            found.append(Reference(name, bool(has_default)))
    return tuple(found)


def _interpolated(value: object, environ: Mapping[str, str]) -> Checked[object]:
    """A field's value with strings (alone or in an array) interpolated; other types as they are."""
    if isinstance(value, str):
        return interpolate(value, environ)
    if not isinstance(value, list):
        return Checked(value)
    items: list[object] = []
    problems: list[str] = []
    for item in value:
        result = interpolate(item, environ) if isinstance(item, str) else Checked(item)
        problems.extend(result.problems)
        items.append(result.value)
    return _rejected(*problems) if problems else Checked(items)


def _written_references(value: object) -> list[Reference]:
    texts = value if isinstance(value, list) else [value]
    return [ref for text in texts if isinstance(text, str) for ref in references(text)]


# -- one checker per field --------------------------------------------------------------------


def _name(value: object, environ: Mapping[str, str]) -> Checked[Text]:
    """The interpolated name, which labels the entry's other problems."""
    if not isinstance(value, str):
        return _rejected(f"must be a string, not {_kind(value)}")
    result = interpolate(value, environ)
    name = result.value
    if name is None:
        return result
    if not name.value.strip():
        return _rejected("must not be empty")
    if name.value != name.value.strip():
        return _rejected(f"{name.quoted} has leading or trailing whitespace")
    return result


def _provider_model(value: object) -> Checked[ProviderModel]:
    if not isinstance(value, Text):
        return _rejected(f"must be a string, not {_kind(value)}")
    provider, slash, model = value.value.partition("/")
    split = ProviderModel(value, provider, model)
    if not slash or not model.strip() or not provider:
        return _rejected(f"{value.quoted} must be '<provider>/<model id>', e.g. \"azure/gpt-4o\"")
    if not _PROVIDER_PREFIX.fullmatch(provider):
        return _rejected(
            f"provider {split.provider_quoted} must be lower-case letters, digits, '_', '-' or '.' "
            "(e.g. azure, bedrock, vertex_ai)"
        )
    if model != model.strip():
        what = f"of provider_model {value.quoted}" if value.from_variables else shown(model)
        return _rejected(f"model id {what} has leading or trailing whitespace")
    return Checked(split)


def _api_key(value: object) -> Checked[SecretString]:
    if not isinstance(value, Text):  # never quote it: it is a secret whatever its type
        return _rejected(f"must be a string, not {_kind(value)}")
    if not value.value.strip():
        how = " after ${...} interpolation (the variable is set but empty)" if value.from_variables else ""
        return _rejected(f"is empty{how}; an empty key is never a valid credential")
    return Checked(SecretString(value.value.strip()))  # a trailing newline from a secrets file would break the header


def _base_url(value: object) -> Checked[str]:
    if not isinstance(value, Text):
        return _rejected(f"must be a string, not {_kind(value)}")
    message = _url_problem(value)
    return Checked(value.value.strip()) if message is None else _rejected(message)


def _timeout(value: object) -> Checked[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _rejected(f"must be a number of seconds, not {_kind(value)}")
    try:
        seconds = float(value)
    except OverflowError:  # TOML integers are unbounded (and too long to quote)
        return _rejected("must be a positive number of seconds, got an integer too large to use")
    if not math.isfinite(seconds) or seconds <= 0:
        return _rejected(f"must be a positive number of seconds, got {value!r}")
    return Checked(seconds)


def _fallbacks(value: object) -> Checked[tuple[Text, ...]]:
    """The names in order, each once; a name listed twice is a problem but is still checked."""
    if not isinstance(value, list) or not all(isinstance(item, Text) for item in value):
        return _rejected("must be an array of model names (strings)")
    unique: dict[str, Text] = {}
    problems: list[str] = []
    for item in value:
        if item.value in unique:
            problems.append(f"lists {item.quoted} twice")
        unique.setdefault(item.value, item)
    return Checked(tuple(unique.values()), tuple(problems))


# -- entries ---------------------------------------------------------------------------------------


_Names = dict[str, tuple[int, str]]  # every well-formed name, of broken entries too -> (index, label)


def check_entries(source: str, tables: Tables, environ: Mapping[str, str]) -> list[CheckedEntry]:
    """Every entry checked, then the checks across entries: duplicate names and fallbacks."""
    names: _Names = {}
    entries = [_check_entry(source, index, raw, environ, names) for index, raw in tables]
    return [_with_fallback_targets(source, entry, names) for entry in entries]


def _check_entry(
    source: str, index: int, raw: Mapping[str, Any], environ: Mapping[str, str], names: _Names
) -> CheckedEntry:
    problems: list[ConfigProblem] = []

    if "name" not in raw:
        problems.append(ConfigProblem(source, "required field 'name' is missing", index))
        name: Checked[Text] = Checked()
    else:
        name = _name(raw["name"], environ)
        problems += [ConfigProblem(source, message, index, None, "name") for message in name.problems]
    label = None if name.value is None else _label(name.value)

    def report(field: str | None, messages: Sequence[str]) -> None:
        problems.extend(ConfigProblem(source, message, index, label, field) for message in messages)

    # Interpolation first, for every known field but the name (done above); a field whose
    # interpolation failed is reported once and not checked further.
    values = {field: _interpolated(raw[field], environ) for field in FIELDS[1:] if field in raw}
    for field, result in values.items():
        report(field, result.problems)
    for field in raw:
        if field not in FIELDS:
            problems.append(ConfigProblem(source, _unknown_field(field), index, label, _shown_key(field)))
    if name.value is not None:
        if name.value.value in names:
            report(None, [f"name {name.value.quoted} is already used by models[{names[name.value.value][0]}]"])
        else:
            names[name.value.value] = (index, _label(name.value))

    if "provider_model" not in raw:
        report(None, ["required field 'provider_model' is missing (e.g. \"azure/gpt-4o\")"])
    provider_model = _check(values, "provider_model", _provider_model, report)
    api_key = _check(values, "api_key", _api_key, report)
    base_url = _check(values, "base_url", _base_url, report)
    timeout = _check(values, "timeout_secs", _timeout, report)
    fallbacks = _check(values, "fallbacks", _fallbacks, report)

    identity: StaticKey | FromEnvironment | None = None
    if provider_model is not None:
        if "api_key" not in raw:
            identity = FromEnvironment(provider_model)
        elif api_key is not None:
            identity = StaticKey(api_key)
    refs = [ref for field in FIELDS if field in raw for ref in _written_references(raw[field])]
    return CheckedEntry(
        index=index,
        label=label,
        name=None if name.value is None else name.value.value,
        provider_model=provider_model,
        credentials="api_key" if "api_key" in raw else "environment",
        identity=identity,
        base_url=base_url,
        timeout_secs=timeout,
        fallbacks=fallbacks or (),
        references=_each_once(refs),
        problems=tuple(problems),
    )


def _each_once(found: Sequence[Reference]) -> tuple[Reference, ...]:
    """One reference per variable, in order; it has a default only if every use has one."""
    merged: dict[str, bool] = {}
    for reference in found:
        merged[reference.name] = merged.get(reference.name, True) and reference.has_default
    return tuple(Reference(name, has_default) for name, has_default in merged.items())


def _label(name: Text) -> str:
    """How problems name an entry: its name, or the name as written if a variable is in it."""
    return name.written if name.from_variables else name.value


def _check(
    values: Mapping[str, Checked[object]], field: str, checker: Callable[[object], Checked[T]], report: _Report
) -> T | None:
    """`checker`'s value for an interpolated field (None when absent or failed), its problems reported."""
    interpolated = values.get(field)
    if interpolated is None or interpolated.value is None:
        return None
    result = checker(interpolated.value)
    report(field, result.problems)
    return result.value


def _with_fallback_targets(source: str, entry: CheckedEntry, names: _Names) -> CheckedEntry:
    """`entry` with a problem for each fallback naming itself or no entry."""
    problems: list[ConfigProblem] = []
    for target in entry.fallbacks:
        if entry.name is not None and target.value == entry.name:
            message = "an entry cannot fall back to itself"
        elif target.value not in names:
            guess = difflib.get_close_matches(target.value, list(names), n=1)
            hint = f"; did you mean {shown(names[guess[0]][1])}?" if guess else ""
            message = f"names {target.quoted}, which no [[models]] entry defines{hint}"
        else:
            continue
        problems.append(ConfigProblem(source, message, entry.index, entry.label, "fallbacks"))
    return dataclasses.replace(entry, problems=entry.problems + tuple(problems)) if problems else entry


# -- messages --------------------------------------------------------------------------------------


def _url_problem(url: Text) -> str | None:
    """Why `url` is not an acceptable base_url, without quoting it (it may carry a key)."""
    try:
        parts = urlsplit(url.value.strip())
        has_user = bool(parts.username or parts.password)
        host = parts.hostname or ""
    except ValueError:
        return "is not a valid URL"
    if has_user:
        return "must not carry user information (user:password@); put credentials in api_key"
    try:
        check_endpoint_url(url.value, "base_url")
    except ConfigurationError:
        if parts.scheme == "http" and host and not is_loopback_host(host):
            where = f"the value is {url.quoted}" if url.from_variables else f"the host is {shown(host)}"
            return f"must use https:// (plain http only on loopback); {where}"
        return "must be an absolute https:// URL, e.g. \"https://example.openai.azure.com\""
    return None


def _unknown_field(field: str) -> str:
    suggestion = _ALIASES.get(field.lower()) or next(
        iter(difflib.get_close_matches(field.lower(), FIELDS, n=1, cutoff=0.6)), None
    )
    if suggestion:
        return f"unknown field; did you mean {suggestion!r}?"
    return f"unknown field (the fields are {', '.join(FIELDS)})"


def _kind(value: object) -> str:
    """The TOML type of a value, interpolated strings included, for messages that must not quote it."""
    return "a string" if isinstance(value, Text) else kind(value)


def _shown_key(key: str) -> str:
    return key if len(key) <= _SHOWN else key[: _SHOWN - 1] + "…"


def shown(value: str) -> str:
    """A non-secret value, quoted and cut short for a message."""
    return repr(value if len(value) <= _SHOWN else value[: _SHOWN - 1] + "…")
