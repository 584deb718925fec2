"""Running a credential helper (`az`, an AWS `credential_process`): one bounded run, done right once.

No shell, stdin closed, stdout and stderr captured, a timeout after which the child is killed
with its process group (POSIX), so a wrapper script's own children go too. Failures to start
and timeouts are `CredentialSourceError`s raised with nothing chained; stdout is returned as
bytes and never put in a message (it holds the credential), and `mask_line()` turns the
child's stderr into one masked line a message may quote.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence

from .errors import ConfigurationError, CredentialSourceError

__all__ = ["Completed", "check_timeout", "mask_line", "run", "which"]

STDERR_SHOWN = 200  # characters of the child's stderr line quoted in a message
#: Text that may be a credential: a JWT, or any long run of base64/base64url characters
#: (an AWS secret key is 40). GUIDs (correlation ids, 36 characters) stay readable.
_TOKENISH = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_.-]*|[A-Za-z0-9+/_=.~-]{40,}")
#: An AWS access key id (AKIA... long-term, ASIA... temporary): masked, it names an identity.
_KEY_ID = re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{12,}\b")


@dataclasses.dataclass(frozen=True)
class Completed:
    """A run that ended by itself: its exit status, stdout (the credential: never shown) and stderr."""

    returncode: int
    stdout: bytes = dataclasses.field(repr=False)
    stderr: str = dataclasses.field(repr=False)


def mask_line(text: str) -> str:
    """The first non-empty line of `text`, stripped, token-looking runs masked, cut short.

    Why one line: helpers print a multi-line traceback or help text after their error line,
    and a message is read in a log line. Masking comes before cutting, so a token split by
    the cut cannot survive half-visible.
    """
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    line = _KEY_ID.sub("****", _TOKENISH.sub("****", line))
    return line if len(line) <= STDERR_SHOWN else line[: STDERR_SHOWN - 1] + "…"


def which(command: str, path: str | None) -> str | None:
    """`command` resolved on `path` (PATH when None); on Windows `name.cmd` is tried first."""
    if sys.platform.startswith("win") and not command.lower().endswith((".cmd", ".exe")):
        found = shutil.which(command + ".cmd", path=path)
        if found is not None:
            return found
    return shutil.which(command, path=path)


def check_timeout(provider: str, timeout: object) -> float:
    """A positive, finite number of seconds; `ConfigurationError` naming `provider` otherwise."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0:
        raise ConfigurationError(f"{provider}: timeout must be a positive number of seconds, got {timeout!r:.80}")
    return float(timeout)


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    provider: str,
    name: str,
    hint: str = "",
    env: Mapping[str, str] | None = None,
) -> Completed:
    """Run `argv` once, bounded by `timeout` seconds; the child is killed if it overruns.

    `name` says what runs in messages ("the Azure CLI", "`aws-vault export`"). Raises
    `CredentialSourceError` when it cannot start (not retryable; `hint` follows) or when it
    times out; an exit status is for the caller to judge.
    """
    failure: str | None = None
    try:
        child = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=None if env is None else dict(env),
            start_new_session=os.name == "posix",
        )
    except OSError as exc:
        failure = f"{type(exc).__name__}: {exc.strerror or 'cannot run it'}"
    if failure is not None:  # raised outside the handler: nothing chained
        raise CredentialSourceError(
            f"{provider}: could not start {name} ({argv[0]!r}): {failure}" + (f"; {hint}" if hint else ""),
            provider=provider, retryable=False,
        )
    timed_out = False
    with child:
        try:
            stdout, stderr = child.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill(child)
            child.communicate()  # reap it; the pipes close with the killed group
        except BaseException:
            _kill(child)
            raise
    if timed_out:
        raise CredentialSourceError(
            f"{provider}: {name} took longer than {timeout:g} s and was stopped; "
            "run it yourself to see what it waits for",
            provider=provider,
        )
    return Completed(child.returncode, stdout, stderr.decode("utf-8", errors="replace"))


def _kill(child: subprocess.Popen[bytes]) -> None:
    """Kill `child` and, on POSIX, its process group (a helper is often a script starting another)."""
    if os.name == "posix":
        try:
            os.killpg(child.pid, signal.SIGKILL)
            return
        except OSError:
            pass
    child.kill()
