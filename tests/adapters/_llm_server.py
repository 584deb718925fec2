"""A fake LLM endpoint on 127.0.0.1 for the SDK adapter tests: records what arrives, answers in shape.

Built on `tests._api_server.ApiServer` (raw requests recorded, scripted answers first), it
adds HTTPS with the loopback CA of `literauth.testing` (azure-core refuses bearer tokens
over plain http), answers each SDK's call with a body that SDK parses (Gemini
`generateContent`, Anthropic messages, chat completions), and refuses chosen tokens with a
401 and a `WWW-Authenticate` challenge, optionally holding the refusals until several
requests have arrived so that they are rejected together.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING

from literauth.testing._tls import loopback_tls

from .._api_server import Answer, ApiServer, Seen

if TYPE_CHECKING:
    from typing_extensions import Self  # noqa: UP035 - Python 3.10 has no typing.Self

__all__ = ["INVALID_TOKEN", "LlmServer", "cae_challenge"]

INVALID_TOKEN = 'Bearer error="invalid_token", error_description="The access token is invalid"'
_HOLD = 10.0  # seconds a held refusal waits for the others at most


def cae_challenge(claims: str = '{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}') -> str:
    """A CAE `insufficient_claims` challenge as Entra ID-protected services send it."""
    import base64

    encoded = base64.urlsafe_b64encode(claims.encode()).decode().rstrip("=")
    return f'Bearer realm="", error="insufficient_claims", claims="{encoded}"'


def _body_for(seen: Seen) -> dict[str, object]:
    """What the SDK calling `seen.path` expects back."""
    path = seen.path
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


class LlmServer(ApiServer):
    """`with LlmServer(https=True) as llm:`; `llm.url`, `llm.tokens()`, `llm.refuse(token)`."""

    def __init__(self, *, https: bool = False) -> None:
        super().__init__()
        self.ca_bundle: str | None = None
        if https:
            tls = loopback_tls()
            self._httpd.socket = tls.context.wrap_socket(self._httpd.socket, server_side=True)
            self.ca_bundle = tls.ca_bundle
        self._refused: dict[str, tuple[str, threading.Barrier | None]] = {}
        self.responder = self._respond

    def __enter__(self) -> Self:
        super().__enter__()
        return self

    @property
    def url(self) -> str:
        scheme = "https" if self.ca_bundle else "http"
        return f"{scheme}://127.0.0.1:{self._httpd.server_address[1]}"

    def refuse(self, token: str, *, challenge: str = INVALID_TOKEN, together: int = 1) -> None:
        """Answer 401 with `challenge` to every request carrying `token`.

        With `together` > 1 each such refusal waits until that many requests carrying the
        token have arrived (at most 10 s), so they are all rejected at the same moment.
        """
        self._refused[token] = (challenge, threading.Barrier(together) if together > 1 else None)

    def tokens(self) -> list[str | None]:
        """The bearer token of each request received, in order (None: no bearer header)."""
        found: list[str | None] = []
        for seen in self.seen:
            auth = seen.header("Authorization") or ""
            found.append(auth[len("Bearer "):] if auth.startswith("Bearer ") else None)
        return found

    def _respond(self, seen: Seen) -> Answer:
        token = (seen.header("Authorization") or "").removeprefix("Bearer ")
        refusal = self._refused.get(token)
        if refusal is not None:
            challenge, together = refusal
            if together is not None:
                try:
                    together.wait(_HOLD)
                except threading.BrokenBarrierError:  # fewer came than expected: answer anyway
                    pass
            body = json.dumps({"error": {"code": "Unauthorized", "message": "token rejected"}}).encode()
            return Answer(401, body, {"Content-Type": "application/json", "WWW-Authenticate": challenge})
        return Answer(200, json.dumps(_body_for(seen)).encode(), {"Content-Type": "application/json"})
