"""`FakeLlmServer`: a stand-in for the LLM APIs the SDK adapters call, on 127.0.0.1.

It records every request (what token arrived, which path) and answers each SDK's call in
the shape that SDK parses: Gemini `generateContent`, Anthropic messages (`rawPredict` on
Vertex), chat completions (Azure OpenAI, azure-ai-inference). It can refuse chosen tokens
with a 401 and a `WWW-Authenticate` challenge, holding refusals until several requests have
arrived so that they are rejected together. HTTPS uses `FakeIdentityServer`'s loopback CA
(azure-core sends bearer tokens over TLS only). Tests, examples and the README run SDKs
against it offline.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ._server import Endpoint, RecordedRequest, Reply, Route, ServerCore

if TYPE_CHECKING:
    from typing_extensions import Self  # noqa: UP035 - Python 3.10 has no typing.Self

__all__ = ["INVALID_TOKEN", "FakeLlmServer", "LlmEndpoint", "cae_challenge"]

#: The challenge a plain token rejection carries.
INVALID_TOKEN = 'Bearer error="invalid_token", error_description="The access token is invalid"'
_HOLD = 10.0  # seconds a held refusal waits for the others at most
_ANY = re.compile(r"/.*")


def cae_challenge(claims: str = '{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}') -> str:
    """A continuous-access-evaluation `insufficient_claims` challenge, as Entra ID services send it."""
    encoded = base64.urlsafe_b64encode(claims.encode()).decode().rstrip("=")
    return f'Bearer realm="", error="insufficient_claims", claims="{encoded}"'


def _answer_for(path: str) -> dict[str, object]:
    """What the SDK calling `path` parses as a success."""
    if path.endswith(":generateContent"):
        return {"candidates": [{"content": {"role": "model", "parts": [{"text": "fake gemini says hi"}]},
                                "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 4, "totalTokenCount": 5}}
    if path.endswith((":rawPredict", "/messages")):
        return {"id": "msg_fake", "type": "message", "role": "assistant", "model": "claude-fake",
                "content": [{"type": "text", "text": "fake claude says hi"}], "stop_reason": "end_turn",
                "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 4}}
    if path.endswith("/chat/completions"):
        return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": "fake",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "fake chat says hi"}}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 4, "total_tokens": 5}}
    return {"ok": True}


class LlmEndpoint(Endpoint):
    """Every path, any method: refusals first, else the answer the path's SDK expects."""

    name = "llm"
    routes = (Route(frozenset({"GET", "POST", "PUT", "DELETE"}), _ANY),)

    def __init__(self, server: ServerCore) -> None:
        super().__init__(server)
        self._refused: dict[str | None, tuple[str, threading.Barrier | None]] = {}

    def refuse(self, token: str | None = None, *, challenge: str = INVALID_TOKEN, together: int = 1) -> None:
        """Answer 401 with `challenge` to requests carrying `token` (None: every request).

        With `together` > 1 each refusal waits until that many have arrived (10 s at most).
        """
        with self._lock:
            self._refused[token] = (challenge, threading.Barrier(together) if together > 1 else None)

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._refused.clear()

    def respond(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        token = bearer_of(request)
        with self._lock:
            refusal = self._refused.get(token) or self._refused.get(None)
        if refusal is None:
            return Reply(200, json.dumps(_answer_for(request.path)).encode())
        challenge, together = refusal
        if together is not None:
            try:
                together.wait(_HOLD)
            except threading.BrokenBarrierError:  # fewer came than expected: answer anyway
                pass
        body = json.dumps({"error": {"code": "Unauthorized", "message": "the access token was rejected"}})
        return Reply(401, body.encode(), {"WWW-Authenticate": challenge})


def bearer_of(request: RecordedRequest) -> str | None:
    """The bearer token `request` carried, or None."""
    auth = request.header("Authorization") or ""
    return auth[len("Bearer "):] if auth.startswith("Bearer ") else None


class FakeLlmServer(ServerCore):
    """`with FakeLlmServer() as llm:` then point an SDK's base URL at `llm.url`.

    `requests` and `tokens()` say what arrived; `refuse()` rejects tokens. `https=True`
    serves HTTPS with the loopback CA (`ca_bundle` is its PEM file; needs `cryptography`).
    """

    def __init__(self, *, https: bool = False) -> None:
        tls = None
        if https:
            from ._tls import loopback_tls

            tls = loopback_tls()
        super().__init__({"llm": LlmEndpoint}, ssl_context=None if tls is None else tls.context)
        #: PEM file of the CA that signed the HTTPS certificate; `None` in plain-HTTP mode.
        self.ca_bundle: str | None = None if tls is None else tls.ca_bundle

    @property
    def llm(self) -> LlmEndpoint:
        endpoint = self.endpoints["llm"]
        assert isinstance(endpoint, LlmEndpoint)
        return endpoint

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in order."""
        return self.llm.requests

    def tokens(self) -> list[str | None]:
        """The bearer token of each request received, in order (None: no bearer header)."""
        return [bearer_of(request) for request in self.llm.requests]

    def refuse(self, token: str | None = None, *, challenge: str = INVALID_TOKEN, together: int = 1) -> None:
        """See `LlmEndpoint.refuse`."""
        self.llm.refuse(token, challenge=challenge, together=together)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
