"""Loopback stand-ins for a metadata address that is not there: refused, or a black hole.

Every default chain probes its cloud's link-local metadata service; tests and benchmarks
point it at one of these, never at 169.254.169.254 or metadata.google.internal.
"""

from __future__ import annotations

import socket
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing_extensions import Self  # noqa: UP035 - Python 3.10 has no typing.Self

__all__ = ["BlackHole", "refused_port"]


def refused_port(host: str = "127.0.0.1") -> int:
    """A loopback port nothing listens on (bound, then released): connections to it are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


class BlackHole:
    """A loopback port that accepts connections and never answers, like a firewalled metadata address.

    The kernel completes the handshake from the listen backlog; nothing is ever read or
    sent. `drop_after` closes it after that many seconds, resetting the connections still
    waiting: a bound for clients whose own read timeout is minutes. Use as a context
    manager; `host` is ``127.0.0.1:PORT`` and `url` ``http://127.0.0.1:PORT``.
    """

    def __init__(self, *, drop_after: float | None = None) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port: int = self._sock.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self._timer: threading.Timer | None = None
        if drop_after is not None:
            self._timer = threading.Timer(drop_after, self.close)
            self._timer.daemon = True
            self._timer.start()

    def close(self) -> None:
        """Stop listening; connections waiting in the backlog are reset."""
        if self._timer is not None:
            self._timer.cancel()
        self._sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
