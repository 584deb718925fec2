"""Azure OpenAI behind a Flask app, with one Azure AD token provider shared by every thread.

Needs Flask beyond the core: ``pip install "literauth[examples]"``.

The provider is built once from the environment. Flask's request threads and a pool of
worker threads (fanning a batch of prompts out) all call `resolve()` on it: the token is
fetched once, served from the cache, and refreshed five minutes before it expires.

Against Azure (``AZURE_AD_TOKEN`` instead of the three ``AZURE_*`` ids also works)::

    export AZURE_TENANT_ID=... AZURE_CLIENT_ID=... AZURE_CLIENT_SECRET=...
    export AZURE_OPENAI_ENDPOINT=https://<resource>.openai.azure.com AZURE_OPENAI_DEPLOYMENT=<deployment>
    python examples/azure_openai_flask.py            # then POST {"prompt": "..."} to :8000/chat
    gunicorn --preload -w 4 'examples.azure_openai_flask:create_app_from_env()'

Offline, against literauth's FakeIdentityServer and a stand-in for Azure OpenAI::

    python examples/azure_openai_flask.py --demo
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import requests

try:
    from flask import Flask, abort, jsonify, request
except ImportError as missing:  # one line that says what to install, not a traceback
    print(f'example: needs {missing.name or "flask"}: pip install "literauth[examples]"', file=sys.stderr)
    sys.exit(2)

from literauth.azure import AzureAdCredentialProvider
from literauth.credentials import BearerToken
from literauth.errors import ConfigurationError, LiterAuthError
from literauth.provider import CredentialProvider

API_VERSION = "2024-10-21"  # a generally available Azure OpenAI data-plane API version
WORKERS = 4  # threads a /batch request fans its prompts out to


class AzureOpenAIChat:
    """A minimal chat-completions client for one deployment; thread-safe like its provider."""

    def __init__(
        self,
        provider: CredentialProvider,
        endpoint: str,
        deployment: str,
        *,
        session: requests.Session | None = None,
    ) -> None:
        self.provider = provider
        self.url = f"{endpoint.rstrip('/')}/openai/deployments/{deployment}/chat/completions"
        self.session = session or requests.Session()

    def _headers(self) -> dict[str, str]:
        credential = self.provider.resolve()  # cached: no token request unless one is due
        assert isinstance(credential, BearerToken)
        return {"Authorization": f"Bearer {credential.token.expose_secret()}"}

    def complete(self, prompt: str) -> str:
        """Send one user message and return the assistant's reply."""
        body = {"messages": [{"role": "user", "content": prompt}]}
        params = {"api-version": API_VERSION}
        response = self.session.post(self.url, params=params, json=body, headers=self._headers(), timeout=(5, 120))
        if response.status_code == 401 and hasattr(self.provider, "invalidate"):
            self.provider.invalidate()  # revoked early: drop the cached token and try once more
            response = self.session.post(self.url, params=params, json=body, headers=self._headers(), timeout=(5, 120))
        response.raise_for_status()
        return str(response.json()["choices"][0]["message"]["content"])


def create_app(chat: AzureOpenAIChat, *, workers: int = WORKERS) -> Flask:
    """The web app: `/chat` answers one prompt, `/batch` answers many on worker threads."""
    app = Flask(__name__)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aoai-worker")  # threads start lazily
    app.extensions["aoai_workers"] = pool  # for shutdown(wait=True) when the app is torn down

    @app.post("/chat")
    def chat_one() -> Any:
        prompt = (request.get_json(silent=True) or {}).get("prompt")
        if not isinstance(prompt, str) or not prompt:
            abort(400, "send JSON with a non-empty 'prompt'")
        return jsonify(answer=chat.complete(prompt))

    @app.post("/batch")
    def chat_many() -> Any:
        prompts = (request.get_json(silent=True) or {}).get("prompts")
        if not isinstance(prompts, list) or not all(isinstance(p, str) and p for p in prompts):
            abort(400, "send JSON with a list of non-empty 'prompts'")
        return jsonify(answers=list(pool.map(chat.complete, prompts)))

    @app.get("/healthz")
    def health() -> Any:
        stats = getattr(chat.provider, "stats", None)
        if stats is None:  # a StaticTokenProvider from AZURE_AD_TOKEN keeps no statistics
            return jsonify(status="ok")
        snapshot = stats()
        return jsonify(status="ok", token_requests=snapshot.token_requests, failures=snapshot.failures)

    return app


