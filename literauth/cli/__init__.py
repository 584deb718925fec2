"""The `literauth` command: print a credential, check a setup, run the demo.

Secrets go to stdout, only from `literauth token`, on purpose; progress, logs and errors go
to stderr. Exit status 0 on success, 1 on failure, 2 for a usage error, 130 on Ctrl-C, 141
when stdout is a pipe closed early. Built on argparse. This module holds the parser and
`main`, which alone turns errors into output; each command lives in its own module.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from typing import NoReturn

from .._version import __version__
from ..config import ModelConfigError
from ..errors import (
    ConfigurationError,
    LiterAuthError,
    MalformedResponseError,
    TokenEndpointError,
    TransportError,
)
from . import _check, _demo, _token
from ._common import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    STATIC_TOKEN_VARIABLE,
    CommandFailed,
    UsageError,
    one_line,
)
from ._progress import SPINNER_DELAY, Progress
from ._setups import SETUPS
from ._token import FORMATS, render_credential

__all__ = ["SPINNER_DELAY", "STATIC_TOKEN_VARIABLE", "Progress", "UsageError", "main", "render_credential"]

_ENVIRONMENT_HINT = f"'{PROG} check' shows which environment variables are set"
_HINTS: tuple[tuple[type[LiterAuthError], str], ...] = (
    (TransportError, "check network access to the endpoint (proxy variables, firewall) and "
                     + "REQUESTS_CA_BUNDLE for a private CA"),
    (TokenEndpointError, "the identity provider refused the request; check the credentials it names"),
    (MalformedResponseError, "the endpoint did not answer like the identity provider; check its URL"),
)
_VERBOSE_HINT = "run again with --verbose for details"

_log = logging.getLogger("literauth.cli")


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line plus a hint, raised rather than exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, f"run '{self.prog} --help' for usage")


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
    _add_token(commands, common)
    _add_check(commands, common)
    _add_demo(commands, common)
    return parser


def _add_token(commands: argparse._SubParsersAction[_Parser], common: _Parser) -> None:
    scoped = ", ".join(s.kind for s in SETUPS if s.scoped)
    aws = ", ".join(s.kind for s in SETUPS if s.credential == "aws")
    token = commands.add_parser(
        "token", parents=[common], help="print a credential built from the environment",
        description="Build a provider from the environment exactly as from_env() does, fetch a "
                    "credential and print it to stdout. 'static' prints the token in "
                    f"{STATIC_TOKEN_VARIABLE}.",
    )
    token.add_argument("provider", choices=[s.kind for s in SETUPS], help="which setup to use")
    token.add_argument("--scope", help=f"another scope or resource, for {scoped} (azure: '<resource>/.default'; "
                                       "vertex: OAuth scopes separated by spaces)")
    token.add_argument("--format", choices=FORMATS, default=None,
                       help=f"token (default for bearer tokens), json (default for AWS keys: {aws}), env "
                            "(shell export lines) or credential-process (AWS CLI/SDK credential_process JSON)")
    token.add_argument("--no-cache", action="store_true",
                       help="fetch a new credential instead of reading (and writing) the user's token cache")
    token.set_defaults(handler=_token.run)


def _add_check(commands: argparse._SubParsersAction[_Parser], common: _Parser) -> None:
    kinds = ", ".join(s.kind for s in SETUPS)
    check = commands.add_parser(
        "check", parents=[common], help="check a model configuration or the environment",
        description="With CONFIG, list each model, its provider and the environment variables it needs; "
                    f"without, check the {kinds} setups from the environment. Nothing "
                    "is fetched unless --fetch. Exit status 0 only when everything checked is usable.",
    )
    check.add_argument("config", nargs="?", metavar="CONFIG.toml", help="a [[models]] configuration file")
    check.add_argument("--fetch", action="store_true", help="also resolve each provider once")
    check.add_argument("--no-cache", action="store_true",
                       help="with --fetch: fetch anew instead of reading the token cache (the user's file "
                            "cache; a CONFIG's own [cache] table)")
    check.set_defaults(handler=_check.run)


def _add_demo(commands: argparse._SubParsersAction[_Parser], common: _Parser) -> None:
    demo = commands.add_parser(
        "demo", parents=[common], help="run the providers against an embedded fake identity provider",
        description="Start FakeIdentityServer on loopback, drive the Azure AD, AWS STS and Vertex AI "
                    "providers with a burst of threads through one simulated hour, including an "
                    "endpoint outage, and check every claim printed. No cloud account needed.",
    )
    demo.add_argument("--threads", type=_positive_int, default=8, help="worker threads (default 8)")
    demo.add_argument("--https", action="store_true", help="serve HTTPS with a generated CA the providers trust")
    demo.set_defaults(handler=_demo.run)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError("must be between 1 and 256")
    return value


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse `argv`; unknown arguments are named, with the help of the command they were given to."""
    args, unknown = parser.parse_known_args(argv)
    command: str | None = args.command
    where = PROG if command is None else f"{PROG} {command}"
    if unknown:
        raise UsageError(f"unrecognized arguments: {' '.join(unknown)}", f"run '{where} --help' for usage")
    if command is None:
        commands = "token, check or demo"
        raise UsageError(f"a COMMAND is required ({commands})", f"run '{PROG} --help' for usage")
    return args


