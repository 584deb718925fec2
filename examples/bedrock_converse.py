"""One Amazon Bedrock `converse` call through `literauth.Client`, signed with SigV4.

Needs nothing beyond the core (``pip install literauth``).

The keys come from STS `AssumeRoleWithWebIdentity` (EKS IAM Roles for Service Accounts);
the region and signing service are read from the Bedrock host name, and the model id's
``:`` is sent as ``%3A`` and signed as ``%253A``, as Bedrock expects.

In a pod whose service account is bound to an IAM role (EKS sets AWS_ROLE_ARN,
AWS_WEB_IDENTITY_TOKEN_FILE and AWS_REGION)::

    python examples/bedrock_converse.py "Why is the sky blue?"

Offline, against literauth's FakeIdentityServer (STS) and a Bedrock stand-in that checks
every signature::

    python examples/bedrock_converse.py --demo
"""

from __future__ import annotations

import argparse
import http.server
import json
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from literauth.aws import WebIdentityCredentialProvider
from literauth.client import Client, ClientConfig
from literauth.credentials import UTC, AwsCredentials
from literauth.errors import LiterAuthError
from literauth.provider import SupportsResolve
from literauth.sigv4 import sign

DEFAULT_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"


def bedrock_client(provider: SupportsResolve, region: str, *, endpoint: str | None = None) -> Client:
    """A `Client` for the Bedrock runtime of `region`, or of `endpoint` (a proxy, a stand-in)."""
    if endpoint is None:  # region and service are read from the AWS host name
        suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
        return Client(ClientConfig(f"https://bedrock-runtime.{region}.{suffix}", provider, timeout=(5, 120)))
    return Client(ClientConfig(endpoint, provider, timeout=(5, 120), aws_region=region, aws_service="bedrock"))


def converse(client: Client, model: str, prompt: str) -> str:
    """Send one prompt with the Converse API and return the answer's text."""
    body = {"messages": [{"role": "user", "content": [{"text": prompt}]}], "inferenceConfig": {"maxTokens": 512}}
    response = client.post(f"model/{model}/converse", json=body)
    response.raise_for_status()
    return "".join(block.get("text", "") for block in response.json()["output"]["message"]["content"])


# -- the offline demo ------------------------------------------------------------------------


def fake_bedrock(keys: Callable[[str], AwsCredentials | None], region: str) -> http.server.ThreadingHTTPServer:
    """A Bedrock runtime stand-in on 127.0.0.1 that recomputes each request's SigV4 signature."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, answer = (200, self._answer(body)) if self._signature_ok(body) else (
                403, {"message": "The request signature we calculated does not match the signature you provided."}
            )
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _signature_ok(self, body: bytes) -> bool:
            auth = self.headers.get("Authorization", "")
            fields = dict(p.strip().split("=", 1) for p in auth.removeprefix("AWS4-HMAC-SHA256 ").split(",") if "=" in p)
            key_id = fields.get("Credential", "").split("/")[0]
            credentials = keys(key_id)
            if credentials is None or "X-Amz-Date" not in self.headers:
                return False
            signed: Mapping[str, str] = {
                name: self.headers.get(name, "") for name in fields.get("SignedHeaders", "").split(";")
            }
            when = datetime.strptime(self.headers["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            expected = sign("POST", f"http://{self.headers['Host']}{self.path}", signed, body, credentials,
                            region=region, service="bedrock", now=when)
            return expected["Authorization"] == auth

        def _answer(self, body: bytes) -> dict[str, Any]:
            prompt = json.loads(body)["messages"][0]["content"][0]["text"]
            text = f"(fake model at {self.path.split('/')[2]}) you asked: {prompt}"
            return {"output": {"message": {"role": "assistant", "content": [{"text": text}]}}, "stopReason": "end_turn"}

    return http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def demo() -> int:
    """Keys from a local fake STS, one converse call to a Bedrock stand-in that checks SigV4."""
    from literauth.testing import FakeIdentityServer

    region = "us-west-2"
    with FakeIdentityServer() as idp, tempfile.TemporaryDirectory() as tmp:

        def keys(key_id: str) -> AwsCredentials | None:
            for issued in idp.sts.issued_credentials:
                if issued.access_key_id.expose_secret() == key_id:
                    return AwsCredentials(issued.access_key_id, issued.secret_access_key, issued.session_token)
            return None

        bedrock = fake_bedrock(keys, region)
        threading.Thread(target=bedrock.serve_forever, daemon=True).start()
        environ = {**idp.environ(tmp), "AWS_REGION": region}
        try:
            with WebIdentityCredentialProvider.from_env(environ) as provider:
                client = bedrock_client(provider, region, endpoint=f"http://127.0.0.1:{bedrock.server_address[1]}")
                with client:
                    print(converse(client, DEFAULT_MODEL, "Why is the sky blue?"))
                    print(converse(client, DEFAULT_MODEL, "Name three rivers."))
                print(f"STS calls: {idp.sts.request_count} for 2 signed Bedrock calls")
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
    parser.add_argument("--endpoint", help="Bedrock runtime URL (default: the region's endpoint)")
    args = parser.parse_args(argv)
    if args.demo:
        return demo()
    try:
        provider = WebIdentityCredentialProvider.from_env()
    except LiterAuthError as exc:
        return _cannot_run(f"{exc} (or run it offline with --demo)")
    with provider, bedrock_client(provider, provider.region, endpoint=args.endpoint) as client:
        print(converse(client, args.model, args.prompt))
    return 0


if __name__ == "__main__":
    sys.exit(main())
