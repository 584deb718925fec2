"""The `literauth` command: print a credential, check a setup, run the demo.

Secrets go to stdout, only from `literauth token`, on purpose; progress, logs and errors go
to stderr. Exit status 0 on success, 1 on failure, 2 for a usage error. Built on argparse.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import os
import re
import shlex
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, NoReturn, TextIO

from .._version import __version__
from ..aws.web_identity import WebIdentityCredentialProvider
from ..azure.client_secret import AzureAdCredentialProvider
from ..config import ModelConfigError, ModelTable, load_models
from ..credentials import UTC, AwsCredentials, BearerToken, Credential
from ..errors import (
    ConfigurationError,
    LiterAuthError,
    MalformedResponseError,
    TokenEndpointError,
    TransportError,
)
from ..google.service_account import VertexOAuthCredentialProvider
from ..provider import CredentialProvider, StaticTokenProvider

if sys.version_info >= (3, 11):  # noqa: UP036 - tomllib is new in 3.11
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["STATIC_TOKEN_VARIABLE", "main"]

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
STATIC_TOKEN_VARIABLE = "LITERAUTH_TOKEN"  # what `literauth token static` prints, and `--format env` sets
PROG = "literauth"
FORMATS = ("token", "json", "env", "credential-process")
KINDS = ("azure", "bedrock", "vertex", "static")
SPINNER_DELAY = 0.25  # a task finishing sooner shows no spinner at all
SPINNER_FRAMES = "|/-\\"

# The variables each `from_env()` setup needs; for Azure, AZURE_AD_TOKEN alone also works.
REQUIRED_ENV: Mapping[str, tuple[str, ...]] = {
    "azure": AzureAdCredentialProvider.REQUIRED_ENV,
    "bedrock": WebIdentityCredentialProvider.REQUIRED_ENV,
    "vertex": VertexOAuthCredentialProvider.REQUIRED_ENV,
}
AZURE_TOKEN_VARIABLE = "AZURE_AD_TOKEN"
_CLASS_NAMES = {
    "azure": AzureAdCredentialProvider.__name__,
    "bedrock": WebIdentityCredentialProvider.__name__,
    "vertex": VertexOAuthCredentialProvider.__name__,
}
# `provider_model` prefixes of the configuration file, and the setup each one uses.
CONFIG_PREFIXES = {"azure": "azure", "bedrock": "bedrock", "vertex": "vertex", "vertex_ai": "vertex"}

_HINTS: tuple[tuple[type[LiterAuthError], str], ...] = (
    (ModelConfigError, "'literauth check FILE' lists each model's problems and the variables it needs"),
    (ConfigurationError, "'literauth check' shows which environment variables are set"),
    (TransportError, "check network access to the endpoint (proxy variables, firewall) and "
                     + "REQUESTS_CA_BUNDLE for a private CA"),
    (TokenEndpointError, "the identity provider refused the request; check the credentials it names"),
    (MalformedResponseError, "the endpoint did not answer like the identity provider; check its URL"),
)
_VARIABLE_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}")

_log = logging.getLogger("literauth.cli")


class UsageError(Exception):
    """A command line that cannot be run as given: exit status 2."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line plus a hint, raised rather than exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, f"run '{self.prog} --help' for usage")


# -- progress on stderr ---------------------------------------------------------------------


class _Spinner:
    """A one-line spinner on a terminal, erased when the task ends."""

    def __init__(self, stream: TextIO, message: str) -> None:
        self._stream = stream
        self._message = message
        self._stop = threading.Event()
        self._drawn = False
        self._thread = threading.Thread(target=self._spin, name="literauth-spinner", daemon=True)
        self._thread.start()

    def update(self, message: str) -> None:
        self._message = message

    def _spin(self) -> None:
        if self._stop.wait(SPINNER_DELAY):
            return
        frame = 0
        while not self._stop.is_set():
            self._stream.write(f"\r{SPINNER_FRAMES[frame % len(SPINNER_FRAMES)]} {self._message}\x1b[K")
            self._stream.flush()
            self._drawn = True
            frame += 1
            self._stop.wait(0.1)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        if self._drawn:
            self._stream.write("\r\x1b[K")
            self._stream.flush()


