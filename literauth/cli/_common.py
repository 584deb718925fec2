"""What every `literauth` subcommand shares: the program name, exit statuses and the errors
a command raises to end with a message, so that `main` alone turns them into output."""

from __future__ import annotations

from datetime import datetime

from ..credentials import UTC

__all__ = [
    "EXIT_BROKEN_PIPE", "EXIT_FAILURE", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "PROG",
    "STATIC_TOKEN_VARIABLE", "CommandFailed", "UsageError", "iso", "one_line",
]

PROG = "literauth"
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what `yes | head -1` reports for the writer
STATIC_TOKEN_VARIABLE = "LITERAUTH_TOKEN"  # what `literauth token static` prints, and `--format env` sets


class UsageError(Exception):
    """A command line that cannot be run as given: exit status 2, with a hint on usage."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


class CommandFailed(Exception):
    """A command that could not do its job for a reason its message states: exit status 1.

    `hint` is printed below the message; `None` when the message already says what to do.
    """

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def one_line(text: str) -> str:
    """`text` with every run of whitespace (newlines included) as one space."""
    return " ".join(text.split())


def iso(moment: datetime | None) -> str | None:
    """`moment` as ISO 8601 UTC to the second (`2026-01-01T00:00:00Z`); `None` stays `None`."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
