"""Amazon Bedrock `converse` through boto3, with AWS keys from literauth (`boto3_session`).

`literauth.adapters.aws.boto3_session(provider)` is a `boto3.Session` whose credential chain
starts with the literauth provider: botocore asks literauth before every signing (a cache
hit), so a refresh or an `invalidate()` reaches the next call, and a failure raises
botocore's `CredentialRetrievalError` instead of falling back to other keys. Needs boto3:
``pip install "literauth[examples]"``; without it this example says so in one line and exits
with status 2.

In a pod whose service account is bound to an IAM role (EKS sets AWS_ROLE_ARN,
AWS_WEB_IDENTITY_TOKEN_FILE and AWS_REGION)::

    python examples/boto3_bedrock_converse.py "Why is the sky blue?"

Offline, against literauth's FakeIdentityServer (STS) and a Bedrock stand-in that recomputes
every signature with botocore::

    python examples/boto3_bedrock_converse.py --demo
"""

from __future__ import annotations

import argparse
import base64
import binascii
import http.server
import importlib
import json
import struct
import sys
import threading
from collections.abc import Callable, Sequence
from typing import Any

from literauth.aws import WebIdentityCredentialProvider
from literauth.errors import LiterAuthError

DEFAULT_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
INSTALL_HINT = 'needs boto3: pip install "literauth[examples]"'


def _installed(*modules: str) -> bool:
    """Whether every one of `modules` can be imported."""
    try:
        for name in modules:
            importlib.import_module(name)
    except ImportError:
        return False
    return True


def converse(client: Any, model: str, prompt: str) -> str:
    """Send one prompt with the Converse API and return the answer's text."""
    answer = client.converse(modelId=model, messages=[{"role": "user", "content": [{"text": prompt}]}],
                             inferenceConfig={"maxTokens": 512})
    return "".join(block.get("text", "") for block in answer["output"]["message"]["content"])


# -- the offline demo: a Bedrock runtime stand-in (the anthropic example uses it too) ----------


def _signature_ok(handler: http.server.BaseHTTPRequestHandler, body: bytes, keys: Callable[[str], Any]) -> bool:
    """Recompute the request's SigV4 signature with botocore from the secret of the key it names."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    auth = handler.headers.get("Authorization", "")
    fields = dict(p.strip().split("=", 1) for p in auth.removeprefix("AWS4-HMAC-SHA256 ").split(",") if "=" in p)
    key_id, _, region, service, _ = (fields.get("Credential", "") + "////").split("/")[:5]
    credentials = keys(key_id)
    if credentials is None:
        return False
    signed = {name: handler.headers.get(name, "") for name in fields.get("SignedHeaders", "").split(";")}
    request = AWSRequest(handler.command, f"http://{handler.headers['Host']}{handler.path}", headers=signed, data=body)
    request.context["timestamp"] = handler.headers.get("X-Amz-Date", "")
    signer = SigV4Auth(credentials, service, region)
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    return bool(fields.get("Signature") == expected)


def _event(payload: dict[str, Any]) -> bytes:
    """One AWS event-stream `chunk` message carrying `payload`, as invoke-with-response-stream sends."""
    headers = b"".join(
        bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(value)) + value.encode()
        for name, value in ((":event-type", "chunk"), (":content-type", "application/json"), (":message-type", "event"))
    )
    body = json.dumps({"bytes": base64.b64encode(json.dumps(payload).encode()).decode()}).encode()
    prelude = struct.pack(">II", 16 + len(headers) + len(body), len(headers))
    message = prelude + struct.pack(">I", binascii.crc32(prelude)) + headers + body
    return message + struct.pack(">I", binascii.crc32(message))


def _answer(path: str, body: dict[str, Any]) -> tuple[str, bytes]:
    """Content type and body Bedrock would answer: Converse, or Anthropic Messages (plain or streamed)."""
    model = path.split("/")[2].replace("%3A", ":")
    if path.endswith("/converse"):
        text = f"(fake {model}) you asked: {body['messages'][0]['content'][0]['text']}"
        return "application/json", json.dumps(
            {"output": {"message": {"role": "assistant", "content": [{"text": text}]}}, "stopReason": "end_turn",
             "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}, "metrics": {"latencyMs": 1}}
        ).encode()
    prompt = body["messages"][0]["content"]
    text = f"(fake {model}) you asked: {prompt if isinstance(prompt, str) else prompt[0]['text']}"
    message = {"id": "msg_demo", "type": "message", "role": "assistant", "model": model, "stop_sequence": None,
               "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
               "usage": {"input_tokens": 1, "output_tokens": 1}}
    if not path.endswith("-with-response-stream"):
        return "application/json", json.dumps(message).encode()
    events = [
        {"type": "message_start", "message": {**message, "content": [], "stop_reason": None}},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
         "usage": {"output_tokens": 1}},
        {"type": "message_stop"},
    ]
    return "application/vnd.amazon.eventstream", b"".join(_event(event) for event in events)


def fake_bedrock(keys: Callable[[str], Any]) -> http.server.ThreadingHTTPServer:
    """A Bedrock runtime stand-in on 127.0.0.1: 403 unless the SigV4 signature is right.

    `keys(access_key_id)` returns botocore `Credentials` for a key it issued, else `None`.
    """

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if _signature_ok(self, body, keys):
                status, (kind, data) = 200, _answer(self.path, json.loads(body))
            else:
                status, kind = 403, "application/json"
                data = b'{"message": "The request signature we calculated does not match the signature you provided."}'
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def issued_keys(idp: Any) -> Callable[[str], Any]:
    """The `keys` lookup for `fake_bedrock` over the keys a FakeIdentityServer's STS handed out."""
    from botocore.credentials import Credentials

    def keys(key_id: str) -> Any:
        for issued in idp.sts.issued_credentials:
            if issued.access_key_id.expose_secret() == key_id:
                return Credentials(key_id, issued.secret_access_key.expose_secret(),
                                   issued.session_token.expose_secret())
        return None

    return keys


def demo() -> int:
    """Keys from a local fake STS, two converse calls through boto3 to a stand-in that checks SigV4."""
    from literauth.adapters.aws import boto3_session
    from literauth.testing import FakeIdentityServer

    with FakeIdentityServer() as idp:
        bedrock = fake_bedrock(issued_keys(idp))
        threading.Thread(target=bedrock.serve_forever, daemon=True).start()
        try:
            with idp.sts_provider() as provider:
                session = boto3_session(provider)  # region from the provider: us-east-1
                client = session.client("bedrock-runtime", endpoint_url=f"http://127.0.0.1:{bedrock.server_address[1]}")
                print(converse(client, DEFAULT_MODEL, "Why is the sky blue?"))
                print(converse(client, DEFAULT_MODEL, "Name three rivers."))
                print(f"STS calls: {idp.sts.request_count} for 2 boto3 calls, signed by {session.get_credentials().method}")
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
    args = parser.parse_args(argv)
    if not _installed("boto3"):
        return _cannot_run(INSTALL_HINT)
    if args.demo:
        return demo()
    from literauth.adapters.aws import boto3_session

    try:
        provider = WebIdentityCredentialProvider.from_env()
    except LiterAuthError as exc:
        return _cannot_run(f"{exc} (or run it offline with --demo)")
    with provider:
        print(converse(boto3_session(provider).client("bedrock-runtime"), args.model, args.prompt))
    return 0


if __name__ == "__main__":
    sys.exit(main())