def create_app_from_env(environ: Mapping[str, str] | None = None) -> Flask:
    """The app configured from environment variables (the gunicorn entry point)."""
    env = os.environ if environ is None else environ
    missing = [name for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_DEPLOYMENT") if not env.get(name)]
    if missing:
        raise ConfigurationError(f"{' and '.join(missing)} {'are' if len(missing) > 1 else 'is'} not set")
    provider = AzureAdCredentialProvider.from_env(env)
    return create_app(AzureOpenAIChat(provider, env["AZURE_OPENAI_ENDPOINT"], env["AZURE_OPENAI_DEPLOYMENT"]))


# -- the offline demo ---------------------------------------------------------------------


def _fake_azure_openai(check_token: Any) -> Flask:
    """A stand-in for an Azure OpenAI resource: checks the bearer token, echoes the prompt."""
    fake = Flask("fake-azure-openai")

    @fake.post("/openai/deployments/<deployment>/chat/completions")
    def completions(deployment: str) -> Any:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme != "Bearer" or not check_token(token, audience="https://cognitiveservices.azure.com"):
            return jsonify(error={"code": "401", "message": "Access denied due to invalid token"}), 401
        prompt = request.get_json()["messages"][-1]["content"]
        reply = {"role": "assistant", "content": f"[{deployment}] you said: {prompt}"}
        return jsonify(object="chat.completion", choices=[{"index": 0, "message": reply}])

    return fake


@contextmanager
def _serve(app: Flask) -> Iterator[str]:
    """Serve `app` on an ephemeral loopback port in a thread; yield its base URL."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class _Quiet(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:  # keep the demo's output readable
            pass

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def demo() -> int:
    """Run the whole flow offline and show that many threads cost one token request."""
    from literauth.testing import FakeIdentityServer

    with FakeIdentityServer() as idp, _serve(_fake_azure_openai(idp.azure.check_token)) as aoai_url:
        env = {**idp.azure.environ(), "AZURE_OPENAI_ENDPOINT": aoai_url, "AZURE_OPENAI_DEPLOYMENT": "gpt-demo"}
        app = create_app_from_env(env)
        client = app.test_client()
        one = client.post("/chat", json={"prompt": "hello"})
        many = client.post("/batch", json={"prompts": [f"question {i}" for i in range(12)]})
        health = client.get("/healthz")
        print("POST /chat  ->", one.status_code, one.get_json()["answer"])
        print("POST /batch ->", many.status_code, f"{len(many.get_json()['answers'])} answers from {WORKERS} workers")
        print("GET /healthz ->", health.get_json())
        app.extensions["aoai_workers"].shutdown(wait=True)
        token_requests = idp.azure.request_count
        print(f"token requests to the identity provider: {token_requests} (for 13 completions)")
        ok = one.status_code == 200 and many.status_code == 200 and token_requests == 1
        return 0 if ok else 1


def _cannot_run(reason: str) -> int:
    """Say in one line, without a traceback, why the example did not run; exit status 2."""
    print(f"example: {' '.join(reason.split())}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="run offline against a fake identity provider")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    args = parser.parse_args(argv)
    if args.demo:
        return demo()
    try:
        app = create_app_from_env()
    except LiterAuthError as exc:
        return _cannot_run(f"{exc} (or run it offline with --demo)")
    app.run(host="127.0.0.1", port=args.port, threaded=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
