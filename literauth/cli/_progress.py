"""Progress on stderr for tasks that may take a while: a spinner on a capable terminal,
plain lines otherwise, nothing when quiet.

Cursor control codes are written only to a terminal that can take them: not when stderr is
no TTY, not with ``TERM=dumb`` and not with ``NO_COLOR`` set (the user asked for plain output).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TextIO

from ._common import PROG

__all__ = ["SPINNER_DELAY", "Progress", "can_animate"]

SPINNER_DELAY = 0.25  # a task finishing sooner shows no spinner at all
SPINNER_FRAMES = "|/-\\"
SPINNER_INTERVAL = 0.1  # seconds between frames
_ERASE_LINE = "\x1b[K"


def can_animate(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Whether `stream` is a terminal that takes cursor codes (see the module docstring)."""
    env = os.environ if environ is None else environ
    if env.get("TERM") == "dumb" or "NO_COLOR" in env:
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


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
            self._stream.write(f"\r{SPINNER_FRAMES[frame % len(SPINNER_FRAMES)]} {self._message}{_ERASE_LINE}")
            self._stream.flush()
            self._drawn = True
            frame += 1
            self._stop.wait(SPINNER_INTERVAL)

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        if self._drawn:
            self._stream.write(f"\r{_ERASE_LINE}")
            self._stream.flush()


class Progress:
    """Progress for tasks that may take a while.

    `quiet` shows nothing; `animate=False` (not a capable terminal, or --verbose, whose log
    lines would tear a spinner) writes one line per message, prefixed with the program name.
    `None` decides by `can_animate(stream)`.
    """

    def __init__(self, stream: TextIO, *, quiet: bool = False, animate: bool | None = None) -> None:
        self._stream = stream
        self._quiet = quiet
        self._animate = can_animate(stream) if animate is None else animate

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
