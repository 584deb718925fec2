"""Gemini on Vertex AI through google-genai, with literauth's token: `GoogleCredentials`.

`genai.Client(vertexai=True, credentials=GoogleCredentials(provider))` reads the token from
the provider on every request, so literauth's cache (refreshed in the background before
expiry) is the only one; 16 threads sharing the client cost one token request. Needs
google-genai, cryptography and PyJWT: ``pip install "literauth[examples]"``; without them
this example says so in one line and exits with status 2.

Against Vertex AI, with a service-account key::

    export GOOGLE_APPLICATION_CREDENTIALS=key.json GOOGLE_CLOUD_PROJECT=my-project
    python examples/google_genai_vertex.py --location us-central1 "Why is the sky blue?"

Offline, against literauth's FakeIdentityServer and FakeLlmServer (a stand-in for Vertex)::

    python examples/google_genai_vertex.py --demo
"""

from __future__ import annotations

import argparse
import concurrent.futures
import importlib
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from literauth.errors import LiterAuthError

INSTALL_HINT = 'needs google-genai, cryptography and pyjwt: pip install "literauth[examples]"'
MODEL = "gemini-2.0-flash"


def _modules() -> Any:
    """`google.genai`, or None when it (or the service-account signing packages) is missing."""
    try:
        importlib.import_module("cryptography")
        importlib.import_module("jwt")
        return importlib.import_module("google.genai")
    except ImportError:
        return None


def make_client(environ: Mapping[str, str], location: str, base_url: str | None = None) -> tuple[Any, Any]:
    """(a genai Client on Vertex AI whose tokens come from literauth, the literauth provider)."""
    genai = importlib.import_module("google.genai")
    from literauth.adapters.google import GoogleCredentials
    from literauth.google import VertexOAuthCredentialProvider

    provider = VertexOAuthCredentialProvider.from_env(environ)
    options = genai.types.HttpOptions(base_url=base_url) if base_url else None
    client = genai.Client(
        vertexai=True, credentials=GoogleCredentials(provider), project=environ["GOOGLE_CLOUD_PROJECT"],
        location=location, http_options=options,
    )
    return client, provider


def ask(client: Any, prompt: str) -> str:
    return str(client.models.generate_content(model=MODEL, contents=prompt).text)


def demo() -> int:
    """Sixteen threads share one client against local fakes; then a revoked token is replaced."""
    import tempfile

    from literauth.testing import FakeIdentityServer, FakeLlmServer

    with FakeIdentityServer() as idp, FakeLlmServer() as vertex, tempfile.TemporaryDirectory() as folder:
        environ = {**idp.google.environ(folder), "GOOGLE_CLOUD_PROJECT": "literauth-demo"}
        client, provider = make_client(environ, "us-central1", base_url=vertex.url)
        with provider, concurrent.futures.ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda n: ask(client, f"question {n}"), range(32)))
            print(f"{answers[0]!r}: {len(answers)} answers from 16 threads, "
                  f"{idp.google.request_count} token request")
            provider.invalidate()  # as after a revocation: the next call carries a new token
            ask(client, "one more")
            tokens = vertex.tokens()
            print(f"after invalidate(): a new token {tokens[-1] != tokens[0]}, "
                  f"token requests {idp.google.request_count}")
    return 0


def _cannot_run(reason: str) -> int:
    """Say in one line, without a traceback, why the example did not run; exit status 2."""
    print(f"example: {' '.join(reason.split())}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("prompts", nargs="*", default=["Say hello in one short sentence."])
    parser.add_argument("--location", default="us-central1")
    parser.add_argument("--demo", action="store_true", help="run offline against local fakes")
    args = parser.parse_args(argv)
    if _modules() is None:
        return _cannot_run(INSTALL_HINT)
    if args.demo:
        return demo()
    missing = [n for n in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT") if not os.environ.get(n)]
    if missing:
        return _cannot_run(f"{' and '.join(missing)} {'are' if len(missing) > 1 else 'is'} "
                           "not set (or run it offline with --demo)")
    try:
        client, provider = make_client(os.environ, args.location)
        with provider:
            for prompt in args.prompts:
                print(ask(client, prompt))
    except LiterAuthError as exc:
        return _cannot_run(f"{exc} (or run it offline with --demo)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
