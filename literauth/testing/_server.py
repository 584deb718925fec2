"""The frame of `FakeIdentityServer`: a loopback HTTP server routing to fake endpoints.

Each endpoint subclasses `Endpoint`, which carries the controls tests use: token lifetime,
added latency, scripted faults, request counters and a record of what was received. An
endpoint routes on method, path, query and headers (`Route`), and refuses a request by
raising `Refusal`, which its `refusal_reply()` turns into an answer in its service's shape.
"""

from __future__ import annotations

import collections
import dataclasses
import email.utils
import http.server
import importlib.util
import json
import os
import re
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from ..secret import SecretString

if TYPE_CHECKING:
    from ..provider import RefreshingCredentialProvider

__all__ = [
    "Endpoint",
    "Endpoints",
    "FakeUnavailable",
    "Fault",
    "RecordedRequest",
    "Refusal",
    "Reply",
    "Route",
    "ServerCore",
]


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
    #: The body parsed as JSON when it was sent as ``application/json`` (None otherwise).
    json: Any = dataclasses.field(default=None, repr=False)
    #: The body as received (UTF-8 text; empty when it is not), kept secret: it may hold one.
    #: Fakes that verify a signature over the body (SigV4) read it.
    body: SecretString = dataclasses.field(default_factory=lambda: SecretString(""), repr=False)

    def header(self, name: str) -> str | None:
        """The value of header `name`, looked up case-insensitively; None when absent."""
        wanted = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == wanted), None)


class Refusal(Exception):
    """A request the fake turns down: raised while checking it, answered by `Endpoint.refusal_reply`.

    `error` is the service's error code (``invalid_grant``, ``ValidationError``), `code` a
    numeric sub-code where the service has one (Azure's AADSTS numbers).
    """

    def __init__(self, error: str, description: str, *, status: int = 400, code: int | None = None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.code = code


class FakeUnavailable(RuntimeError):
    """A fake cannot serve here because an optional package is missing; the message says which."""


@dataclasses.dataclass(frozen=True)
class Route:
    """Which requests an endpoint serves: method, path, and required query parameters and headers.

    `path` is a literal path or a compiled pattern matched in full. A `None` value in `query`
    or `headers` only requires the name to be present; header names match case-insensitively.
    """

    methods: frozenset[str]
    path: str | re.Pattern[str]
    query: Mapping[str, str | None] = dataclasses.field(default_factory=dict)
    headers: Mapping[str, str | None] = dataclasses.field(default_factory=dict)

    def matches(self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str]) -> bool:
        """Whether a request with these parts takes this route."""
        if method not in self.methods:
            return False
        if isinstance(self.path, str) and path != self.path:
            return False
        if isinstance(self.path, re.Pattern) and self.path.fullmatch(path) is None:
            return False
        folded = {key.lower(): value for key, value in headers.items()}
        return _subset(self.query, query) and _subset({k.lower(): v for k, v in self.headers.items()}, folded)


def _subset(required: Mapping[str, str | None], given: Mapping[str, str]) -> bool:
    return all(name in given and (value is None or given[name] == value) for name, value in required.items())


