"""The frame of `FakeIdentityServer`: a loopback HTTP server routing to fake endpoints.

Each endpoint (Azure AD, STS, Google) lives in its own module and subclasses `Endpoint`,
which carries the controls tests use: token lifetime, added latency, scripted faults,
request counters and a record of what was received.
"""

from __future__ import annotations

import collections
import dataclasses
import email.utils
import http.server
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from ..secret import SecretString

__all__ = ["Endpoint", "Fault", "RecordedRequest", "Reply", "ServerCore"]


@dataclasses.dataclass(frozen=True)
class Fault:
    """A scripted misbehaviour, served once from an endpoint's queue.

    - status/body/headers: answer with this instead of the normal reply.
    - hang: wait this many seconds before answering (past a client's read timeout).
    - drop: close the connection without answering.
    - reset: send the status line and part of the body, then reset the connection.
    - truncate: announce a longer body than is sent, then close.
    """

    status: int = 500
    body: bytes | str = b""
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    hang: float | None = None
    drop: bool = False
    reset: bool = False
    truncate: bool = False


@dataclasses.dataclass(frozen=True)
class Reply:
    """An answer an endpoint sends."""

    status: int
    body: bytes
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    content_type: str = "application/json"


@dataclasses.dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it; secret form fields stay `SecretString`."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    form: Mapping[str, str | SecretString]
    received_at: float


class Endpoint:
    """Base of a fake token endpoint: controls, counters and the request record.

    Subclasses set `name`, `secret_fields` and implement `matches()` and `respond()`.
    """

    name = "endpoint"
    secret_fields: frozenset[str] = frozenset()

    def __init__(self, server: ServerCore) -> None:
        self.server = server
        self._lock = threading.Lock()
        self._faults: collections.deque[Fault] = collections.deque()
        self._requests: list[RecordedRequest] = []
        self.lifetime: float = 3600.0  # seconds a token issued now stays valid
        self.latency: float = 0.0  # seconds added before every answer

    # -- controls ---------------------------------------------------------------------

    def enqueue(self, *faults: Fault) -> None:
        """Serve these faults, one per request, before answering normally again."""
        with self._lock:
            self._faults.extend(faults)

    def fail(
        self,
        status: int,
        body: bytes | str = b"",
        *,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests with `status` and `body`."""
        self.enqueue(*[Fault(status, body, dict(headers or {}))] * times)

    def clear_faults(self) -> None:
        """Forget every fault still queued."""
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """Forget faults, recorded requests, latency and lifetime changes."""
        with self._lock:
            self._faults.clear()
            self._requests.clear()
        self.lifetime = 3600.0
        self.latency = 0.0

    @property
    def request_count(self) -> int:
        """How many requests reached this endpoint."""
        with self._lock:
            return len(self._requests)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests received, oldest first."""
        with self._lock:
            return list(self._requests)

    # -- for subclasses and the server --------------------------------------------------

    def matches(self, method: str, path: str, form: Mapping[str, str]) -> bool:
        raise NotImplementedError

    def respond(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        raise NotImplementedError

    def _record(self, request: RecordedRequest) -> Fault | None:
        with self._lock:
            self._requests.append(request)
            return self._faults.popleft() if self._faults else None

    def now(self) -> float:
        """The server's clock (real time unless the test moved it)."""
        return self.server.clock()


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm the body then waits for
    # the client's delayed ACK, adding ~40 ms to every request after a connection's first.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read counters
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The `Date` header follows the server's clock, so `advance()` moves it too."""
        return email.utils.formatdate(self.server.core.clock() if timestamp is None else timestamp, usegmt=True)

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        core = self.server.core
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = ""
        form = dict(parse_qsl(text, keep_blank_values=True))
        endpoint = core.route(self.command, parts.path, form)
        if endpoint is None:
            self._send(Reply(404, b'{"error":"not_found"}'))
            return
        recorded = RecordedRequest(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={k: v for k, v in self.headers.items()},
            form={
                k: (SecretString(v) if k in endpoint.secret_fields else v) for k, v in form.items()
            },
            received_at=core.clock(),
        )
        fault = endpoint._record(recorded)
        if endpoint.latency:
            core.wait(endpoint.latency)
        if fault is not None:
            self._send_fault(fault)
            return
        self._send(endpoint.respond(recorded, form))

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        names = {k.lower() for k in reply.headers}
        if "content-type" not in names:
            self.send_header("Content-Type", reply.content_type)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def _send_fault(self, fault: Fault) -> None:
        body = fault.body.encode() if isinstance(fault.body, str) else fault.body
        if fault.hang:
            self.server.core.wait(fault.hang)
        if fault.drop:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault.reset or fault.truncate:
            self.send_response(fault.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body) + 100))
            self.end_headers()
            self.wfile.write(body[: max(1, len(body) // 2)])
            self.wfile.flush()
            self.close_connection = True
            if fault.reset:  # RST instead of FIN
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.close()
            return
        self._send(Reply(fault.status, body, dict(fault.headers)))


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    core: ServerCore

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return  # the client gave up first (a read timeout in a test): nothing to report
        super().handle_error(request, client_address)


class ServerCore:
    """A loopback HTTP(S) server that routes requests to endpoints; start/stop, url, clock."""

    def __init__(
        self,
        endpoints: Iterable[type[Endpoint]] = (),
        *,
        ssl_context: ssl.SSLContext | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError("FakeIdentityServer binds loopback only")
        self.host = "127.0.0.1" if host == "localhost" else host
        self._ssl_context = ssl_context
        self._stopping = threading.Event()
        self._offset = 0.0
        self.endpoints: list[Endpoint] = [cls(self) for cls in endpoints]
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- clock ------------------------------------------------------------------------

    def clock(self) -> float:
        """The server's notion of now: real time plus `advance()`d seconds."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        """Move the server's clock (the `Date` header and issued expiries) forward."""
        self._offset += seconds

    def wait(self, seconds: float) -> None:
        """Sleep, but wake at once when the server stops."""
        self._stopping.wait(seconds)

    # -- lifecycle -------------------------------------------------------------------

    def route(self, method: str, path: str, form: Mapping[str, str]) -> Endpoint | None:
        for endpoint in self.endpoints:
            if endpoint.matches(method, path, form):
                return endpoint
        return None

    def start(self) -> None:
        """Bind an ephemeral loopback port and serve on a background thread."""
        if self._httpd is not None:
            return
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        server_class = type("_BoundServer", (_HTTPServer,), {"address_family": family})
        httpd = server_class((self.host, 0), _Handler)
        httpd.core = self
        if self._ssl_context is not None:
            httpd.socket = self._ssl_context.wrap_socket(httpd.socket, server_side=True)
        self._httpd = httpd
        self._stopping.clear()
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="literauth-fake-idp", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, wake hanging handlers and close the socket."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        scheme = "https" if self._ssl_context is not None else "http"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"
