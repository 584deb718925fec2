"""A background worker answering prompts with Amazon Bedrock, keyed by EKS IAM Roles for Service Accounts.

    # in a pod whose service account is annotated with an IAM role (EKS injects AWS_ROLE_ARN,
    # AWS_WEB_IDENTITY_TOKEN_FILE and AWS_REGION)
    python examples/bedrock_worker.py "Why is the sky blue?" "Name three rivers."
    python examples/bedrock_worker.py --demo    # local fake STS and Bedrock: no network, no AWS account

One `WebIdentityCredentialProvider` is built from the environment and shared by the worker
thread: every job gets cached temporary keys (refreshed in the background five minutes before
they expire, re-reading the rotated token file), and every Bedrock call is signed with SigV4.
Needs nothing beyond the core (``pip install literauth``).
"""

from __future__ import annotations

import argparse
import http.server
import json
import pathlib
import queue
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import unquote

import requests

from literauth.aws import WebIdentityCredentialProvider
from literauth.errors import LiterAuthError
from literauth.sigv4 import SigV4Auth

DEFAULT_MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
_STOP = None  # put on the queue to end the worker


def bedrock_runtime_url(region: str) -> str:
    """The Bedrock runtime endpoint of a region."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://bedrock-runtime.{region}.{suffix}"


def converse(session: requests.Session, endpoint: str, model: str, prompt: str) -> str:
    """Send one prompt with the Converse API and return the answer's text."""
    body = {
        "messages": [{"role": "user", "content": [{"text": prompt}]}],
        "inferenceConfig": {"maxTokens": 512},
    }
    response = session.post(f"{endpoint}/model/{model}/converse", json=body, timeout=(5, 120))
    response.raise_for_status()
    content = response.json()["output"]["message"]["content"]
    return "".join(block.get("text", "") for block in content)


class BedrockWorker(threading.Thread):
    """Takes prompts off `jobs` and puts ``(prompt, answer)`` on `results`, until it gets `None`.

    The provider is shared, so the worker (and any other thread) reuses cached keys; a failed
    job reports its error and the worker carries on with the next one.
    """

    def __init__(
        self,
        provider: WebIdentityCredentialProvider,
        jobs: queue.Queue[str | None],
        results: queue.Queue[tuple[str, str]],
        *,
        endpoint: str,
        model: str = DEFAULT_MODEL,
        session_factory: Callable[[], requests.Session] = requests.Session,
    ) -> None:
        super().__init__(name="bedrock-worker", daemon=True)
        self.provider = provider
        self.jobs = jobs
        self.results = results
        self.endpoint = endpoint
        self.model = model
        self._session_factory = session_factory

    def run(self) -> None:
        with self._session_factory() as session:
            session.auth = SigV4Auth(self.provider, region=self.provider.region, service="bedrock")
            while (prompt := self.jobs.get()) is not _STOP:
                try:
                    answer = converse(session, self.endpoint, self.model, prompt)
                except (LiterAuthError, requests.RequestException, ValueError, KeyError) as exc:
                    # report and keep serving: one bad job must not stop the worker
                    answer = f"error: {exc}"
                self.results.put((prompt, answer))


def run_jobs(
    provider: WebIdentityCredentialProvider, prompts: Sequence[str], *, endpoint: str, model: str
) -> None:
    """Hand `prompts` to a background worker and print the answers as they come."""
    jobs: queue.Queue[str | None] = queue.Queue()
    results: queue.Queue[tuple[str, str]] = queue.Queue()
    worker = BedrockWorker(provider, jobs, results, endpoint=endpoint, model=model)
    worker.start()
    for prompt in prompts:
        jobs.put(prompt)
    jobs.put(_STOP)
    for number in range(1, len(prompts) + 1):
        prompt, answer = results.get(timeout=300)
        print(f"job {number}: {prompt!r} -> {answer}")
    worker.join(timeout=30)


# -- the offline demo --------------------------------------------------------------------------


def _fake_bedrock(known_key: Callable[[str], bool]) -> http.server.ThreadingHTTPServer:
    """A Bedrock stand-in on 127.0.0.1: answers Converse calls that carry SigV4 with issued keys."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            prompt = json.loads(self.rfile.read(length))["messages"][0]["content"][0]["text"]
            auth = self.headers.get("Authorization", "")
            key_id = auth.partition("Credential=")[2].partition("/")[0]
            signed = auth.startswith("AWS4-HMAC-SHA256 ") and self.headers.get("X-Amz-Security-Token")
            body: dict[str, Any]
            if not signed or not known_key(key_id):
                status, body = 403, {"message": "The security token included in the request is invalid."}
            else:
                model = unquote(self.path.split("/")[2])
                text = f"(fake {model}) you asked {len(prompt)} characters' worth"
                message = {"role": "assistant", "content": [{"text": text}]}
                status, body = 200, {"output": {"message": message}}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)


def demo() -> int:
    """Run the worker against a local fake STS (FakeIdentityServer) and a Bedrock stand-in."""
    from literauth.testing import FakeIdentityServer

    with FakeIdentityServer() as sts, tempfile.TemporaryDirectory() as tmp:
        # What EKS injects into a pod whose service account is bound to an IAM role.
        environ = {
            "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/bedrock-worker",
            "AWS_WEB_IDENTITY_TOKEN_FILE": sts.sts.write_web_identity_token(pathlib.Path(tmp) / "token"),
            "AWS_REGION": "us-west-2",
            "AWS_ENDPOINT_URL_STS": sts.url,  # only for the demo: real pods use the regional STS
        }
        issued = {c.access_key_id.expose_secret() for c in sts.sts.issued_credentials}

        def known_key(key_id: str) -> bool:
            issued.update(c.access_key_id.expose_secret() for c in sts.sts.issued_credentials)
            return key_id in issued

        bedrock = _fake_bedrock(known_key)
        serving = threading.Thread(target=bedrock.serve_forever, daemon=True)
        serving.start()
        try:
            with WebIdentityCredentialProvider.from_env(environ) as provider:
                prompts = ["Why is the sky blue?", "Name three rivers.", "Say hello."]
                endpoint = f"http://127.0.0.1:{bedrock.server_address[1]}"
                run_jobs(provider, prompts, endpoint=endpoint, model=DEFAULT_MODEL)
                credentials = provider.resolve()
                print(f"role: {provider.role_arn} ({provider.session_name}, {provider.region})")
                print(f"STS calls: {sts.sts.request_count} for {len(prompts)} jobs")
                print(f"keys expire: {credentials.expires_at:%Y-%m-%d %H:%M:%S} UTC")
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
    parser.add_argument("prompts", nargs="*", default=["Say hello in one short sentence."])
    parser.add_argument("--demo", action="store_true", help="run offline against local fakes")
    parser.add_argument("--model", default=DEFAULT_MODEL, help=f"Bedrock model id (default {DEFAULT_MODEL})")
    parser.add_argument("--endpoint", help="Bedrock runtime URL (default: the region's endpoint)")
    args = parser.parse_args(argv)
    if args.demo:
        return demo()
    try:
        provider = WebIdentityCredentialProvider.from_env()  # build once, share with every thread
    except LiterAuthError as exc:
        return _cannot_run(f"{exc} (or run it offline with --demo)")
    with provider:
        endpoint = args.endpoint or bedrock_runtime_url(provider.region)
        run_jobs(provider, args.prompts, endpoint=endpoint, model=args.model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