class Progress:
    """Progress for tasks that may take a while: a spinner on a TTY, plain lines otherwise.

    `quiet` shows nothing; `animate=False` (not a TTY, or --verbose) writes one line per
    message, prefixed with the program name.
    """

    def __init__(self, stream: TextIO, *, quiet: bool = False, animate: bool | None = None) -> None:
        self._stream = stream
        self._quiet = quiet
        self._animate = _is_tty(stream) if animate is None else animate

    def note(self, message: str) -> None:
        """One line of information (not an error); nothing when quiet."""
        if not self._quiet:
            self._stream.write(f"{PROG}: {message}\n")
            self._stream.flush()

    @contextlib.contextmanager
    def task(self, message: str) -> Iterator[Callable[[str], None]]:
        """Show `message` while the block runs; the block may call the yielded function to update it."""
        if self._quiet:
            yield lambda text: None
            return
        if not self._animate:
            self.note(message)
            yield self.note
            return
        spinner = _Spinner(self._stream, message)
        try:
            yield spinner.update
        finally:
            spinner.close()


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# -- the parser -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `literauth` command."""
    common = _Parser(add_help=False)
    loudness = common.add_mutually_exclusive_group()
    loudness.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                          help="no progress or information on stderr, only errors")
    loudness.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                          help="DEBUG logs of the literauth logger on stderr (never secrets), and tracebacks")

    parser = _Parser(
        prog=PROG, parents=[common],
        description="Resolve, cache and check short-lived cloud credentials (Azure AD, AWS STS, Vertex AI).",
        epilog="Secrets are printed only by 'token', and only to stdout. Exit status: 0 success, "
               "1 failure, 2 usage error.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    token = commands.add_parser(
        "token", parents=[common], help="print a credential built from the environment",
        description="Build a provider from the environment exactly as from_env() does, fetch a "
                    "credential and print it to stdout. 'static' prints the token in "
                    f"{STATIC_TOKEN_VARIABLE}.",
    )
    token.add_argument("provider", choices=KINDS, help="which setup to use")
    token.add_argument("--scope", help="another scope or resource (azure: '<resource>/.default'; vertex: "
                                       "OAuth scopes separated by spaces)")
    token.add_argument("--format", choices=FORMATS, default=None,
                       help="token (default for bearer tokens), json (default for bedrock), env (shell "
                            "export lines) or credential-process (AWS CLI/SDK credential_process JSON)")
    token.set_defaults(handler=_token)

    check = commands.add_parser(
        "check", parents=[common], help="check a model configuration or the environment",
        description="With CONFIG, list each model, its provider and the environment variables it needs; "
                    "without, check the azure, bedrock and vertex setups from the environment. Nothing "
                    "is fetched unless --fetch. Exit status 0 only when everything checked is usable.",
    )
    check.add_argument("config", nargs="?", metavar="CONFIG.toml", help="a [[models]] configuration file")
    check.add_argument("--fetch", action="store_true", help="also resolve each provider once")
    check.set_defaults(handler=_check)

    demo = commands.add_parser(
        "demo", parents=[common], help="run the providers against an embedded fake identity provider",
        description="Start FakeIdentityServer on loopback, drive the Azure AD, AWS STS and Vertex AI "
                    "providers with a burst of threads through one simulated hour, including an "
                    "endpoint outage, and check every claim printed. No cloud account needed.",
    )
    demo.add_argument("--threads", type=_positive_int, default=8, help="worker threads (default 8)")
    demo.add_argument("--https", action="store_true", help="serve HTTPS with a generated CA the providers trust")
    demo.set_defaults(handler=_demo_command)
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError("must be between 1 and 256")
    return value


# -- token ---------------------------------------------------------------------------------------


