"""What the boto3 and httpx adapters cost per call, and how many token requests a stampede makes.

    python benchmarks/adapters_aws_httpx.py            # a few seconds
    python benchmarks/adapters_aws_httpx.py --quick    # fewer rounds; exit 1 if a count target fails

- boto3: median time of one `bedrock-runtime` `converse` call (serialise, sign, parse; the
  send answered in-process by a `before-send` handler, so no socket time) with
  `boto3_session(literauth provider)` against boto3's own `AssumeRoleWithWebIdentity`
  provider, both fed by the same fake STS; and the credential step alone
  (`get_frozen_credentials()`), which is where the two differ.
- httpx / httpx2: median time of one POST through a `MockTransport` with no auth, with
  `BearerAuth` and with `SigV4Auth` (a 1 KiB body): the adapters' overhead per request.
- stampede: 32 threads make their first call at once through one SDK client, right after the
  provider's cache was dropped, with 100 ms of identity-provider latency: token requests
  counted at the fake identity provider (target: exactly 1 for each SDK).

Times depend on the machine and are only reported; the counts decide the exit status.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
REGION = "us-east-1"
THREADS = 32
LATENCY = 0.1  # seconds the fake identity provider waits before answering, in the stampede
BODY = json.dumps({"messages": [{"role": "user", "content": "x" * 990}]}).encode()
CONVERSE = json.dumps({
    "output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}}, "stopReason": "end_turn",
    "usage": {"inputTokens": 1, "outputTokens": 1, "totalTokens": 2}, "metrics": {"latencyMs": 1},
}).encode()
CHAT = json.dumps({
    "id": "c", "object": "chat.completion", "created": 0, "model": "m",
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
}).encode()
MESSAGE = json.dumps({
    "id": "m", "type": "message", "role": "assistant", "model": MODEL, "stop_reason": "end_turn",
    "content": [{"type": "text", "text": "ok"}], "usage": {"input_tokens": 1, "output_tokens": 1},
}).encode()


def _medians_us(calls: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median microseconds per call of each of `calls`, measured round-robin so that a busy
    machine slows them all alike; a few unmeasured warm-up calls first."""
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(min(20, rounds)):
        for call in calls.values():
            call()
    for _ in range(rounds):
        for name, call in calls.items():
            start = time.perf_counter_ns()
            call()
            samples[name].append((time.perf_counter_ns() - start) / 1000)
    return {name: statistics.median(values) for name, values in samples.items()}


def _stampede(call: Callable[[], object]) -> None:
    """`THREADS` threads run `call` once, released together; raises the first failure."""
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def worker() -> None:
        start.wait()
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    if errors:
        raise errors[0]


# -- boto3 ----------------------------------------------------------------------------------------


def _answer_in_process(client: Any) -> Any:
    """Answer every send of a botocore client with a canned Converse reply, no socket."""
    from botocore.awsrequest import AWSResponse

    class _Raw:
        def stream(self, **kwargs: Any) -> Iterator[bytes]:
            yield CONVERSE

    def reply(request: Any, **kwargs: Any) -> Any:
        return AWSResponse(request.url, 200, {"Content-Type": "application/json"}, _Raw())

    client.meta.events.register("before-send.bedrock-runtime", reply)
    return client


def _converse(client: Any) -> Any:
    return client.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": "hi"}]}])


@contextlib.contextmanager
def _botocore_environment(idp: Any, workdir: str) -> Iterator[None]:
    """The variables EKS injects, pointed at the fake STS: what boto3's own provider reads."""
    missing = os.path.join(workdir, "no-such-aws-file")
    token_file = os.path.join(workdir, "botocore-web-identity-token")
    with open(token_file, "w", encoding="ascii") as handle:
        handle.write(idp.sts.issue_web_identity_token())
    values = {
        **idp.sts.environ(workdir), "AWS_WEB_IDENTITY_TOKEN_FILE": token_file, "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": missing, "AWS_SHARED_CREDENTIALS_FILE": missing, "AWS_EC2_METADATA_DISABLED": "true",
    }
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def boto3_overhead(idp: Any, workdir: str, rounds: int) -> dict[str, Any]:
    import boto3

    from literauth.adapters.aws import boto3_session

    with idp.sts_provider() as provider, _botocore_environment(idp, workdir):
        session = boto3_session(provider)
        ours, ours_creds = _answer_in_process(session.client("bedrock-runtime")), session.get_credentials()
        native = boto3.Session()
        native_creds = native.get_credentials()
        assert native_creds.method == "assume-role-with-web-identity", native_creds.method
        assert session.get_credentials().method == "literauth"  # the environment does not reach it
        theirs = _answer_in_process(native.client("bedrock-runtime"))
        return {
            "converse_us": _medians_us({"literauth": lambda: _converse(ours),
                                        "botocore": lambda: _converse(theirs)}, rounds),
            "credentials_us": _medians_us({"literauth": ours_creds.get_frozen_credentials,
                                           "botocore": native_creds.get_frozen_credentials}, rounds * 10),
        }


