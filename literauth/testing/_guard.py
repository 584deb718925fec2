"""`NetworkGuard`: refuse, in this process, every connection and name lookup that leaves loopback.

A test suite using fakes must never reach a real identity endpoint, least of all a cloud
metadata server (169.254.169.254, 169.254.170.2, fd00:ec2::254, metadata.google.internal),
where a stray request could obtain real credentials. The guard wraps `socket.socket.connect`,
`connect_ex` (so `create_connection`, `ssl` and `urllib3` too), `socket.getaddrinfo` and
`gethostbyname(_ex)`; anything but loopback (127.0.0.0/8, ::1, ``localhost``) or a unix socket
raises `NetworkBlocked` before a packet is sent, and is recorded in `violations`.
It covers this process only: subprocesses a test starts are not guarded.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["NetworkBlocked", "NetworkGuard", "is_loopback_address"]

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


class NetworkBlocked(AssertionError):
    """A test tried to reach a host other than loopback.

    An `AssertionError`, not an `OSError`, so no client mistakes it for a network failure
    and retries it or wraps it into its own error.
    """


def is_loopback_address(host: str) -> bool:
    """Whether `host` is a loopback IP literal or a loopback name (no lookup is made)."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    literal = _ip(host)
    if literal is None:
        return False
    if isinstance(literal, ipaddress.IPv6Address) and literal.ipv4_mapped is not None:
        return literal.ipv4_mapped.is_loopback
    return literal.is_loopback


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0].strip("[]"))
    except ValueError:
        return None


class NetworkGuard:
    """Process-wide patches of `socket` that allow loopback and unix sockets only.

    `install()` and `uninstall()` are idempotent; `violations` lists what was refused, so a
    refusal swallowed by code under test still fails the test that caused it.
    """

    def __init__(self) -> None:
        self.violations: list[str] = []
        self._lock = threading.Lock()
        self._saved: dict[str, Any] = {}
        #: The functions guarded calls end in once allowed (tests swap them to prove nothing was sent).
        self.real_connect: Callable[[socket.socket, Any], None] = socket.socket.connect
        self.real_connect_ex: Callable[[socket.socket, Any], int] = socket.socket.connect_ex
        self.real_getaddrinfo: Callable[..., Any] = socket.getaddrinfo
        self.real_gethostbyname: Callable[[str], str] = socket.gethostbyname
        self.real_gethostbyname_ex: Callable[[str], Any] = socket.gethostbyname_ex

    @property
    def installed(self) -> bool:
        """Whether the patches are in place."""
        return bool(self._saved)

    def install(self) -> None:
        """Patch `socket`; calls leaving loopback raise `NetworkBlocked`."""
        if self._saved:
            return
        guard = self
        self._saved = {
            "connect": socket.socket.connect,
            "connect_ex": socket.socket.connect_ex,
            "getaddrinfo": socket.getaddrinfo,
            "gethostbyname": socket.gethostbyname,
            "gethostbyname_ex": socket.gethostbyname_ex,
        }

        def connect(self: socket.socket, address: Any) -> None:
            guard.check_socket(self, address)
            guard.real_connect(self, address)

        def connect_ex(self: socket.socket, address: Any) -> int:
            guard.check_socket(self, address)
            return guard.real_connect_ex(self, address)

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            guard.check_name(host)
            return guard.real_getaddrinfo(host, *args, **kwargs)

        def gethostbyname(host: str) -> str:
            guard.check_name(host)
            return guard.real_gethostbyname(host)

        def gethostbyname_ex(host: str) -> Any:
            guard.check_name(host)
            return guard.real_gethostbyname_ex(host)

        socket.socket.connect = connect  # type: ignore[method-assign,assignment]
        socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
        socket.getaddrinfo = getaddrinfo
        socket.gethostbyname = gethostbyname
        socket.gethostbyname_ex = gethostbyname_ex

    def uninstall(self) -> None:
        """Restore `socket` as it was before `install()`."""
        saved, self._saved = self._saved, {}
        if not saved:
            return
        socket.socket.connect = saved["connect"]  # type: ignore[method-assign]
        socket.socket.connect_ex = saved["connect_ex"]  # type: ignore[method-assign]
        socket.getaddrinfo = saved["getaddrinfo"]
        socket.gethostbyname = saved["gethostbyname"]
        socket.gethostbyname_ex = saved["gethostbyname_ex"]

    def take_violations(self) -> list[str]:
        """The refusals recorded since the last call, oldest first; forgets them."""
        with self._lock:
            found, self.violations = self.violations, []
        return found

    # -- the checks -----------------------------------------------------------------------------

    def check_socket(self, sock: socket.socket, address: Any) -> None:
        """`check_address`, closing `sock` when refused (callers only close it on an `OSError`)."""
        try:
            self.check_address(sock.family, address)
        except NetworkBlocked:
            sock.close()
            raise

    def check_address(self, family: int, address: Any) -> None:
        """Refuse a `connect()` to anything but loopback (unix and other local families pass)."""
        if family not in (socket.AF_INET, socket.AF_INET6):
            return
        host = address[0] if isinstance(address, tuple) and address else address
        if isinstance(host, bytes):
            host = host.decode("ascii", "replace")
        if not (isinstance(host, str) and is_loopback_address(host)):
            self._refuse(f"connect to {address!r}")

    def check_name(self, host: Any) -> None:
        """Refuse a name lookup that could leave the machine: anything but loopback names and IP literals."""
        if host is None:
            return
        name = host.decode("ascii", "replace") if isinstance(host, bytes) else str(host)
        if name == "" or is_loopback_address(name) or _ip(name) is not None:
            return  # a literal needs no lookup; connect() decides whether it may be reached
        self._refuse(f"look up {name!r}")

    def _refuse(self, what: str) -> None:
        message = f"network access outside loopback blocked in tests: {what}"
        with self._lock:
            self.violations.append(message)
        raise NetworkBlocked(message)
