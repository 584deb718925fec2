"""The identity provider for the benchmarks: `FakeIdentityServer` over HTTPS in its own process.

Run as a script it serves Azure AD, STS and Google token endpoints on 127.0.0.1, writes the
connection details (URL, CA bundle, test identities) to ``<workdir>/idp.json`` and serves a
tiny JSON control channel on another loopback port, through which the orchestrator and the
benchmarked processes set token lifetimes, latency, outages and the server clock, and read
request counts. It exits when its stdin closes, so it never outlives the orchestrator.
Imported, it offers `IdpProcess` (start/stop it) and `Control` (talk to it); both use the
standard library only, so a benchmarked interpreter imports nothing it would not otherwise.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Self  # noqa: UP035 - Python 3.10 has no typing.Self

KINDS = ("azure", "sts", "google")
OUTAGE_FAULTS = 100_000  # "503 to everything": more faults than any scenario sends requests
AZURE_SCOPE = "https://cognitiveservices.azure.com/.default"
GOOGLE_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
STS_REGION = "us-east-1"
START_TIMEOUT = 30.0  # seconds the server process may take to come up (key generation included)


class Control:
    """Client of the control channel: one JSON POST per command, answered with JSON."""

    def __init__(self, url: str) -> None:
        self.url = url

    def call(self, command: str, **arguments: Any) -> Any:
        body = json.dumps(arguments).encode()
        request = urllib.request.Request(
            f"{self.url}/{command}", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read() or b"null")

    def reset(self) -> None:
        """Every endpoint back to defaults: lifetime 3600 s, no latency, no faults, clock offset 0."""
        self.call("reset")

    def configure(self, kind: str, **settings: float | None) -> None:
        """Set `lifetime`, `latency` and (Azure only) `refresh_in` of one endpoint."""
        self.call("configure", kind=kind, **settings)

    def outage(self, kind: str, on: bool) -> None:
        """Answer every request to this endpoint with a 503 in its own format, or stop doing so."""
        self.call("outage", kind=kind, on=on)

    def advance(self, seconds: float) -> None:
        """Move the server's clock (issued expiries, Date headers, assertion checks) forward."""
        self.call("advance", seconds=seconds)

    def count(self, kind: str) -> int:
        """Token requests (POSTs) this endpoint has received since the last reset."""
        return int(self.call("count", kind=kind))


@dataclasses.dataclass(frozen=True)
class IdpInfo:
    """What a benchmarked process needs to reach the identity provider."""

    url: str
    ca_bundle: str
    control: str
    azure: Mapping[str, str]
    sts: Mapping[str, str]
    google: Mapping[str, str]

    @classmethod
    def load(cls, path: str) -> IdpInfo:
        with open(path, encoding="utf-8") as handle:
            return cls(**json.load(handle))


