"""A Bedrock runtime (and OpenAI-style) stand-in on 127.0.0.1 for the adapter tests.

Built on the suite's `ApiServer`, which records every request as received and recomputes
each SigV4 signature with botocore (an implementation independent of literauth's) from the
secret of the access key it names, answering 403 like AWS when it is wrong. This adds what
the SDKs expect back: Converse answers for boto3, Messages answers for `AnthropicBedrock`
(``/invoke`` and the event-stream ``/invoke-with-response-stream``), chat completions and
responses for openai, and a live key registry over the keys a `FakeIdentityServer` STS has issued.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from literauth import AwsCredentials

from .._api_server import Answer, ApiServer, Seen

MODEL = "anthropic.claude-3-haiku-20240307-v1:0"
REGION = "us-east-1"


class Keys(Mapping[str, tuple[str, "str | None"]]):
    """Access key -> (secret, session token), read live from `source()` on every lookup."""

    def __init__(self, source: Callable[[], list[AwsCredentials]]) -> None:
        self._source = source

    def _all(self) -> dict[str, tuple[str, str | None]]:
        return {
            c.access_key_id.expose_secret(): (
                c.secret_access_key.expose_secret(),
                None if c.session_token is None else c.session_token.expose_secret(),
            )
            for c in self._source()
        }

    def __getitem__(self, key: str) -> tuple[str, str | None]:
        return self._all()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


def sts_keys(idp: Any) -> Keys:
    """The keys a `FakeIdentityServer`'s STS has handed out so far."""
    return Keys(lambda: [
        AwsCredentials(c.access_key_id, c.secret_access_key, c.session_token) for c in idp.sts.issued_credentials
    ])


def _json(body: Any) -> Answer:
    return Answer(200, json.dumps(body).encode(), {"Content-Type": "application/json"})


def _converse(seen: Seen) -> Answer:
    prompt = json.loads(seen.body)["messages"][0]["content"][0]["text"]
    return _json({
        "output": {"message": {"role": "assistant", "content": [{"text": f"echo: {prompt}"}]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 1, "outputTokens": 2, "totalTokens": 3},
        "metrics": {"latencyMs": 1},
    })


def _message(text: str) -> dict[str, Any]:
    return {
        "id": "msg_fake", "type": "message", "role": "assistant", "model": MODEL,
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 1, "output_tokens": 2},
    }


def _event_frame(payload: dict[str, Any]) -> bytes:
    """One AWS event-stream message (`chunk` event) carrying `payload` as base64 JSON bytes."""
    headers = b""
    for name, value in ((":event-type", "chunk"), (":content-type", "application/json"), (":message-type", "event")):
        raw = value.encode()
        headers += bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(raw)) + raw
    body = json.dumps({"bytes": base64.b64encode(json.dumps(payload).encode()).decode()}).encode()
    total = 12 + len(headers) + len(body) + 4
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    message = prelude + headers + body
    return message + struct.pack(">I", binascii.crc32(message))


def _stream(text: str) -> Answer:
    start = _message("")
    start["content"], start["stop_reason"] = [], None
    events = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
         "usage": {"output_tokens": 2}},
        {"type": "message_stop"},
    ]
    body = b"".join(_event_frame(event) for event in events)
    return Answer(200, body, {"Content-Type": "application/vnd.amazon.eventstream"})


def _chat_completion(seen: Seen) -> Answer:
    return _json({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "hello from the fake"}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    })


def _response(seen: Seen) -> Answer:
    return _json({
        "id": "resp_fake", "object": "response", "created_at": 0, "model": "gpt-oss-20b", "status": "completed",
        "output": [{"type": "message", "id": "msg_fake", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": "hello from vertex", "annotations": []}]}],
    })


def respond(seen: Seen) -> Answer:
    """What the real service answers to a correctly authenticated request."""
    path = seen.path
    if path.endswith("/converse"):
        return _converse(seen)
    if path.endswith("/invoke-with-response-stream"):
        return _stream("streamed hello")
    if path.endswith("/invoke"):
        return _json(_message("hello from bedrock"))
    if path.endswith("/chat/completions"):
        return _chat_completion(seen)
    if path.endswith("/responses"):
        return _response(seen)
    return Answer()  # any other path: 200 {"ok": true}


class AwsServer(ApiServer):
    """`ApiServer` answering like Bedrock runtime and an OpenAI endpoint; set `aws_keys` to check SigV4."""

    def __init__(self, keys: Mapping[str, tuple[str, str | None]] | None = None) -> None:
        super().__init__()
        self.aws_keys = keys  # type: ignore[assignment]  # any mapping does
        self.responder = respond

    def access_keys(self) -> list[str]:
        """The access key each request was signed with, in order (`None` for an unsigned one)."""
        keys = []
        for seen in self.seen:
            auth = seen.header("Authorization") or ""
            keys.append(auth.split("Credential=", 1)[1].split("/", 1)[0] if "Credential=" in auth else None)
        return keys

    def bearers(self) -> list[str]:
        return [(s.header("Authorization") or "").removeprefix("Bearer ") for s in self.seen]


class RejectOnly:
    """A `bearer_tokens` for `ApiServer`: every token passes but the ones in `rejected`."""

    def __init__(self, *rejected: str) -> None:
        self.rejected = set(rejected)

    def __contains__(self, token: object) -> bool:
        return token not in self.rejected