# -- httpx / httpx2 ---------------------------------------------------------------------------------


def httpx_overhead(idp: Any, rounds: int) -> dict[str, Any]:
    import httpx
    import httpx2

    from literauth.adapters.httpx import BearerAuth, SigV4Auth

    results: dict[str, Any] = {}
    with idp.azure_provider() as entra, idp.sts_provider() as aws:
        for lib in (httpx, httpx2):
            transport = lib.MockTransport(lambda request, lib=lib: lib.Response(200, content=b"{}"))
            url = f"https://bedrock-runtime.{REGION}.amazonaws.com/model/{MODEL}/converse"
            auths = {"none": None, "BearerAuth": BearerAuth(entra), "SigV4Auth": SigV4Auth(aws, region=REGION)}
            clients = {name: lib.Client(auth=auth, transport=transport) for name, auth in auths.items()}
            results[lib.__name__] = _medians_us(
                {name: functools.partial(client.post, url, content=BODY) for name, client in clients.items()}, rounds)
            for client in clients.values():
                client.close()
    return results


# -- 32-thread stampedes through the SDKs ---------------------------------------------------------------


def stampedes(idp: Any) -> dict[str, int]:
    """Token requests for 32 first calls at once, per SDK, right after the cache was dropped."""
    import anthropic
    import httpx2
    import openai

    from literauth.adapters.aws import boto3_session
    from literauth.adapters.httpx import BearerAuth, SigV4Auth

    counts: dict[str, int] = {}

    def run(name: str, endpoint: Any, provider: Any, call: Callable[[], object]) -> None:
        call()  # warm: clients built, first credential cached
        provider.invalidate()
        endpoint.latency = LATENCY
        before = endpoint.request_count
        try:
            _stampede(call)
        finally:
            endpoint.latency = 0.0
        counts[name] = endpoint.request_count - before

    with idp.sts_provider() as aws:
        client = _answer_in_process(boto3_session(aws).client("bedrock-runtime"))
        run("boto3 (boto3_session)", idp.sts, aws, lambda: _converse(client))
    with idp.sts_provider() as aws:
        transport = httpx2.MockTransport(lambda request: httpx2.Response(200, content=MESSAGE))
        with anthropic.AnthropicBedrock(
            api_key="signed-by-literauth", aws_region=REGION,
            http_client=httpx2.Client(auth=SigV4Auth(aws, region=REGION), transport=transport),
        ) as claude:
            run("AnthropicBedrock (httpx2 + SigV4Auth)", idp.sts, aws, lambda: claude.messages.create(
                model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "hi"}]))
    with idp.azure_provider() as entra:
        transport = httpx2.MockTransport(lambda request: httpx2.Response(200, content=CHAT))
        with openai.OpenAI(api_key="replaced", base_url="https://gateway.example.com/v1",
                           http_client=httpx2.Client(auth=BearerAuth(entra), transport=transport)) as gpt:
            run("openai (httpx2 + BearerAuth)", idp.azure, entra, lambda: gpt.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}]))
    return counts


# -- report ------------------------------------------------------------------------------------------


def render(results: dict[str, Any]) -> str:
    call, creds = results["boto3"]["converse_us"], results["boto3"]["credentials_us"]
    lines = [
        "| path | literauth | botocore's own web identity |",
        "|---|---|---|",
        f"| boto3 `converse`, per call (µs) | {call['literauth']:.0f} | {call['botocore']:.0f} |",
        f"| `get_frozen_credentials()` (µs) | {creds['literauth']:.1f} | {creds['botocore']:.1f} |",
        "",
        "| client | no auth (µs) | BearerAuth (µs) | SigV4Auth (µs) |",
        "|---|---|---|---|",
    ]
    for lib, row in results["httpx"].items():
        lines.append(f"| {lib} | {row['none']:.0f} | {row['BearerAuth']:.0f} | {row['SigV4Auth']:.0f} |")
    lines += ["", f"| {THREADS}-thread stampede through | token requests (target 1) |", "|---|---|"]
    lines += [f"| {name} | {count} |" for name, count in results["stampede"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--output", help="also write the results as JSON to this file")
    args = parser.parse_args(argv)
    rounds = 50 if args.quick else 400

    from literauth.testing import FakeIdentityServer

    with FakeIdentityServer() as idp, tempfile.TemporaryDirectory() as workdir:
        results = {
            "boto3": boto3_overhead(idp, workdir, rounds),
            "httpx": httpx_overhead(idp, rounds),
            "stampede": stampedes(idp),
        }
    print(render(results))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
    return 0 if all(count == 1 for count in results["stampede"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
