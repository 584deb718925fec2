"""Running a piece of a test in a real forked child (for the fork-safety tests)."""

from __future__ import annotations

import os
import select
from collections.abc import Callable

import pytest


def in_child(work: Callable[[], object]) -> str:
    """Run `work()` in a forked child and return what it gave (as text), failing on a hang.

    A child that raises reports ``error: <type>: <message>``; one that does not answer within
    20 s is killed (a lock held at fork time that deadlocked it).
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        try:
            result = str(work())
        except BaseException as exc:  # noqa: BLE001 - report anything to the parent
            result = f"error: {type(exc).__name__}: {exc}"
        os.write(write_fd, result.encode())
        os._exit(0)
    os.close(write_fd)
    ready, _, _ = select.select([read_fd], [], [], 20)
    if not ready:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the child hung: a lock held at fork time deadlocked it")
    output = os.read(read_fd, 4096).decode()
    os.close(read_fd)
    os.waitpid(pid, 0)
    return output
