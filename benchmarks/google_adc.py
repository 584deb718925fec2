"""Google without key files, side by side with google-auth: the ADC decision off Google Cloud, and refresh cost.

    python benchmarks/google_adc.py            # both parts (about 30 s: google-auth's black hole costs 12 s)
    python benchmarks/google_adc.py --quick    # literauth's decision only, and short refresh runs

1. **Decision time off Google**: how long `literauth.google.default().choose()` and
   `google.auth.default()` take to conclude "no credentials here" when the metadata address
   refuses connections, and when it accepts them and never answers (a firewalled
   169.254.169.254). Both point at loopback stand-ins (`refused_port()`, `BlackHole`);
   google-auth runs with its defaults (3 pings of 3 s), literauth with its one deadline.
2. **Refresh cost**: median wall and CPU milliseconds of one forced refresh of the metadata
   server source and of the gcloud user login, against `FakeIdentityServer` in its own
   process, and the requests each refresh makes. google-auth reads ``GCE_METADATA_HOST``
   at import, so every library runs in a fresh interpreter with the variables set.

Prints a markdown table; times are reported, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

_CLEARED = ("GOOGLE_", "GCE_", "CLOUDSDK_", "GCLOUD_", "NO_GCE_CHECK", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CLEARED)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def _run(mode: str, env: dict[str, str], *args: str, timeout: float = 120) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--child", mode, *args], capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{mode} failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# -- children: one measurement each, in a fresh interpreter ------------------------------------------


def _decide_literauth(home: str) -> dict[str, Any]:
    import requests  # noqa: F401 - loaded before timing, in both libraries: the decision alone is timed

    from literauth import SourceNotConfigured
    from literauth.google import default

    started = time.perf_counter()
    try:
        default(environ={**os.environ, "HOME": home}).choose()
        outcome = "found"
    except SourceNotConfigured:
        outcome = "not found"
    return {"seconds": time.perf_counter() - started, "outcome": outcome}


def _decide_google_auth(home: str) -> dict[str, Any]:
    import google.auth
    import google.auth.transport.requests
    from google.auth import exceptions

    os.environ["HOME"] = home
    started = time.perf_counter()
    try:
        google.auth.default()
        outcome = "found"
    except exceptions.DefaultCredentialsError:
        outcome = "not found"
    return {"seconds": time.perf_counter() - started, "outcome": outcome}


def _refreshers(library: str, source: str, info: dict[str, Any]) -> Any:
    """A zero-argument forced refresh of `source` through `library`."""
    import requests

    if library == "literauth":
        if source == "compute_engine":
            from literauth import ComputeEngineCredentialProvider

            provider: Any = ComputeEngineCredentialProvider(session=requests.Session())
        else:
            from literauth import AuthorizedUserCredentialProvider

            provider = AuthorizedUserCredentialProvider.from_info(info["login"], session=requests.Session())
        return lambda: provider.resolve(force_refresh=True)
    import google.auth.transport.requests

    request = google.auth.transport.requests.Request(requests.Session())
    if source == "compute_engine":
        from google.auth import compute_engine

        creds: Any = compute_engine.Credentials()
    else:
        import google.oauth2.credentials

        login = info["login"]
        creds = google.oauth2.credentials.Credentials(
            token=None, refresh_token=login["refresh_token"], client_id=login["client_id"],
            client_secret=login["client_secret"], token_uri=login["token_uri"],
        )
    return lambda: creds.refresh(request)


def _refresh(library: str, source: str, info_path: str, iterations: str) -> dict[str, Any]:
    import requests

    with open(info_path, encoding="utf-8") as handle:
        info = json.load(handle)
    refresh = _refreshers(library, source, info)
    for _ in range(3):
        refresh()
    before = requests.get(f"{info['control']}/count/{source}", timeout=5).json()
    walls, cpus = [], []
    for _ in range(int(iterations)):
        wall, cpu = time.perf_counter_ns(), time.process_time_ns()
        refresh()
        cpus.append((time.process_time_ns() - cpu) / 1e6)
        walls.append((time.perf_counter_ns() - wall) / 1e6)
    after = requests.get(f"{info['control']}/count/{source}", timeout=5).json()
    return {"wall_ms": statistics.median(walls), "cpu_ms": statistics.median(cpus),
            "requests_per_refresh": (after - before) / len(walls)}


def _serve(info_path: str) -> None:
    """FakeIdentityServer plus a tiny control endpoint (request counts), until stdin closes."""
    import http.server
    import threading

    from literauth.testing import FakeIdentityServer

    server = FakeIdentityServer()
    server.start()
    endpoints = {"compute_engine": server.google_metadata, "authorized_user": server.google_user}

    class Control(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = json.dumps(endpoints[self.path.rsplit("/", 1)[1]].request_count).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    control = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Control)
    threading.Thread(target=control.serve_forever, daemon=True).start()
    info = {"host": server.google_metadata.host, "login": server.google_user.login(),
            "control": f"http://127.0.0.1:{control.server_address[1]}"}
    info["login"]["token_uri"] = server.google_user.token_uri
    fd = os.open(info_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds test secrets
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(info, handle)
    print("ready", flush=True)
    sys.stdin.read()
    server.stop()


def _child(mode: str, args: list[str]) -> None:
    if mode == "serve":
        _serve(args[0])
        return
    if mode == "decide":
        result = (_decide_literauth if args[0] == "literauth" else _decide_google_auth)(args[1])
    else:
        result = _refresh(*args)
    print(json.dumps(result))


# -- the parent: orchestrate, print ----------------------------------------------------------------------


def decision_rows(quick: bool, home: str) -> list[tuple[str, str, str, str]]:
    from literauth.testing.google.metadata import BlackHole, refused_port

    rows = []
    libraries = ("literauth",) if quick else ("literauth", "google-auth")
    with BlackHole() as hole:
        for setup, host in (("refused", f"127.0.0.1:{refused_port()}"), ("black hole", hole.host)):
            for library in libraries:
                result = _run("decide", _env(GCE_METADATA_HOST=host, GCE_METADATA_IP=host), library, home)
                rows.append((setup, library, f"{result['seconds']:.3f} s", str(result["outcome"])))
    return rows


def refresh_rows(quick: bool, workdir: str) -> list[tuple[str, str, str, str, str]]:
    info_path = os.path.join(workdir, "fake.json")
    server = subprocess.Popen([sys.executable, __file__, "--child", "serve", info_path], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, env=_env())
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != b"ready":
            raise RuntimeError("the fake server did not start")
        with open(info_path, encoding="utf-8") as handle:
            host = json.load(handle)["host"]
        env = _env(GCE_METADATA_HOST=host, GCE_METADATA_IP=host, NO_PROXY="127.0.0.1,localhost")
        rows = []
        for source in ("compute_engine", "authorized_user"):
            for library in ("literauth", "google-auth"):
                result = _run("refresh", env, library, source, info_path, "10" if quick else "200")
                rows.append((source, library, f"{result['wall_ms']:.2f}", f"{result['cpu_ms']:.2f}",
                             f"{result['requests_per_refresh']:g}"))
        return rows
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="literauth's decision only, short refresh runs")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], args.child[1:])
        return 0
    with tempfile.TemporaryDirectory() as workdir:
        home = os.path.join(workdir, "home")  # no gcloud file: only the metadata server is left to try
        os.makedirs(home)
        print("### ADC decision off Google Cloud (no file, metadata address on loopback)\n")
        print("| metadata address | library | time to 'no credentials' | outcome |\n|---|---|---|---|")
        for row in decision_rows(args.quick, home):
            print("| " + " | ".join(row) + " |")
        print("\n### Refresh cost (forced refresh against FakeIdentityServer in its own process, plain http)\n")
        print("| source | library | wall ms | CPU ms | requests per refresh |\n|---|---|---|---|---|")
        for refresh in refresh_rows(args.quick, workdir):
            print("| " + " | ".join(refresh) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
