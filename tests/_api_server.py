"""A scriptable API server on 127.0.0.1 for the auth and client tests.

It records every request exactly as received (raw path, headers, body bytes), serves
scripted replies first, and can check bearer tokens or recompute SigV4 signatures with
botocore, an implementation independent of ours, answering like AWS when they are wrong.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import http.server
import json
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from botocore.auth import S3SigV4Auth
from botocore.auth import SigV4Auth as BotoSigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

if TYPE_CHECKING:
    from typing_extensions import Self  # noqa: UP035 - Python 3.10 has no typing.Self


@dataclasses.dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    method: str
    target: str  # raw request target: path and query as sent
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return ",".join(values) if values else None

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> str:
        return self.target.partition("?")[2]


@dataclasses.dataclass(frozen=True)
class Answer:
    """A reply the server sends."""

    status: int = 200
    body: bytes = b'{"ok": true}'
    headers: Mapping[str, str] = dataclasses.field(default_factory=lambda: {"Content-Type": "application/json"})


def aws_error(status: int, code: str, message: str = "rejected") -> Answer:
    """An error in the shape of AWS JSON services (Bedrock, STS over JSON)."""
    body = json.dumps({"__type": f"com.amazon.coral.service#{code}", "message": message}).encode()
    return Answer(status, body, {"Content-Type": "application/json", "x-amzn-ErrorType": f"{code}:http://internal"})


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _any(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = Seen(self.command, self.path, list(self.headers.items()), body)
        answer = self.server.api.handle(seen)
        self.send_response(answer.status)
        for key, value in answer.headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _any


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many client threads connect at once
    api: ApiServer


class ApiServer:
    """Start with `with ApiServer() as api:`; `api.url`, `api.seen`, `api.script(...)`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script: collections.deque[Answer] = collections.deque()
        self._seen: list[Seen] = []
        self.responder: Callable[[Seen], Answer] = lambda seen: Answer()
        self.bearer_tokens: set[str] | None = None  # when set, other tokens get a 401
        self.aws_keys: dict[str, tuple[str, str | None]] | None = None  # access key -> (secret, token)
        self.expired_keys: set[str] = set()  # access keys answered with ExpiredTokenException
        self.sigv4_failures: list[str] = []
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.api = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def seen(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def script(self, *answers: Answer) -> None:
        """Send these answers, one per request, before answering normally."""
        with self._lock:
            self._script.extend(answers)

    def handle(self, seen: Seen) -> Answer:
        with self._lock:
            self._seen.append(seen)
            scripted = self._script.popleft() if self._script else None
        if scripted is not None:
            return scripted
        if self.bearer_tokens is not None:
            auth = seen.header("Authorization") or ""
            if not auth.startswith("Bearer ") or auth[7:] not in self.bearer_tokens:
                return Answer(401, b'{"error": {"code": "401", "message": "invalid token"}}',
                              {"Content-Type": "application/json", "WWW-Authenticate": 'Bearer error="invalid_token"'})
        if self.aws_keys is not None:
            problem = self.check_sigv4(seen)
            if problem is not None:
                return problem
        return self.responder(seen)

    # -- SigV4, recomputed with botocore --------------------------------------------

    def check_sigv4(self, seen: Seen) -> Answer | None:
        """`None` when the request is correctly signed; otherwise the AWS-shaped rejection."""
        problem = self._sigv4_problem(seen)
        if problem is None:
            return None
        code, message = problem
        with self._lock:
            self.sigv4_failures.append(message)
        return aws_error(403, code, message)

    def _sigv4_problem(self, seen: Seen) -> tuple[str, str] | None:
        assert self.aws_keys is not None
        auth = seen.header("Authorization") or ""
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return "MissingAuthenticationTokenException", "no SigV4 Authorization header"
        fields = dict(part.strip().split("=", 1) for part in auth[len("AWS4-HMAC-SHA256 "):].split(","))
        access_key, date, region, service, terminal = fields["Credential"].split("/")
        if access_key in self.expired_keys:
            return "ExpiredTokenException", "The security token included in the request is expired"
        if access_key not in self.aws_keys:
            return "UnrecognizedClientException", "The security token included in the request is invalid."
        secret, token = self.aws_keys[access_key]
        amz_date = seen.header("X-Amz-Date") or ""
        signed = fields["SignedHeaders"].split(";")
        if terminal != "aws4_request" or not amz_date.startswith(date):
            return "IncompleteSignatureException", "bad credential scope"
        if "host" not in signed or "x-amz-date" not in signed:
            return "IncompleteSignatureException", "host and x-amz-date must be signed"
        unsigned_amz = {k.lower() for k, _ in seen.headers if k.lower().startswith("x-amz-")} - set(signed)
        if unsigned_amz:
            return "IncompleteSignatureException", f"x-amz-* headers not signed: {sorted(unsigned_amz)}"
        if token is not None and seen.header("X-Amz-Security-Token") != token:
            return "UnrecognizedClientException", "session token missing or wrong"
        if service == "s3" and seen.header("X-Amz-Content-SHA256") not in (
            hashlib.sha256(seen.body).hexdigest(), "UNSIGNED-PAYLOAD"
        ):
            return "XAmzContentSHA256Mismatch", "x-amz-content-sha256 does not match the body"
        headers = {name: seen.header(name) or "" for name in signed}
        request = AWSRequest(seen.method, f"http://{seen.header('Host')}{seen.target}", headers=headers, data=seen.body)
        request.context["timestamp"] = amz_date
        signer_class = S3SigV4Auth if service == "s3" else BotoSigV4Auth
        signer = signer_class(Credentials(access_key, secret, token), service, region)
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        if fields["Signature"] != expected:
            return "InvalidSignatureException", f"signature mismatch; canonical request was:\n{canonical}"
        return None