# -- errors --------------------------------------------------------------------------------------


def _hint(exc: LiterAuthError, command: str) -> str | None:
    """A hint that fits the error, or `None` when the message already names what to fix.

    The environment hint is given only for variables that are not set, and never by `check`.
    """
    if isinstance(exc, ModelConfigError):
        return None if command == "check" else f"'{PROG} check FILE' lists each model's problems and the variables it needs"
    if isinstance(exc, ConfigurationError):
        return _ENVIRONMENT_HINT if command != "check" and "is not set" in str(exc) else None
    for kind, hint in _HINTS:
        if isinstance(exc, kind):
            return hint
    return _VERBOSE_HINT


def _error(message: str, hint: str | None) -> None:
    sys.stderr.write(f"{PROG}: error: {one_line(message)}\n")
    if hint is not None:
        sys.stderr.write(f"  hint: {hint}\n")
    sys.stderr.flush()


def _unexpected(exc: Exception) -> str:
    """An unexpected error in one line: its type, and its text only where that cannot hold a secret."""
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {one_line(str(exc))}"
    return f"unexpected {type(exc).__name__}"


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


def _replace_unencodable() -> None:
    """Characters the terminal's encoding lacks are written as escapes, not raised as errors."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors="backslashreplace")


def _discard_stdout() -> None:
    """After a broken pipe: point stdout at devnull, so the exit flush raises nothing.

    This is what the Python docs recommend for SIGPIPE (library/signal.html, "Note on SIGPIPE").
    """
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `literauth` command with `argv` (default: `sys.argv[1:]`); return the exit status."""
    _replace_unencodable()
    try:
        return _main(argv)
    except BrokenPipeError:  # `literauth check | head -1`: the reader has gone; so do we, quietly
        _discard_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        sys.stderr.write(f"\n{PROG}: interrupted\n")
        return EXIT_INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    try:
        args = _parse(parser, argv)
    except UsageError as exc:
        _error(str(exc), exc.hint)
        return EXIT_USAGE
    except SystemExit as exc:  # --help and --version print and exit 0
        sys.stdout.flush()  # here, so that a closed pipe is noticed like any other write
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
        except CommandFailed as exc:
            _error(str(exc), exc.hint)
            return EXIT_FAILURE
        except LiterAuthError as exc:
            if verbose:
                traceback.print_exc(file=sys.stderr)
            _error(str(exc), _hint(exc, args.command))
            return EXIT_FAILURE
        except (BrokenPipeError, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - one line and no traceback, as the CLI promises
            if verbose:
                traceback.print_exc(file=sys.stderr)
            _error(_unexpected(exc), "run again with --verbose to see the traceback")
            return EXIT_FAILURE
