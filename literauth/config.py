"""Proxy-style model configuration: a credential provider for each `[[models]]` entry of a TOML file.

`load_models()` reads entries like::

    [[models]]
    name = "gpt-4o"
    provider_model = "azure/gpt-4o"      # <provider>/<model id>
    api_key = "${AZURE_AD_TOKEN}"        # optional: a static token, from the environment

and gives each model a credential provider: a `StaticTokenProvider` for an `api_key`, else
the `azure/`, `bedrock/` and `vertex/` (or `vertex_ai/`) identity providers built from the
environment. Entries with the same identity share one provider, so one cache and one token.
Everything is checked at load, so a bad file or a missing variable fails at start-up, and
every problem in the file is reported in one `ModelConfigError`. No token is fetched before
`resolve()`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NoReturn, Union
from urllib.parse import urlsplit

from ._http import check_endpoint_url, is_loopback_host
from .aws.web_identity import WebIdentityCredentialProvider
from .azure.client_secret import AzureAdCredentialProvider
from .credentials import Credential
from .errors import ConfigProblem, ConfigurationError, ModelConfigError
from .google.service_account import VertexOAuthCredentialProvider
from .provider import (
    CredentialProvider,
    RefreshingCredentialProvider,
    StaticTokenProvider,
)
from .secret import SecretString

if sys.version_info >= (3, 11):  # noqa: UP036 - tomllib is new in 3.11
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack  # noqa: UP035 - Python 3.10 has neither

    from .provider import ProviderOptions

__all__ = ["ConfigProblem", "ModelConfigError", "ModelEntry", "ModelTable", "load_models"]

FIELDS = ("name", "provider_model", "api_key", "base_url", "timeout_secs", "fallbacks")
MAX_FILE_BYTES = 4 * 1024 * 1024  # a model table is a few KiB; never read an endless file (/dev/zero) whole
TEXT_SOURCE = "<toml text>"  # how errors name a configuration given as text rather than a file

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

_Factory = Callable[..., CredentialProvider]

# Prefix -> (identity kind, constructor reading the environment); prefixes of one kind share.
_ENV_PROVIDERS: Mapping[str, tuple[str, _Factory]] = MappingProxyType({
    "azure": ("azure_ad", AzureAdCredentialProvider.from_env),
    "bedrock": ("aws_web_identity", WebIdentityCredentialProvider.from_env),
    "vertex": ("vertex", VertexOAuthCredentialProvider.from_env),
    "vertex_ai": ("vertex", VertexOAuthCredentialProvider.from_env),
})

_PROVIDER_PREFIX = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# `$${` first (the escape), then a complete `${...}`, then a `${` that is never closed.
_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_SHOWN = 80  # characters of a (non-secret) value quoted in an error message

PathOrText = Union[str, "os.PathLike[str]"]


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
        """The file the table was read from, or `TEXT_SOURCE` for text."""
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
    path_or_text: PathOrText,
    *,
    environ: Mapping[str, str] | None = None,
    **options: Unpack[ProviderOptions],
) -> ModelTable:
    """Read the `[[models]]` entries of a TOML configuration and build their providers.

    `path_or_text` is a path when it is an `os.PathLike`, or a `str` without a line break
    that names an existing file or ends in `.toml`; a `str` with a line break or the text
    `[[models]]` is TOML text. `environ` (default: a snapshot of `os.environ`) feeds both
    `${VAR}` interpolation and the identity providers. `options` (clock, session, timeout,
    ...) go to the refreshing providers. Raises `ModelConfigError` listing every problem.
    """
    env = dict(os.environ if environ is None else environ)
    source, text = _read_source(path_or_text)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message names line and column, never a value
        problem = ConfigProblem(source, f"invalid TOML: {exc}")
    except (ValueError, RecursionError):  # an integer of over 4300 digits; arrays nested past the stack
        problem = ConfigProblem(source, "invalid TOML: a value is too large or nested too deeply")
    else:
        return _Loader(source, env, options).load(document)
    raise ModelConfigError(source, [problem])  # outside the handlers: the parser's error may hold the text


def _read_source(path_or_text: object) -> tuple[str, str]:
    """(source name, TOML text) for a path or for text, as `load_models` documents."""
    if isinstance(path_or_text, os.PathLike):
        return _read_file(os.fsdecode(os.fspath(path_or_text)))
    if not isinstance(path_or_text, str):
        raise TypeError(f"load_models() needs a path or TOML text, not {type(path_or_text).__name__}")
    value = path_or_text
    if "\n" in value or "\r" in value or "[[models]]" in value:
        return TEXT_SOURCE, value
    if os.path.isfile(value) or value.strip().lower().endswith(".toml"):
        return _read_file(value)
    raise ConfigurationError(
        "load_models() got a one-line string that names no existing file and does not end in "
        "'.toml'; pass a pathlib.Path for a file, or TOML text (with its line breaks)"
    )


def _read_file(path: str) -> tuple[str, str]:
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigurationError(f"{path}: model configuration file does not exist") from None
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot be read ({type(exc).__name__})") from None
    except ValueError:  # a NUL character, or a name the file system encoding cannot hold
        raise ConfigurationError(f"{path!r}: is not a usable path for a model configuration file") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigurationError(f"{path}: is larger than {MAX_FILE_BYTES} bytes; it is not a model configuration")
    try:
        return path, raw.decode("utf-8-sig")  # tolerate the BOM some Windows editors write
    except UnicodeDecodeError as exc:
        offset = exc.start  # raised below, outside the handler: the decoding error holds the file's bytes
    raise ConfigurationError(f"{path}: is not UTF-8 text (bad byte at offset {offset})")


@dataclasses.dataclass
class _Draft:
    """An entry as far as it could be checked; `None` marks a missing or broken field."""

    index: int
    name: str | None
    split: tuple[str, str] | None  # (provider, model) from provider_model
    api_key: str | None
    api_key_ok: bool  # False when api_key is present but unusable (already reported)
    base_url: str | None
    timeout_secs: float | None
    fallbacks: tuple[str, ...]


class _Loader:
    """One load: collects problems while checking entries, then builds shared providers."""

    def __init__(self, source: str, environ: dict[str, str], options: Mapping[str, Any]) -> None:
        self.source = source
        self.environ = environ
        self.options = options
        self.problems: list[ConfigProblem] = []

    def problem(self, message: str, index: int | None = None, name: str | None = None,
                field: str | None = None) -> None:
        self.problems.append(ConfigProblem(self.source, message, index, name, field))

    def load(self, document: Mapping[str, Any]) -> ModelTable:
        names: dict[str, int] = {}  # every well-formed name, even of broken entries -> index
        drafts = [self._check_entry(index, raw, names) for index, raw in self._entries(document)]
        for draft in drafts:
            self._check_fallbacks(draft, names)
        providers = self._build_providers(drafts)  # also for broken entries: it finds more problems
        if self.problems:
            _close_all(providers.values())
            self.problems.sort(key=lambda p: -1 if p.index is None else p.index)  # stable: file order
            raise ModelConfigError(self.source, self.problems)
        entries = {}
        for d in drafts:  # all ok: any problem would have been raised above
            assert d.name is not None and d.split is not None  # ok entries have both
            entries[d.name] = ModelEntry(
                d.name, d.split[0], d.split[1], "/".join(d.split), d.base_url, d.timeout_secs,
                d.fallbacks, providers[d.index],
            )
        return ModelTable(entries, source=self.source)

    # -- the document and its entries ------------------------------------------------------

    def _entries(self, document: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any]]]:
        """The `[[models]]` tables; other top-level keys belong to the rest of a proxy's config."""
        models = document.get("models")
        if models is None:
            guess = difflib.get_close_matches("models", list(document), n=1, cutoff=0.7)
            hint = f" (found [[{guess[0]}]]; the array is named 'models')" if guess else ""
            self.problem(f"no [[models]] entries{hint}")
            return []
        if not isinstance(models, list):
            self.problem(f"'models' must be an array of tables written [[models]], not {_kind(models)}")
            return []
        if not models:
            self.problem("'models' is empty; add at least one [[models]] entry")
        entries: list[tuple[int, Mapping[str, Any]]] = []
        for index, raw in enumerate(models):
            if isinstance(raw, dict):
                entries.append((index, raw))
            else:
                self.problem(f"an entry must be a table, not {_kind(raw)}", index)
        return entries

    def _check_entry(self, index: int, raw: Mapping[str, Any], names: dict[str, int]) -> _Draft:
        name = self._name(index, raw)
        values = self._interpolated(index, name, raw)
        for field in raw:
            if field not in FIELDS:
                self.problem(_unknown_field(field), index, name, _shown_key(field))
        if name is not None:
            if name in names:
                self.problem(f"name {_shown(name)} is already used by models[{names[name]}]", index, name)
            else:
                names[name] = index
        split = self._provider_model(index, name, raw, values)
        checked = len(self.problems)
        api_key = self._api_key(index, name, raw, values)
        api_key_ok = len(self.problems) == checked and ("api_key" in values or "api_key" not in raw)
        base_url = self._base_url(index, name, values)
        timeout = self._timeout(index, name, values)
        fallbacks = self._fallbacks(index, name, values)
        return _Draft(index, name, split, api_key, api_key_ok, base_url, timeout, fallbacks)

    def _interpolated(self, index: int, name: str | None, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Known fields but `name` with `${...}` replaced in strings and lists of strings.

        A field whose interpolation failed is left out: it is reported, and checking what
        is left of it would only add confusing problems.
        """
        values: dict[str, Any] = {}
        for field in FIELDS[1:]:
            if field not in raw:
                continue
            before = len(self.problems)
            value = raw[field]
            if isinstance(value, str):
                value = self._expand(value, index, name, field)
            elif isinstance(value, list):
                value = [self._expand(v, index, name, field) if isinstance(v, str) else v for v in value]
            if len(self.problems) == before:
                values[field] = value
        return values

    def _expand(self, value: str, index: int, label: str | None, field: str) -> str:
        errors: list[str] = []
        expanded = _interpolate(value, self.environ, errors)
        for error in errors:
            self.problem(error, index, label, field)
        return expanded

    # -- one field each ---------------------------------------------------------------------

    def _name(self, index: int, raw: Mapping[str, Any]) -> str | None:
        """The interpolated, checked name, which labels the entry's other problems."""
        if "name" not in raw:
            self.problem("required field 'name' is missing", index)
            return None
        name = raw["name"]
        if not isinstance(name, str):
            self.problem(f"must be a string, not {_kind(name)}", index, None, "name")
            return None
        before = len(self.problems)
        name = self._expand(name, index, None, "name")
        if len(self.problems) > before:
            return None
        if not name.strip():
            self.problem("must not be empty", index, None, "name")
            return None
        if name != name.strip():
            self.problem(f"{_shown(name)} has leading or trailing whitespace", index, None, "name")
            return None
        return name

    def _provider_model(
        self, index: int, label: str | None, raw: Mapping[str, Any], values: Mapping[str, Any]
    ) -> tuple[str, str] | None:
        if "provider_model" not in values:
            if "provider_model" not in raw:
                self.problem("required field 'provider_model' is missing (e.g. \"azure/gpt-4o\")", index, label)
            return None
        value = values["provider_model"]
        if not isinstance(value, str):
            self.problem(f"must be a string, not {_kind(value)}", index, label, "provider_model")
            return None
        provider, slash, model = value.partition("/")
        if not slash or not model.strip() or not provider:
            self.problem(
                f"{_shown(value)} must be '<provider>/<model id>', e.g. \"azure/gpt-4o\"",
                index, label, "provider_model",
            )
            return None
        if not _PROVIDER_PREFIX.fullmatch(provider):
            self.problem(
                f"provider {_shown(provider)} must be lower-case letters, digits, '_', '-' or '.' "
                "(e.g. azure, bedrock, vertex_ai)",
                index, label, "provider_model",
            )
            return None
        if model != model.strip():
            self.problem(f"model id {_shown(model)} has leading or trailing whitespace", index, label,
                         "provider_model")
            return None
        return provider, model

    def _api_key(self, index: int, label: str | None, raw: Mapping[str, Any],
                 values: Mapping[str, Any]) -> str | None:
        if "api_key" not in values:
            return None
        key = values["api_key"]
        if not isinstance(key, str):  # never quote it: it is a secret whatever its type
            self.problem(f"must be a string, not {_kind(key)}", index, label, "api_key")
            return None
        if not key.strip():
            how = " after ${...} interpolation (the variable is set but empty)" if "${" in raw["api_key"] else ""
            self.problem(f"is empty{how}; an empty key is never a valid credential", index, label, "api_key")
            return None
        return key.strip()  # a trailing newline from a secrets file would break the header

    def _base_url(self, index: int, label: str | None, values: Mapping[str, Any]) -> str | None:
        if "base_url" not in values:
            return None
        url = values["base_url"]
        if not isinstance(url, str):
            self.problem(f"must be a string, not {_kind(url)}", index, label, "base_url")
            return None
        message = _url_problem(url)
        if message is not None:
            self.problem(message, index, label, "base_url")
            return None
        return url.strip()

    def _timeout(self, index: int, label: str | None, values: Mapping[str, Any]) -> float | None:
        if "timeout_secs" not in values:
            return None
        value = values["timeout_secs"]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problem(f"must be a number of seconds, not {_kind(value)}", index, label, "timeout_secs")
            return None
        try:
            seconds = float(value)
        except OverflowError:  # TOML integers are unbounded (and too long to quote)
            self.problem("must be a positive number of seconds, got an integer too large to use", index, label,
                         "timeout_secs")
            return None
        if not math.isfinite(seconds) or seconds <= 0:
            self.problem(f"must be a positive number of seconds, got {value!r}", index, label, "timeout_secs")
            return None
        return seconds

    def _fallbacks(self, index: int, label: str | None, values: Mapping[str, Any]) -> tuple[str, ...]:
        if "fallbacks" not in values:
            return ()
        value = values["fallbacks"]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem("must be an array of model names (strings)", index, label, "fallbacks")
            return ()
        seen: set[str] = set()
        for item in value:
            if item in seen:
                self.problem(f"lists {_shown(item)} twice", index, label, "fallbacks")
            seen.add(item)
        return tuple(dict.fromkeys(value))

    def _check_fallbacks(self, draft: _Draft, names: Mapping[str, int]) -> None:
        for target in draft.fallbacks:
            if draft.name is not None and target == draft.name:
                self.problem("an entry cannot fall back to itself", draft.index, draft.name, "fallbacks")
            elif target not in names:
                guess = difflib.get_close_matches(target, list(names), n=1)
                hint = f"; did you mean {_shown(guess[0])}?" if guess else ""
                self.problem(f"names {_shown(target)}, which no [[models]] entry defines{hint}",
                             draft.index, draft.name, "fallbacks")

    # -- providers --------------------------------------------------------------------------

    def _build_providers(self, drafts: list[_Draft]) -> dict[int, CredentialProvider]:
        """One provider per identity: per static key, and per kind built from the environment.

        The environment is one snapshot per load, so entries of one kind have the same
        environment-derived configuration and therefore the same identity.
        """
        static: dict[str, StaticTokenProvider] = {}
        by_kind: dict[str, CredentialProvider | int] = {}  # kind -> provider, or the index that failed
        chosen: dict[int, CredentialProvider] = {}
        for draft in drafts:
            if draft.split is None or not draft.api_key_ok:
                continue  # already reported; nothing tells which identity it should have
            if draft.api_key is not None:
                chosen[draft.index] = _shared_static(static, StaticTokenProvider(SecretString(draft.api_key)))
                continue
            prefix = draft.split[0]
            if prefix not in _ENV_PROVIDERS:
                self._needs_api_key(draft, prefix)
                continue
            kind, factory = _ENV_PROVIDERS[prefix]
            known = by_kind.get(kind)
            if isinstance(known, int):
                self.problem(f"{prefix}/ credentials from the environment: not configured (see models[{known}])",
                             draft.index, draft.name)
                continue
            if known is None:
                try:
                    known = factory(self.environ, **self.options)
                except ConfigurationError as exc:
                    by_kind[kind] = draft.index
                    self.problem(
                        f"{prefix}/ credentials from the environment: {exc} "
                        "(or set api_key for a static token)",
                        draft.index, draft.name,
                    )
                    continue
                if isinstance(known, StaticTokenProvider):  # e.g. AZURE_AD_TOKEN: a static token
                    known = _shared_static(static, known)
                by_kind[kind] = known
            chosen[draft.index] = known
        return chosen

    def _needs_api_key(self, draft: _Draft, prefix: str) -> None:
        variable = re.sub(r"[^A-Z0-9]+", "_", prefix.upper()).strip("_") + "_API_KEY"
        known = ", ".join(f"{p}/" for p in _ENV_PROVIDERS)
        self.problem(
            f"provider {_shown(prefix)} has no credentials from the environment (only {known} do); "
            f"add api_key, e.g. api_key = \"${{{variable}}}\"",
            draft.index, draft.name, "api_key",
        )


def _shared_static(static: dict[str, StaticTokenProvider], provider: StaticTokenProvider) -> StaticTokenProvider:
    """The provider already made for the same token, or this one (remembered for the next)."""
    token = provider.resolve().token.expose_secret()  # no I/O: a static provider holds its token
    return static.setdefault(token, provider)


def _close_all(providers: Any) -> None:
    for provider in {id(p): p for p in providers}.values():
        if isinstance(provider, RefreshingCredentialProvider):
            provider.close()


# -- interpolation -----------------------------------------------------------------------


def _interpolate(value: str, environ: Mapping[str, str], errors: list[str]) -> str:
    """`value` with `${VAR}` and `${VAR:-default}` replaced; `$${` is a literal `${`.

    Substituted text is not scanned again. A default applies when the variable is unset or
    empty, as in the shell. Problems are appended to `errors`, naming variables only: the
    default and the value may be secrets.
    """

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        body = match.group(1)
        if body is None:
            errors.append("has a '${' without a closing '}' (write '$${' for a literal '${')")
            return ""
        name, has_default, default = body.partition(":-")
        if not _VAR_NAME.fullmatch(name):
            errors.append(
                "has a malformed ${...} reference; write ${NAME} or ${NAME:-default}, where NAME is "
                "letters, digits and '_'"
            )
            return ""
        found = environ.get(name)
        if has_default:
            return found if found else default
        if found is None:
            errors.append(
                f"environment variable {name} is not set (set it, or give a default: ${{{name}:-...}})"
            )
            return ""
        return found

    return _REFERENCE.sub(replace, value)


# -- messages --------------------------------------------------------------------------------


def _url_problem(url: str) -> str | None:
    """Why `url` is not an acceptable base_url, without quoting it (it may carry a key)."""
    try:
        parts = urlsplit(url.strip())
        has_user = bool(parts.username or parts.password)
        host = parts.hostname or ""
    except ValueError:
        return "is not a valid URL"
    if has_user:
        return "must not carry user information (user:password@); put credentials in api_key"
    try:
        check_endpoint_url(url, "base_url")
    except ConfigurationError:
        if parts.scheme == "http" and host and not is_loopback_host(host):
            return f"must use https:// (plain http only on loopback); the host is {_shown(host)}"
        return "must be an absolute https:// URL, e.g. \"https://example.openai.azure.com\""
    return None


def _unknown_field(field: str) -> str:
    suggestion = _ALIASES.get(field.lower()) or next(
        iter(difflib.get_close_matches(field.lower(), FIELDS, n=1, cutoff=0.6)), None
    )
    if suggestion:
        return f"unknown field; did you mean {suggestion!r}?"
    return f"unknown field (the fields are {', '.join(FIELDS)})"


def _shown_key(key: str) -> str:
    return key if len(key) <= _SHOWN else key[: _SHOWN - 1] + "…"


def _shown(value: str) -> str:
    """A non-secret value, quoted and cut short for a message."""
    return repr(value if len(value) <= _SHOWN else value[: _SHOWN - 1] + "…")


def _kind(value: object) -> str:
    """The TOML name of a parsed value's type, for messages that must not quote the value."""
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string", list: "an array",
             dict: "a table"}
    for python_type, name in names.items():
        if type(value) is python_type:
            return name
    return "a date or time"