def provider_from_env(kind: str, environ: Mapping[str, str], **options: Any) -> CredentialProvider:
    """The provider `literauth token KIND` uses, built from `environ` as `from_env()` does."""
    if kind == "azure":
        return AzureAdCredentialProvider.from_env(environ, **options)
    if kind == "bedrock":
        return WebIdentityCredentialProvider.from_env(environ, **options)
    if kind == "vertex":
        return VertexOAuthCredentialProvider.from_env(environ, **options)
    token = (environ.get(STATIC_TOKEN_VARIABLE) or "").strip()
    if not token:
        raise ConfigurationError(f"{STATIC_TOKEN_VARIABLE} is not set or empty; 'token static' prints that token")
    return StaticTokenProvider(token)


def _check_token_usage(kind: str, fmt: str, scope: str | None) -> None:
    hint = f"run '{PROG} token --help' for usage"
    if scope is not None and kind not in ("azure", "vertex"):
        raise UsageError(f"--scope applies to azure and vertex, not {kind}", hint)
    if kind == "bedrock" and fmt == "token":
        raise UsageError("--format token prints a bearer token; bedrock gives AWS keys "
                         "(use json, env or credential-process)", hint)
    if kind != "bedrock" and fmt == "credential-process":
        raise UsageError("--format credential-process is for AWS keys (bedrock)", hint)


def _token(args: argparse.Namespace, ui: Progress) -> int:
    kind: str = args.provider
    fmt: str = args.format or ("json" if kind == "bedrock" else "token")
    _check_token_usage(kind, fmt, args.scope)
    provider = provider_from_env(kind, os.environ, background_refresh=False)
    _log.debug("%s: %r built from the environment", kind, provider)
    try:
        if args.scope is not None:
            provider = _with_scope(provider, args.scope)
        with ui.task(f"{kind}: requesting a credential"):
            credential = provider.resolve()
    finally:
        _close(provider)
    sys.stdout.write(render_credential(credential, fmt))
    sys.stdout.flush()
    return EXIT_OK


def _with_scope(provider: CredentialProvider, scope: str) -> CredentialProvider:
    if isinstance(provider, StaticTokenProvider):
        raise ConfigurationError(
            f"{AZURE_TOKEN_VARIABLE} holds a ready-made token for a fixed scope, so --scope cannot apply; "
            f"unset it to use AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET"
        )
    with_scope: Callable[[str], CredentialProvider] | None = getattr(provider, "with_scope", None)
    if with_scope is None:
        raise ConfigurationError(f"{type(provider).__name__} has no other scopes")
    scoped = with_scope(scope)
    _close(provider)
    return scoped


def _close(provider: object) -> None:
    close = getattr(provider, "close", None)
    if callable(close):
        close()


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_credential(credential: Credential, fmt: str) -> str:
    """The text `literauth token` prints for `credential` in format `fmt` (secrets included)."""
    expires = _iso(credential.expires_at)
    if isinstance(credential, BearerToken):
        token = credential.token.expose_secret()
        if fmt == "token":
            return token + "\n"
        if fmt == "json":
            return json.dumps({"token_type": "Bearer", "access_token": token, "expires_at": expires}) + "\n"
        if fmt == "env":
            return f"export {STATIC_TOKEN_VARIABLE}={shlex.quote(token)}\n"
        raise UsageError(f"--format {fmt} does not apply to a bearer token", f"run '{PROG} token --help'")
    if isinstance(credential, AwsCredentials):
        keys = {
            "AccessKeyId": credential.access_key_id.expose_secret(),
            "SecretAccessKey": credential.secret_access_key.expose_secret(),
            "SessionToken": None if credential.session_token is None else credential.session_token.expose_secret(),
        }
        if fmt == "credential-process":
            document: dict[str, object] = {"Version": 1, **{k: v for k, v in keys.items() if v is not None}}
            if expires is not None:
                document["Expiration"] = expires
            return json.dumps(document) + "\n"
        if fmt == "json":
            return json.dumps({
                "access_key_id": keys["AccessKeyId"],
                "secret_access_key": keys["SecretAccessKey"],
                "session_token": keys["SessionToken"],
                "expires_at": expires,
            }) + "\n"
        if fmt == "env":
            names = {"AccessKeyId": "AWS_ACCESS_KEY_ID", "SecretAccessKey": "AWS_SECRET_ACCESS_KEY",
                     "SessionToken": "AWS_SESSION_TOKEN"}
            lines = [f"export {names[k]}={shlex.quote(v)}" for k, v in keys.items() if v is not None]
            if expires is not None:
                lines.append(f"export AWS_CREDENTIAL_EXPIRATION={expires}")  # botocore reads it
            return "\n".join(lines) + "\n"
        raise UsageError(f"--format {fmt} does not apply to AWS keys", f"run '{PROG} token --help'")
    raise UsageError(f"cannot print a {type(credential).__name__}", f"run '{PROG} token --help'")


