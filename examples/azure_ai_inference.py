"""azure-ai-inference's `ChatCompletionsClient` with literauth's token: `AzureTokenCredential`.

`AzureTokenCredential(provider)` is an azure-core credential: every Azure SDK client takes
it as `credential=`. It tells azure-core's bearer policy to ask again on every request, so
literauth's cache (refreshed in the background before expiry) is the only one and an
`invalidate()` reaches the next call. Needs azure-ai-inference (and cryptography for the
offline demo's HTTPS): ``pip install "literauth[examples]"``; without them this example
says so in one line and exits with status 2.

Against Azure AI Foundry models, with an app registration::

    export AZURE_TENANT_ID=... AZURE_CLIENT_ID=... AZURE_CLIENT_SECRET=...
    export AZURE_AI_INFERENCE_ENDPOINT=https://<resource>.services.ai.azure.com/models
    python examples/azure_ai_inference.py --model gpt-4o-mini "Hello"

Offline, against literauth's FakeIdentityServer and FakeLlmServer (over loopback HTTPS)::

    python examples/azure_ai_inference.py --demo
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

INSTALL_HINT = 'needs azure-ai-inference and cryptography: pip install "literauth[examples]"'


def _inference() -> Any:
    """`azure.ai.inference`, or None when it (or cryptography, for the demo's TLS) is missing."""
    try:
        importlib.import_module("cryptography")
        return importlib.import_module("azure.ai.inference")
    except ImportError:
        return None


def make_client(environ: Mapping[str, str], **transport: Any) -> tuple[Any, Any]:
    """(a ChatCompletionsClient whose tokens come from literauth, the literauth provider)."""
    inference = importlib.import_module("azure.ai.inference")
    from literauth.adapters.azure import AzureTokenCredential
    from literauth.azure import AzureAdCredentialProvider

    provider = AzureAdCredentialProvider.from_env(environ)  # scope: cognitiveservices by default
    client = inference.ChatCompletionsClient(
        endpoint=environ["AZURE_AI_INFERENCE_ENDPOINT"], credential=AzureTokenCredential(provider),
        credential_scopes=[provider.scope], **transport,
    )
    return client, provider


def ask(client: Any, prompt: str, model: str | None = None) -> str:
    answer = client.complete(messages=[{"role": "user", "content": prompt}], model=model)
    return str(answer.choices[0].message.content)


def demo() -> int:
    """Sixteen threads share one client against local fakes; then a revoked token is replaced."""
    from literauth.testing import FakeIdentityServer, FakeLlmServer

    with FakeIdentityServer() as idp, FakeLlmServer(https=True) as service:
        environ = {**idp.azure.environ(), "AZURE_AI_INFERENCE_ENDPOINT": service.url + "/models"}
        client, provider = make_client(environ, connection_verify=service.ca_bundle)
        with provider, client, concurrent.futures.ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda n: ask(client, f"question {n}"), range(32)))
            print(f"{answers[0]!r}: {len(answers)} answers from 16 threads, "
                  f"{idp.azure.request_count} token request")
            provider.invalidate()  # as after a revocation: the next call carries a new token
            ask(client, "one more")
            tokens = service.tokens()
            print(f"after invalidate(): a new token {tokens[-1] != tokens[0]}, "
                  f"token requests {idp.azure.request_count}")
    return 0


def _cannot_run(reason: str) -> int:
    """Say in one line, without a traceback, why the example did not run; exit status 2."""
    print(f"example: {' '.join(reason.split())}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("prompts", nargs="*", default=["Say hello in one short sentence."])
    parser.add_argument("--model", default=None, help="the deployment (model) name, if the endpoint needs one")
    parser.add_argument("--demo", action="store_true", help="run offline against local fakes")
    args = parser.parse_args(argv)
    if _inference() is None:
        return _cannot_run(INSTALL_HINT)
    if args.demo:
        return demo()
    if not os.environ.get("AZURE_AI_INFERENCE_ENDPOINT"):
        return _cannot_run("AZURE_AI_INFERENCE_ENDPOINT is not set (or run it offline with --demo)")
    try:
        client, provider = make_client(os.environ)
        with provider, client:
            for prompt in args.prompts:
                print(ask(client, prompt, args.model))
    except LiterAuthError as exc:
        return _cannot_run(f"{exc} (or run it offline with --demo)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
