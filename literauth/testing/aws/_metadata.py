"""What the fake AWS metadata endpoints share: issuing temporary keys in their JSON, and faults."""

from __future__ import annotations

import json
import secrets
import string
import threading
from datetime import datetime
from typing import Any

from ...credentials import UTC, AwsCredentials
from ...secret import SecretString
from .._server import Endpoint, Fault, Refusal, Reply

__all__ = ["MetadataCredentialsEndpoint"]

_KEY_ID_ALPHABET = string.ascii_uppercase + "234567"


def _expiration(epoch: float) -> str:
    """IMDS's and the container agent's Expiration: whole seconds, ``Z``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class MetadataCredentialsEndpoint(Endpoint):
    """Base of the fakes answering ``{"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}``.

    Every answer issues new keys, kept in `issued_credentials`. `lifetime` (seconds, negative
    for keys already expired) sets their Expiration. Faults: `outage()`, `throttle()`,
    `black_hole()`, `serve_expired()`.
    """

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        self._issued: list[AwsCredentials] = []
        self._issued_lock = threading.Lock()

    def reset(self) -> None:
        """Also forget the keys issued."""
        super().reset()
        with self._issued_lock:
            self._issued.clear()

    @property
    def issued_credentials(self) -> list[AwsCredentials]:
        """The keys handed out, oldest first (with the expiry stated)."""
        with self._issued_lock:
            return list(self._issued)

    def credentials_fields(self, credentials: AwsCredentials) -> dict[str, object]:
        """The JSON fields of an answer carrying `credentials`; subclasses add their own."""
        assert credentials.session_token is not None and credentials.expires_at is not None
        return {
            "AccessKeyId": credentials.access_key_id.expose_secret(),
            "SecretAccessKey": credentials.secret_access_key.expose_secret(),
            "Token": credentials.session_token.expose_secret(),
            "Expiration": _expiration(credentials.expires_at.timestamp()),
        }

    def issue(self) -> Reply:
        """New keys valid for `lifetime` seconds from now, as a JSON answer."""
        key_id = "ASIA" + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(16))
        expires = int(self.now() + self.lifetime)
        credentials = AwsCredentials(
            SecretString(key_id), SecretString(secrets.token_urlsafe(30)),
            SecretString("IQoJb3JpZ2luX2VjE" + secrets.token_urlsafe(96)),
            datetime.fromtimestamp(expires, UTC),
        )
        with self._issued_lock:
            self._issued.append(credentials)
        return self.json(200, self.credentials_fields(credentials))

    @staticmethod
    def json(status: int, body: dict[str, object]) -> Reply:
        return Reply(status, json.dumps(body).encode(), content_type="application/json")

    def refusal_reply(self, refusal: Refusal, request: Any) -> Reply:
        """The agents' error shape: ``{"code", "message"}``."""
        return self.json(refusal.status, {"code": refusal.error, "message": refusal.description})

    # -- scripted trouble -------------------------------------------------------------------

    def outage(self, status: int = 500, *, times: int = 1) -> None:
        """Answer the next `times` requests with a server error."""
        self.fail(status, "", times=times)

    def throttle(self, retry_after: float | None = None, *, times: int = 1) -> None:
        """Answer the next `times` requests 429 (the agents throttle bursts from many processes)."""
        headers = {} if retry_after is None else {"Retry-After": str(int(retry_after))}
        self.fail(429, "", headers=headers, times=times)

    def black_hole(self, seconds: float = 30.0, *, times: int = 1) -> None:
        """Accept the next `times` connections and answer nothing for `seconds`, then drop them."""
        self.enqueue(*[Fault(hang=seconds, drop=True)] * times)

    def serve_expired(self, ago: float = 3600.0) -> None:
        """Hand out keys that expired `ago` seconds ago, as IMDS does during an outage."""
        self.lifetime = -ago

    # -- bodies for the campaigns ---------------------------------------------------------------

    def success_body(self) -> bytes:
        placeholder = AwsCredentials(SecretString("ASIAEXAMPLEEXAMPLE00"), SecretString("c2VjcmV0"),
                                     SecretString("dG9rZW4"), datetime.fromtimestamp(self.now() + 3600, UTC))
        return json.dumps(self.credentials_fields(placeholder)).encode()

    def no_token_body(self) -> bytes:
        fields = json.loads(self.success_body())
        del fields["SecretAccessKey"]
        return json.dumps(fields).encode()
