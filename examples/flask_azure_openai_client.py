"""A Flask app calling Azure OpenAI through `literauth.Client`, with Azure AD bearer tokens.

Needs Flask beyond the core: ``pip install "literauth[examples]"``.

One `Client` (one provider, one connection pool) is built at start-up and shared by every
request thread: the token is fetched once, cached, refreshed before it expires, and a 401
(a revoked token) is healed by one retry with a fresh token.

Against Azure::

    export AZURE_TENANT_ID=... AZURE_CLIENT_ID=... AZURE_CLIENT_SECRET=...
    export AZURE_OPENAI_ENDPOINT=https://<resource>.openai.azure.com AZURE_OPENAI_DEPLOYMENT=<deployment>
    flask --app 'examples/flask_azure_openai_client.py:create_app_from_env()' run
    curl -s localhost:5000/chat -H 'Content-Type: application/json' -d '{"prompt": "Hello"}'

Offline, against literauth's FakeIdentityServer and a stand-in for Azure OpenAI::

    python examples/flask_azure_openai_client.py --demo
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

try:
    from flask import Flask, jsonify, request
except ImportError as missing:  # one line that says what to install, not a traceback
    print(f'example: needs {missing.name or "flask"}: pip install "literauth[examples]"', file=sys.stderr)
    sys.exit(2)

from literauth.azure import AzureAdCredentialProvider
from literauth.client import Client, ClientConfig
from literauth.errors import ConfigurationError, LiterAuthError
from literauth.provider import SupportsResolve

API_VERSION = "2024-10-21"  # a generally available Azure OpenAI data-plane API version


def deployment_url(endpoint: str, deployment: str) -> str:
    """The base URL of one Azure OpenAI deployment; `Client` keeps this path when joining."""
    return f"{endpoint.rstrip('/')}/openai/deployments/{deployment}"


def make_client(base_url: str, provider: SupportsResolve) -> Client:
    """A `Client` for one deployment; the API version goes with every request."""
    return Client(ClientConfig(f"{base_url}?api-version={API_VERSION}", provider, timeout=(5, 120)))


def create_app(client: Client) -> Flask:
    """The app: POST {"prompt": ...} to /chat, get {"answer": ...} back."""
    app = Flask(__name__)

    @app.post("/chat")
    def chat() -> Any:
        prompt = (request.get_json(silent=True) or {}).get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            return jsonify(error="send JSON with a non-empty 'prompt'"), 400
        response = client.post("chat/completions", json={"messages": [{"role": "user", "content": prompt}]})
        if response.status_code != 200:
            return jsonify(error=f"Azure OpenAI answered HTTP {response.status_code}"), 502
        return jsonify(answer=response.json()["choices"][0]["message"]["content"])

    return app


def create_app_from_env(environ: Mapping[str, str] | None = None) -> Flask:
    """The app configured from AZURE_* variables (`environ=None` reads `os.environ`)."""
    env = os.environ if environ is None else environ
    missing = [name for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_DEPLOYMENT") if not env.get(name)]
    if missing:
        raise ConfigurationError(f"{' and '.join(missing)} {'are' if len(missing) > 1 else 'is'} not set")
    provider = AzureAdCredentialProvider.from_env(env)
    client = make_client(deployment_url(env["AZURE_OPENAI_ENDPOINT"], env["AZURE_OPENAI_DEPLOYMENT"]), provider)
    return create_app(client)


# -- the offline demo ------------------------------------------------------------------------


def fake_azure_openai(token_ok: Callable[[str], bool]) -> http.server.ThreadingHTTPServer:
    """A stand-in for Azure OpenAI chat completions on 127.0.0.1 that checks bearer tokens."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            answer: dict[str, Any]
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if not token_ok(token) or f"api-version={API_VERSION}" not in self.path:
                status, answer = 401, {"error": {"code": "401", "message": "Access denied"}}
            else:
                prompt = json.loads(body)["messages"][-1]["content"]
                message = {"role": "assistant", "content": f"(fake gpt-4o) you said {prompt!r}"}
                status, answer = 200, {"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def demo() -> int:
    """Eight concurrent chats through the app, against local fakes: one token request."""
    from literauth.testing import FakeIdentityServer

    with FakeIdentityServer() as idp:
        api = fake_azure_openai(lambda token: idp.azure.check_token(token, audience="https://cognitiveservices.azure.com"))
        threading.Thread(target=api.serve_forever, daemon=True).start()
        environ = {
            **idp.azure.environ(),
            "AZURE_OPENAI_ENDPOINT": f"http://127.0.0.1:{api.server_address[1]}",
            "AZURE_OPENAI_DEPLOYMENT": "gpt-4o",
        }
        try:
            app = create_app_from_env(environ)

            def ask(n: int) -> str:
                reply = app.test_client().post("/chat", json={"prompt": f"question {n}"})
                return f"{reply.status_code} {reply.get_json()}"

            with ThreadPoolExecutor(max_workers=8) as pool:
                for line in pool.map(ask, range(8)):
                    print(line)
            print(f"token requests: {idp.azure.request_count} for 8 chats")
        finally:
            api.shutdown()
            api.server_close()
    return 0


def _cannot_run(reason: str) -> int:
    """Say in one line, without a traceback, why the example did not run; exit status 2."""
    print(f"example: {' '.join(reason.split())}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="run offline against local fakes")
    args = parser.parse_args(argv)
    if args.demo:
        return demo()
    try:
        app = create_app_from_env()
    except LiterAuthError as exc:
        return _cannot_run(f"{exc} (or run it offline with --demo)")
    app.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