class Endpoint:
    """Base of a fake endpoint: controls, counters and the request record.

    Subclasses set `name`, `secret_fields` and either `routes` or `matches()`, and implement
    `respond()`. Those registered with a provider spec also implement `environ()` and
    `make_provider()`, so `FakeIdentityServer` needs nothing else to know about them.
    """

    name = "endpoint"
    secret_fields: frozenset[str] = frozenset()
    routes: ClassVar[tuple[Route, ...]] = ()  #: what `accepts()` serves, unless it is overridden
    default_lifetime: ClassVar[float] = 3600.0  #: seconds a token issued now stays valid, until set
    requires: ClassVar[Mapping[str, str]] = {}  #: modules it needs, import name -> pip name
    #: Whether its provider serves credentials this endpoint hands out already expired, for a
    #: bounded while (EC2 IMDS "static stability"), instead of refusing them.
    provider_extends_expired: ClassVar[bool] = False
    fixture_alias: ClassVar[str | None] = None  #: an older pytest fixture name for its provider
    #: Headers the real service sends with every answer (Google's metadata server: Metadata-Flavor);
    #: a scripted answer standing for the service's own must carry them too.
    answer_headers: ClassVar[Mapping[str, str]] = {}

    def __init__(self, server: ServerCore) -> None:
        self.server = server
        self._lock = threading.Lock()
        self._faults: collections.deque[Fault] = collections.deque()
        self._requests: list[RecordedRequest] = []
        self._lifetime: float | None = None
        self.latency: float = 0.0  # seconds added before every answer

    # -- controls ---------------------------------------------------------------------

    @property
    def lifetime(self) -> float:
        """Seconds a token issued now stays valid (`default_lifetime` until set)."""
        return self.default_lifetime if self._lifetime is None else self._lifetime

    @lifetime.setter
    def lifetime(self, value: float) -> None:
        self._lifetime = value

    @property
    def lifetime_override(self) -> float | None:
        """The lifetime a test set, or None when the endpoint decides (STS: the duration asked for)."""
        return self._lifetime

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

    def fail_with_reply(self, reply: Reply, *, times: int = 1, status: int | None = None) -> None:
        """Answer the next `times` requests with `reply` (its status unless `status` is given)."""
        headers = {"Content-Type": reply.content_type, **reply.headers}
        self.fail(reply.status if status is None else status, reply.body, headers=headers, times=times)

    def clear_faults(self) -> None:
        """Forget every fault still queued."""
        with self._lock:
            self._faults.clear()

    def reset(self) -> None:
        """Forget faults, recorded requests, latency and lifetime changes."""
        with self._lock:
            self._faults.clear()
            self._requests.clear()
        self._lifetime = None
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

    def is_credential_request(self, method: str, path: str) -> bool:
        """Whether a request asks for the credential itself, not for a step before it.

        Every request does, unless the service has such steps (IMDSv2's session token and
        role listing); the fault matrix counts only credential requests.
        """
        return True

    @property
    def credential_request_count(self) -> int:
        """How many of the requests received asked for the credential (`is_credential_request`)."""
        return sum(1 for request in self.requests if self.is_credential_request(request.method, request.path))

    # -- what a registered fake declares -------------------------------------------------

    def environ(self, directory: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """Variables pointing its provider's `from_env()` here; files it needs go into `directory`."""
        return {}

    def make_provider(self, **options: Any) -> RefreshingCredentialProvider:
        """Its provider, configured for this endpoint; keyword arguments go to the provider."""
        raise NotImplementedError(f"{type(self).__name__} builds no provider")

    def missing_packages(self) -> list[str]:
        """The pip names of `requires` that cannot be imported here."""
        return [pip for module, pip in self.requires.items() if importlib.util.find_spec(module) is None]

    def renew(self, provider: RefreshingCredentialProvider) -> None:
        """Renew what a provider reads besides the endpoint, as a day passing would (a token file)."""

    def success_body(self) -> bytes:
        """A well-formed success answer with a placeholder credential, as the service sends it."""
        raise NotImplementedError

    def no_token_body(self) -> bytes:
        """A success answer that lacks the credential itself: clients must refuse it."""
        raise NotImplementedError

    # -- for subclasses and the server --------------------------------------------------

    def accepts(
        self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], form: Mapping[str, str]
    ) -> bool:
        """Whether this endpoint serves the request: one of `routes`, else `matches()`."""
        if self.routes:
            return any(route.matches(method, path, query, headers) for route in self.routes)
        return self.matches(method, path, form)

    def matches(self, method: str, path: str, form: Mapping[str, str]) -> bool:
        """Routing by method, path and form alone (older endpoints); `routes` is the newer way."""
        return False

    def respond(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        """The answer to `request`; raise `Refusal` for an error answer."""
        raise NotImplementedError

    def refusal_reply(self, refusal: Refusal, request: RecordedRequest | None) -> Reply:
        """The error answer for `refusal`, in the service's shape (OAuth JSON by default)."""
        body = {"error": refusal.error, "error_description": refusal.description}
        return Reply(refusal.status, json.dumps(body).encode(), content_type="application/json; charset=utf-8")

    def answer(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        """`respond()`, with a `Refusal` turned into its error answer: the one place errors become replies."""
        try:
            return self.respond(request, form)
        except Refusal as refusal:
            return self.refusal_reply(refusal, request)

    def _record(self, request: RecordedRequest) -> Fault | None:
        with self._lock:
            self._requests.append(request)
            return self._faults.popleft() if self._faults else None

    def now(self) -> float:
        """The server's clock (real time unless the test moved it)."""
        return self.server.clock()


class Endpoints(Mapping[str, Endpoint]):
    """A server's endpoints by name, in routing order; an int index also works (older code)."""

    def __init__(self, items: Iterable[tuple[str, Endpoint]]) -> None:
        self._items = dict(items)
        self._order = list(self._items.values())

    def __getitem__(self, key: str | int) -> Endpoint:
        if isinstance(key, int):
            return self._order[key]
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Endpoints({', '.join(f'{k}={type(v).__name__}' for k, v in self._items.items())})"


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

    def do_PUT(self) -> None:  # EC2 IMDSv2 asks for its session token with PUT
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:  # answered like GET, without the body
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
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        headers = {k: v for k, v in self.headers.items()}
        endpoint = core.route(self.command, parts.path, form, query=query, headers=headers)
        if endpoint is None:
            self._send(Reply(404, b'{"error":"not_found"}'))
            return
        recorded = RecordedRequest(
            method=self.command,
            path=parts.path,
            query=query,
            headers=headers,
            form={
                k: (SecretString(v) if k in endpoint.secret_fields else v) for k, v in form.items()
            },
            received_at=core.clock(),
            json=_json_body(headers, text),
            body=SecretString(text),
        )
        fault = endpoint._record(recorded)
        if endpoint.latency:
            core.wait(endpoint.latency)
        if fault is not None:
            self._send_fault(fault)
            return
        self._send(endpoint.answer(recorded, form))

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        names = {k.lower() for k in reply.headers}
        if "content-type" not in names:
            self.send_header("Content-Type", reply.content_type)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if self.command != "HEAD":
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


def _json_body(headers: Mapping[str, str], text: str) -> Any:
    """The body as JSON when the request says it is JSON; None otherwise or when unreadable."""
    kind = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if "json" not in kind.lower() or not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # a stampede of client threads connects at once (the default 5 resets some)
    core: ServerCore

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return  # the client gave up first (a read timeout in a test): nothing to report
        super().handle_error(request, client_address)


class ServerCore:
    """A loopback HTTP(S) server that routes requests to endpoints; start/stop, url, clock."""

    def __init__(
        self,
        endpoints: Iterable[type[Endpoint]] | Mapping[str, type[Endpoint]] = (),
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
        self._frozen: float | None = None  # set by `freeze_clock()`: the clock then stands still
        named = endpoints.items() if isinstance(endpoints, Mapping) else ((cls.name, cls) for cls in endpoints)
        #: The endpoints by name (a spec name in `FakeIdentityServer`, else the class's `name`).
        self.endpoints = Endpoints((name, cls(self)) for name, cls in named)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- clock ------------------------------------------------------------------------

    def clock(self) -> float:
        """The server's notion of now: real time plus `advance()`d seconds."""
        frozen = self._frozen
        return time.time() + self._offset if frozen is None else frozen

    def advance(self, seconds: float) -> None:
        """Move the server's clock (the `Date` header and issued expiries) forward."""
        self._offset += seconds
        if self._frozen is not None:
            self._frozen += seconds

    def freeze_clock(self, at: float | None) -> None:
        """Stop the server's clock at `at` (epoch seconds), or let it run again (None).

        A simulation whose providers' clock moves only when told keeps the server's with it,
        so expiries the server computes from its own "now" never depend on how long a step
        took in real time (the demo's outage windows would shift under load otherwise).
        """
        self._frozen = at

    def wait(self, seconds: float) -> None:
        """Sleep, but wake at once when the server stops."""
        self._stopping.wait(seconds)

    # -- lifecycle -------------------------------------------------------------------

    def route(
        self,
        method: str,
        path: str,
        form: Mapping[str, str],
        *,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Endpoint | None:
        """The first endpoint that accepts the request, or None (answered 404)."""
        for endpoint in self.endpoints.values():
            if endpoint.accepts(method, path, query or {}, headers or {}, form):
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
