"""The `openai` SDK's `AzureOpenAI` with tokens from literauth, via `bearer_token_callable`.

`AzureOpenAI(azure_ad_token_provider=...)` calls the function before every request; the
function returns the provider's cached token, so the SDK gets a fresh one whenever literauth
has refreshed it. Needs the openai package: ``pip install "literauth[examples]"``; without it
this example says so in one line and exits with status 2.

Against Azure::

    export AZURE_TENANT_ID=... AZURE_CLIENT_ID=... AZURE_CLIENT_SECRET=...
    export AZURE_OPENAI_ENDPOINT=https://<resource>.openai.azure.com AZURE_OPENAI_DEPLOYMENT=<deployment>
    python examples/openai_sdk_token_callable.py "Hello"

Offline, against literauth's FakeIdentityServer and a stand-in for Azure OpenAI::

    python examples/openai_sdk_token_callable.py --demo
"""

from __future__ import annotations

import argparse
import http.server
import importlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from literauth.azure import AzureAdCredentialProvider
from literauth.errors import LiterAuthError
from literauth.integrations.requests import bearer_token_callable

API_VERSION = "2024-10-21"  # a generally available Azure OpenAI data-plane API version
INSTALL_HINT = 'needs openai: pip install "literauth[examples]"'


def _openai() -> Any:
    """The `openai` module, or `None` when it is not installed."""
    try:
        return importlib.import_module("openai")
    except ImportError:
        return None


def ask(environ: Mapping[str, str], prompts: Sequence[str]) -> list[str]:
    """Answer `prompts` with one `AzureOpenAI` client whose tokens come from literauth."""
    openai = _openai()
    if openai is None:
        raise SystemExit(f"example: {INSTALL_HINT}")
    provider = AzureAdCredentialProvider.from_env(environ)  # or AZURE_AD_TOKEN: a static token
    client = openai.AzureOpenAI(
        azure_endpoint=environ["AZURE_OPENAI_ENDPOINT"],
        api_version=API_VERSION,
        azure_ad_token_provider=bearer_token_callable(provider),
    )
    answers = []
    with client:
        for prompt in prompts:
            completion = client.chat.completions.create(
                model=environ["AZURE_OPENAI_DEPLOYMENT"], messages=[{"role": "user", "content": prompt}]
            )
            answers.append(completion.choices[0].message.content or "")
    return answers


# -- the offline demo ------------------------------------------------------------------------


def fake_azure_openai(token_ok: Callable[[str], bool]) -> http.server.ThreadingHTTPServer:
    """A stand-in for Azure OpenAI chat completions on 127.0.0.1 that checks bearer tokens."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            answer: dict[str, Any]
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            if not token_ok(token):
                status, answer = 401, {"error": {"code": "401", "message": "Access denied"}}
            else:
                deployment = self.path.split("/")[3]
                content = f"(fake {deployment}) you said {body['messages'][-1]['content']!r}"
                status, answer = 200, {
                    "id": "chatcmpl-demo", "object": "chat.completion", "created": int(time.time()),
                    "model": deployment,
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                }
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def demo() -> int:
    """Two completions through the openai SDK against local fakes: one token request."""
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
            for answer in ask(environ, ["Hello", "What is SigV4?"]):
                print(answer)
            print(f"token requests: {idp.azure.request_count} for 2 completions")
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
    parser.add_argument("prompts", nargs="*", default=["Say hello in one short sentence."])
    parser.add_argument("--demo", action="store_true", help="run offline against local fakes")
    args = parser.parse_args(argv)
    if _openai() is None:  # it did not run: say so, and do not exit 0
        return _cannot_run(INSTALL_HINT)
    if args.demo:
        return demo()
    missing = [name for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_DEPLOYMENT") if not os.environ.get(name)]
    if missing:
        return _cannot_run(f"{' and '.join(missing)} {'are' if len(missing) > 1 else 'is'} "
                           "not set (or run it offline with --demo)")
    try:
        answers = ask(os.environ, args.prompts)
    except LiterAuthError as exc:
        return _cannot_run(f"{exc} (or run it offline with --demo)")
    for answer in answers:
        print(answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