class IdpProcess:
    """Starts the server process, waits until it is ready, stops it on exit."""

    def __init__(self, workdir: str) -> None:
        self.workdir = workdir
        self.info_path = os.path.join(workdir, "idp.json")
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Self:
        script = os.path.abspath(__file__)
        self._process = subprocess.Popen(
            [sys.executable, script, self.workdir],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        line = _readline(self._process, START_TIMEOUT)
        if line.strip() != b"ready":
            self.__exit__()
            raise RuntimeError(f"the identity provider did not start (said {line[:200]!r})")
        return self

    def __exit__(self, *exc_info: object) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @property
    def info(self) -> IdpInfo:
        return IdpInfo.load(self.info_path)


def _readline(process: subprocess.Popen[bytes], timeout: float) -> bytes:
    """The process's first stdout line, or b"" when it does not come within `timeout`."""
    result: list[bytes] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: result.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    return result[0] if result else b""


# -- the server process --------------------------------------------------------------------------


def _serve(workdir: str) -> None:
    import http.server

    from literauth.testing import FakeIdentityServer

    server = FakeIdentityServer(https=True)
    server.start()
    state = _State(server)
    _add_refresh_in(server, state)

    key_file = str(server.google.write_key_file(os.path.join(workdir, "service-account.json")))
    # Written without a trailing newline, as the kubelet writes a projected token: botocore
    # sends the file verbatim, and the fake STS refuses a token followed by a newline.
    token_file = os.path.join(workdir, "web-identity-token")
    with open(token_file, "w", encoding="ascii") as handle:
        handle.write(server.sts.issue_web_identity_token())
    from literauth.testing.aws.sts import DEFAULT_ROLE_ARN

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            arguments = json.loads(self.rfile.read(length) or b"{}")
            try:
                answer = state.command(self.path.strip("/"), arguments)
                status, body = 200, json.dumps(answer).encode()
            except Exception as exc:  # noqa: BLE001 - report to the caller, keep serving
                status, body = 400, json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    control = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    control.daemon_threads = True
    threading.Thread(target=control.serve_forever, daemon=True).start()

    info = {
        "url": server.url,
        "ca_bundle": server.ca_bundle,
        "control": f"http://127.0.0.1:{control.server_address[1]}",
        "azure": {
            "tenant_id": server.azure.tenant_id,
            "client_id": server.azure.client_id,
            "client_secret": server.azure.client_secret.expose_secret(),
            "authority": server.url,
            "scope": AZURE_SCOPE,
        },
        "sts": {
            "role_arn": DEFAULT_ROLE_ARN,
            "token_file": token_file,
            "endpoint": server.url,
            "region": STS_REGION,
        },
        "google": {"key_file": key_file, "scope": GOOGLE_SCOPE, "token_uri": server.google.token_uri},
    }
    path = os.path.join(workdir, "idp.json")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds test secrets
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(info, handle)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    sys.stdin.read()  # until the orchestrator closes the pipe (or dies)
    control.shutdown()
    server.stop()


class _State:
    """The control channel's commands, applied to the running server."""

    def __init__(self, server: Any) -> None:
        self.server = server
        self.refresh_in: float | None = None
        self.advanced = 0.0
        self.lock = threading.Lock()

    def endpoint(self, kind: str) -> Any:
        if kind not in KINDS:
            raise ValueError(f"unknown endpoint {kind!r}")
        return getattr(self.server, kind)

    def command(self, name: str, arguments: Mapping[str, Any]) -> Any:
        with self.lock:
            if name == "reset":
                self.server.reset()
                self.server.advance(-self.advanced)
                self.advanced = 0.0
                self.refresh_in = None
                return None
            if name == "configure":
                endpoint = self.endpoint(arguments["kind"])
                if arguments.get("lifetime") is not None:
                    endpoint.lifetime = float(arguments["lifetime"])
                if arguments.get("latency") is not None:
                    endpoint.latency = float(arguments["latency"])
                if "refresh_in" in arguments:
                    self.refresh_in = arguments["refresh_in"]
                return None
            if name == "outage":
                self._outage(arguments["kind"], bool(arguments["on"]))
                return None
            if name == "advance":
                self.server.advance(float(arguments["seconds"]))
                self.advanced += float(arguments["seconds"])
                return None
            if name == "count":
                return sum(1 for r in self.endpoint(arguments["kind"]).requests if r.method == "POST")
        raise ValueError(f"unknown command {name!r}")

    def _outage(self, kind: str, on: bool) -> None:
        endpoint = self.endpoint(kind)
        endpoint.clear_faults()
        if not on:
            return
        if kind == "azure":
            endpoint.outage(503, times=OUTAGE_FAULTS)  # AADSTS90033 "temporarily_unavailable"
        elif kind == "sts":
            endpoint.fail_with("ServiceUnavailable", times=OUTAGE_FAULTS)
        else:
            body = json.dumps({"error": "internal_failure", "error_description": "Backend Error"})
            endpoint.fail(503, body, headers={"Content-Type": "application/json"}, times=OUTAGE_FAULTS)


def _add_refresh_in(server: Any, state: _State) -> None:
    """Let the Azure endpoint add `refresh_in` to its answers, as Entra ID does for some tokens.

    MSAL (under azure-identity) refreshes a still-valid token only after the `refresh_on`
    time derived from `refresh_in`; this is the knob that puts it inside its refresh window.
    """
    endpoint = server.azure
    respond = endpoint.respond

    def respond_with_refresh_in(request: Any, form: Mapping[str, str]) -> Any:
        reply = respond(request, form)
        refresh_in = state.refresh_in
        if refresh_in is None or reply.status != 200 or b'"access_token"' not in reply.body:
            return reply
        body = json.loads(reply.body)
        body["refresh_in"] = int(refresh_in)
        return dataclasses.replace(reply, body=json.dumps(body).encode())

    endpoint.respond = respond_with_refresh_in


if __name__ == "__main__":
    _serve(sys.argv[1])
