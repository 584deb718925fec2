"""Ask Gemini on Vertex AI a question with a service-account key; `--demo` runs offline.

    GOOGLE_APPLICATION_CREDENTIALS=key.json python examples/vertex_ai.py \\
        --project my-project --location us-central1 "Why is the sky blue?"
    python examples/vertex_ai.py --demo     # a local FakeIdentityServer, no network, no key

The provider is built once and shared: every call gets a cached token, refreshed in the
background five minutes before it expires. Needs cryptography and PyJWT beyond the core:
``pip install "literauth[examples]"`` (``"literauth[vertex-auth]"`` is enough for this one).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import tempfile
from collections.abc import Sequence

import requests

try:  # VertexOAuthCredentialProvider signs its JWT with them (the vertex-auth extra)
    import cryptography  # noqa: F401
    import jwt  # noqa: F401
except ImportError:  # one line that says what to install, not a traceback
    print('example: needs cryptography and pyjwt: pip install "literauth[examples]"', file=sys.stderr)
    sys.exit(2)

from literauth.credentials import BearerToken
from literauth.errors import LiterAuthError
from literauth.google import VertexOAuthCredentialProvider

DEFAULT_MODEL = "gemini-2.0-flash"


def vertex_url(project: str, location: str, model: str) -> str:
    """The generateContent URL of a Google model in one Vertex AI region."""
    host = "aiplatform.googleapis.com" if location == "global" else f"{location}-aiplatform.googleapis.com"
    return (
        f"https://{host}/v1/projects/{project}/locations/{location}"
        f"/publishers/google/models/{model}:generateContent"
    )


def authorization(provider: VertexOAuthCredentialProvider) -> dict[str, str]:
    """The Authorization header for one request, from the provider's cached token."""
    token = provider.resolve()
    assert isinstance(token, BearerToken)
    return {"Authorization": f"Bearer {token.token.expose_secret()}"}


def ask(provider: VertexOAuthCredentialProvider, session: requests.Session, url: str, prompt: str) -> str:
    """Send one prompt and return the first candidate's text."""
    body = {"contents": [{"role": "user", "parts": [{"text": prompt}]}]}
    response = session.post(url, json=body, headers=authorization(provider), timeout=(5, 120))
    if response.status_code == 401:  # token revoked early: drop it and try once more
        provider.invalidate()
        response = session.post(url, json=body, headers=authorization(provider), timeout=(5, 120))
    response.raise_for_status()
    parts = response.json()["candidates"][0]["content"]["parts"]
    return "".join(part.get("text", "") for part in parts)


def demo() -> int:
    """Run the provider against a local FakeIdentityServer and show what it does."""
    from literauth.testing import FakeIdentityServer

    with FakeIdentityServer() as server, tempfile.TemporaryDirectory() as tmp:
        key_file = server.google.write_key_file(pathlib.Path(tmp) / "key.json")
        environ = {"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)}
        provider = VertexOAuthCredentialProvider.from_env(environ)
        with provider:  # close() releases its HTTP session
            headers = authorization(provider)
            authorization(provider)  # served from the cache: no second token request
            token = provider.resolve()
            print(f"service account: {provider.client_email}")
            print(f"scopes:          {' '.join(provider.scopes)}")
            print(f"token expires:   {token.expires_at:%Y-%m-%d %H:%M:%S} UTC")
            print(f"token requests:  {server.google.request_count} for 3 resolve() calls")
            print(f"header:          Authorization: Bearer {'*' * 10} ({len(headers['Authorization'])} chars)")
    return 0


def _cannot_run(reason: str) -> int:
    """Say in one line, without a traceback, why the example did not run; exit status 2."""
    print(f"example: {' '.join(reason.split())}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prompt", nargs="?", default="Say hello in one short sentence.")
    parser.add_argument("--demo", action="store_true", help="run offline against FakeIdentityServer")
    parser.add_argument("--project", help="Google Cloud project id")
    parser.add_argument("--location", default="us-central1", help="Vertex AI region (default us-central1)")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"model id (default {DEFAULT_MODEL})")
    args = parser.parse_args(argv)
    if args.demo:
        return demo()
    if not args.project:
        return _cannot_run("--project is required (or run it offline with --demo)")
    try:
        provider = VertexOAuthCredentialProvider.from_env()  # build once, share everywhere
    except LiterAuthError as exc:
        return _cannot_run(f"{exc} (or run it offline with --demo)")
    with provider, requests.Session() as session:
        print(ask(provider, session, vertex_url(args.project, args.location, args.model), args.prompt))
    return 0


if __name__ == "__main__":
    sys.exit(main())