# -- check ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Row:
    """One line of the `check` table and the note printed below it (never a secret)."""

    name: str
    provider: str
    variables: list[tuple[str, str]]  # (name, "set" | "MISSING" | "default")
    status: str = "ok"
    note: str | None = None
    usable: bool = True


def _needed(kind: str, environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """The variables a `from_env()` setup reads to be usable, and whether each is set."""
    if kind == "azure" and (environ.get(AZURE_TOKEN_VARIABLE) or "").strip():
        return [(AZURE_TOKEN_VARIABLE, "set")]
    return [(name, "set" if (environ.get(name) or "").strip() else "MISSING") for name in REQUIRED_ENV[kind]]


def _references(value: object) -> list[tuple[str, bool]]:
    """`${VAR}` references in a configuration value: (name, has a default)."""
    found: list[tuple[str, bool]] = []
    texts = value if isinstance(value, list) else [value]
    for text in texts:
        if isinstance(text, str):
            found += [(m.group(1), m.group(2) is not None) for m in _VARIABLE_REFERENCE.finditer(text) if m.group(1)]
    return found


def _config_rows(path: str, environ: Mapping[str, str]) -> list[_Row]:
    """A row per `[[models]]` entry, from the raw TOML: what each needs from the environment."""
    try:
        with open(path, "rb") as handle:
            document = tomllib.loads(handle.read().decode("utf-8-sig"))
    except (OSError, ValueError, RecursionError):
        return []  # load_models() reports why, in its own words
    models = document.get("models")
    rows: list[_Row] = []
    for index, entry in enumerate(models if isinstance(models, list) else []):
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
        kind = CONFIG_PREFIXES.get(prefix)
        source = "api_key"
        if "api_key" not in entry and kind is not None:
            source = "from env"
            for variable, state in _needed(kind, environ):
                variables.setdefault(variable, state)
        rows.append(_Row(str(name), f"{prefix} ({source})", list(variables.items())))
    return rows


def _variable_state(value: str | None, has_default: bool) -> str:
    if value:
        return "set"
    if has_default:
        return "default"
    return "MISSING" if value is None else "empty"


def _check_config(path: str, fetch: bool, ui: Progress) -> tuple[list[_Row], list[str]]:
    """Rows for a configuration file, and problems that belong to no model."""
    environ = dict(os.environ)
    if not os.path.isfile(path):
        raise ConfigurationError(f"{path}: model configuration file does not exist")
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
                continue
            row.usable, row.status = False, "not usable"
            row.note = text if row.note is None else f"{row.note}; {text}"
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
            with ui.task(f"{entry.name}: requesting a credential"):
                results[id(provider)] = _try_resolve(provider)
        _show_result(row, *results[id(provider)])


def _try_resolve(provider: CredentialProvider) -> tuple[Credential | None, str | None]:
    try:
        return provider.resolve(), None
    except LiterAuthError as exc:
        return None, _one_line(str(exc))


def _show_result(row: _Row, credential: Credential | None, error: str | None) -> None:
    if credential is None:
        row.usable, row.status, row.note = False, "FAILED", error
    else:
        expires = _iso(credential.expires_at)
        row.status = "ok, never expires" if expires is None else f"ok, expires {expires}"


def _check_environment(fetch: bool, ui: Progress) -> list[_Row]:
    """Rows for the azure, bedrock and vertex `from_env()` setups."""
    environ = dict(os.environ)
    rows = []
    for kind in ("azure", "bedrock", "vertex"):
        row = _Row(kind, _CLASS_NAMES[kind], _needed(kind, environ))
        try:
            provider = provider_from_env(kind, environ, background_refresh=False)
        except ConfigurationError as exc:
            row.usable, row.status, row.note = False, "not usable", _one_line(str(exc))
            rows.append(row)
            continue
        row.provider = type(provider).__name__  # StaticTokenProvider for AZURE_AD_TOKEN
        try:
            if fetch:
                with ui.task(f"{kind}: requesting a credential"):
                    _show_result(row, *_try_resolve(provider))
        finally:
            _close(provider)
        rows.append(row)
    return rows


def _one_line(text: str) -> str:
    return " ".join(text.split())


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


def _check(args: argparse.Namespace, ui: Progress) -> int:
    general: list[str] = []
    if args.config is not None:
        rows, general = _check_config(args.config, args.fetch, ui)
        first = "MODEL"
    else:
        rows = _check_environment(args.fetch, ui)
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


# -- demo ----------------------------------------------------------------------------------------


def _demo_command(args: argparse.Namespace, ui: Progress) -> int:
    from ._demo import DemoSettings, run_demo

    settings = DemoSettings(threads=args.threads, https=args.https)
    with ui.task("running the demo: one simulated hour") as update:
        report = run_demo(settings, progress=update)
    sys.stdout.write(report.text)
    sys.stdout.flush()
    return EXIT_OK if report.ok else EXIT_FAILURE


# -- main ----------------------------------------------------------------------------------------


def _hint(exc: LiterAuthError) -> str:
    for kind, hint in _HINTS:
        if isinstance(exc, kind):
            return hint
    return "run again with --verbose for details"


def _error(message: str, hint: str) -> None:
    sys.stderr.write(f"{PROG}: error: {_one_line(message)}\n  hint: {hint}\n")
    sys.stderr.flush()


@contextlib.contextmanager
def _logging(verbose: bool) -> Iterator[None]:
    """With --verbose, DEBUG records of the `literauth` logger go to stderr for this run."""
    if not verbose:
        yield
        return
    logger = logging.getLogger("literauth")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `literauth` command with `argv` (default: `sys.argv[1:]`); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        _error(str(exc), exc.hint)
        return EXIT_USAGE
    except SystemExit as exc:  # --help and --version print and exit 0
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    verbose = bool(getattr(args, "verbose", False))
    quiet = bool(getattr(args, "quiet", False))
    ui = Progress(sys.stderr, quiet=quiet, animate=None if not verbose else False)
    with _logging(verbose):
        try:
            return int(args.handler(args, ui))
        except UsageError as exc:
            _error(str(exc), exc.hint)
            return EXIT_USAGE
        except LiterAuthError as exc:
            if verbose:
                traceback.print_exc(file=sys.stderr)
            _error(str(exc), _hint(exc))
            return EXIT_FAILURE
        except KeyboardInterrupt:
            sys.stderr.write(f"\n{PROG}: interrupted\n")
            return EXIT_INTERRUPTED
        except Exception as exc:  # noqa: BLE001 - one line and no traceback, as the CLI promises
            if verbose:
                traceback.print_exc(file=sys.stderr)
            _error(_unexpected(exc), "run again with --verbose to see the traceback")
            return EXIT_FAILURE


def _unexpected(exc: Exception) -> str:
    """An unexpected error in one line: its type, and its text only where that cannot hold a secret."""
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {_one_line(str(exc))}"
    from ._demo import DemoError

    if isinstance(exc, DemoError):
        return f"the demo could not run: {_one_line(str(exc))}"
    return f"unexpected {type(exc).__name__}"
