"""Claude on Amazon Bedrock through `anthropic.AnthropicBedrock`, signed by literauth over httpx2.

`AnthropicBedrock` takes only static AWS keys, so a refreshing credential goes in through its
HTTP client: `httpx2.Client(auth=literauth.adapters.httpx.SigV4Auth(provider, region=...))`
signs every request (streams included) with the provider's current keys and re-signs once
with fresh keys when Bedrock says they expired. A placeholder `api_key` turns the SDK's own
signing off. Needs anthropic (built on httpx2) and botocore, which decodes Bedrock's event
stream: ``pip install "literauth[examples]"``; without them this example says so in one line
and exits with status 2.

In a pod whose service account is bound to an IAM role (EKS sets AWS_ROLE_ARN,
AWS_WEB_IDENTITY_TOKEN_FILE and AWS_REGION)::

    python examples/anthropic_bedrock_httpx.py "Why is the sky blue?"

Offline, against literauth's FakeIdentityServer (STS) and the Bedrock stand-in of
``boto3_bedrock_converse.py``, which recomputes every signature with botocore::

    python examples/anthropic_bedrock_httpx.py --demo
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import pathlib
import sys
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from literauth.aws import WebIdentityCredentialProvider
from literauth.errors import LiterAuthError
from literauth.provider import SupportsResolve

DEFAULT_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
INSTALL_HINT = 'needs anthropic and botocore: pip install "literauth[examples]"'
# Any value: it only makes AnthropicBedrock skip its own signing; SigV4Auth replaces the header.
PLACEHOLDER_KEY = "signed-by-literauth"


def _installed(*modules: str) -> bool:
    """Whether every one of `modules` can be imported."""
    try:
        for name in modules:
            importlib.import_module(name)
    except ImportError:
        return False
    return True


def claude(provider: SupportsResolve, region: str, *, base_url: str | None = None) -> Any:
    """An `AnthropicBedrock` client whose every request literauth signs with SigV4."""
    import anthropic
    import httpx2

    from literauth.adapters.httpx import SigV4Auth

    return anthropic.AnthropicBedrock(
        api_key=PLACEHOLDER_KEY, aws_region=region, base_url=base_url,
        http_client=httpx2.Client(auth=SigV4Auth(provider, region=region, service="bedrock")),
    )


def ask(client: Any, model: str, prompt: str) -> str:
    """One Messages call."""
    message = client.messages.create(model=model, max_tokens=512, messages=[{"role": "user", "content": prompt}])
    return "".join(block.text for block in message.content if block.type == "text")


def ask_streaming(client: Any, model: str, prompt: str) -> str:
    """The same call over Bedrock's event stream (`invoke-with-response-stream`)."""
    with client.messages.stream(model=model, max_tokens=512, messages=[{"role": "user", "content": prompt}]) as stream:
        return str(stream.get_final_text())


# -- the offline demo ------------------------------------------------------------------------


def _boto3_example() -> ModuleType:
    """The sibling example that holds the Bedrock stand-in (one stand-in for both demos)."""
    path = pathlib.Path(__file__).with_name("boto3_bedrock_converse.py")
    spec = importlib.util.spec_from_file_location("boto3_bedrock_converse", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def demo() -> int:
    """Keys from a local fake STS; a plain and a streamed call to a stand-in that checks SigV4."""
    from literauth.testing import FakeIdentityServer

    stand_in = _boto3_example()
    with FakeIdentityServer() as idp:
        bedrock = stand_in.fake_bedrock(stand_in.issued_keys(idp))
        threading.Thread(target=bedrock.serve_forever, daemon=True).start()
        try:
            with idp.sts_provider() as provider:
                url = f"http://127.0.0.1:{bedrock.server_address[1]}"
                with claude(provider, provider.region, base_url=url) as client:
                    print(ask(client, DEFAULT_MODEL, "Why is the sky blue?"))
                    provider.invalidate()  # e.g. the keys were revoked: the next call signs with new ones
                    print(ask_streaming(client, DEFAULT_MODEL, "Name three rivers."))
                print(f"STS calls: {idp.sts.request_count} for 2 calls (one invalidate between them)")
        finally:
            bedrock.shutdown()
            bedrock.server_close()
    return 0


def _cannot_run(reason: str) -> int:
    """Say in one line, without a traceback, why the example did not run; exit status 2."""
    print(f"example: {' '.join(reason.split())}", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("prompt", nargs="?", default="Say hello in one short sentence.")
    parser.add_argument("--demo", action="store_true", help="run offline against local fakes")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"Bedrock model id (default {DEFAULT_MODEL})")
    parser.add_argument("--stream", action="store_true", help="stream the answer")
    args = parser.parse_args(argv)
    if not _installed("anthropic", "httpx2", "botocore"):
        return _cannot_run(INSTALL_HINT)
    if args.demo:
        return demo()
    try:
        provider = WebIdentityCredentialProvider.from_env()
    except LiterAuthError as exc:
        return _cannot_run(f"{exc} (or run it offline with --demo)")
    with provider, claude(provider, provider.region) as client:
        print((ask_streaming if args.stream else ask)(client, args.model, args.prompt))
    return 0


if __name__ == "__main__":
    sys.exit(main())
