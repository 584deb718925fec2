"""Fake EC2 instance metadata service (IMDSv2), as it serves an instance profile's keys.

``PUT /latest/api/token`` needs ``X-aws-ec2-metadata-token-ttl-seconds`` (1-21600, else 400)
and answers a session token as text; the GETs need a live token in
``X-aws-ec2-metadata-token`` (401 without, or once it expired on the server's clock) unless
`imdsv1_allowed`. The role listing names `role_name` (404 when None), and
``.../security-credentials/<role>`` answers its keys.
"""

from __future__ import annotations

import collections
import os
import re
import secrets
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ...aws.instance_metadata import (
    ROLE_PATH,
    TOKEN_HEADER,
    TOKEN_PATH,
    TTL_HEADER,
    InstanceMetadataCredentialsProvider,
)
from ...credentials import UTC, AwsCredentials
from ...secret import SecretString
from .._server import Fault, RecordedRequest, Refusal, Reply, Route
from ._metadata import MetadataCredentialsEndpoint

__all__ = ["DEFAULT_ROLE", "InstanceMetadataEndpoint"]

DEFAULT_ROLE = "literauth-ec2-role"
MAX_TTL = 21600


class InstanceMetadataEndpoint(MetadataCredentialsEndpoint):
    """IMDSv2's token and IAM credentials paths.

    Settings (restored by `reset()`): `role_name` (None: no instance profile), `imdsv1_allowed`,
    `token_status` (an HTTP status to refuse every session token with, as an IMDSv1-only
    service would; None serves them). `issued_tokens` holds the session tokens handed out;
    `expire_session_tokens()` makes IMDS forget them. Faults as in `MetadataCredentialsEndpoint`, for
    the keys requests; `enqueue_session()` scripts the session steps, `black_hole()` stalls both.
    """

    name = "aws_imds"
    routes = (Route(frozenset({"PUT"}), TOKEN_PATH), Route(frozenset({"GET"}), ROLE_PATH),
              Route(frozenset({"GET"}), re.compile(re.escape(ROLE_PATH) + r"[^/]+")))
    provider_extends_expired = True

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        self._tokens: dict[str, float] = {}  # session token -> when IMDS forgets it
        self._tokens_lock = threading.Lock()
        self._session_faults: collections.deque[Fault] = collections.deque()
        self._settings()

    # -- faults: `enqueue()` (and `fail()`, `outage()`...) meet the keys requests ----------------

    def enqueue_session(self, *faults: Fault) -> None:
        """Serve these faults, one per request, to the session steps (the token PUT, the role listing)."""
        with self._lock:
            self._session_faults.extend(faults)

    def black_hole(self, seconds: float = 30.0, *, times: int = 1) -> None:
        """Stall the next `times` requests of either kind for `seconds`, then drop them."""
        super().black_hole(seconds, times=times)
        self.enqueue_session(*[Fault(hang=seconds, drop=True)] * times)

    def clear_faults(self) -> None:
        super().clear_faults()
        with self._lock:
            self._session_faults.clear()

    def _record(self, request: RecordedRequest) -> Fault | None:
        """Faults queued by `enqueue()` meet only keys requests; `enqueue_session()` the steps before."""
        if self.is_credential_request(request.method, request.path):
            return super()._record(request)
        with self._lock:
            self._requests.append(request)
            return self._session_faults.popleft() if self._session_faults else None

    def _settings(self) -> None:
        self.role_name: str | None = DEFAULT_ROLE
        self.imdsv1_allowed = False
        self.token_status: int | None = None

    def reset(self) -> None:
        """Also forget session tokens and session faults, and restore the settings."""
        super().reset()
        with self._lock:
            self._session_faults.clear()
        with self._tokens_lock:
            self._tokens.clear()
        self._settings()

    @property
    def issued_tokens(self) -> list[SecretString]:
        """The session tokens handed out (live or not), oldest first."""
        with self._tokens_lock:
            return [SecretString(token) for token in self._tokens]

    def expire_session_tokens(self) -> None:
        """Forget every session token at once, as a restarted IMDS does."""
        with self._tokens_lock:
            self._tokens = dict.fromkeys(self._tokens, 0.0)

    def is_credential_request(self, method: str, path: str) -> bool:
        """Only the GET of a role's keys; the session token and the role listing are steps before it."""
        return method == "GET" and path.startswith(ROLE_PATH) and len(path) > len(ROLE_PATH)

    def respond(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        if request.method == "PUT":
            return self._new_token(request)
        self._check_token(request)
        if self.role_name is None:
            raise Refusal("NotFound", "404 - Not Found", status=404)
        if request.path == ROLE_PATH:
            return Reply(200, self.role_name.encode(), content_type="text/plain")
        if request.path != ROLE_PATH + self.role_name:
            raise Refusal("NotFound", "404 - Not Found", status=404)
        return self.issue()

    def refusal_reply(self, refusal: Refusal, request: Any) -> Reply:
        """IMDS answers errors as short text (an HTML page for some)."""
        return Reply(refusal.status, refusal.description.encode(), content_type="text/plain")

    def _new_token(self, request: RecordedRequest) -> Reply:
        if self.token_status is not None:
            raise Refusal("Forbidden", "Forbidden", status=self.token_status)
        if request.header("X-Forwarded-For") is not None:
            raise Refusal("Forbidden", "Forbidden", status=403)
        ttl = (request.header(TTL_HEADER) or "").strip()
        if not ttl.isdigit() or not 1 <= int(ttl) <= MAX_TTL:
            raise Refusal("BadRequest", "400 - Missing or Invalid Parameters", status=400)
        token = "AQAEA" + secrets.token_urlsafe(40)
        with self._tokens_lock:
            self._tokens[token] = self.now() + int(ttl)
        return Reply(200, token.encode(), headers={TTL_HEADER: ttl}, content_type="text/plain")

    def _check_token(self, request: RecordedRequest) -> None:
        token = request.header(TOKEN_HEADER)
        if token is None and self.imdsv1_allowed:
            return
        with self._tokens_lock:
            until = self._tokens.get(token or "")
        if until is None or self.now() >= until:
            raise Refusal("Unauthorized", "401 - Unauthorized", status=401)

    def credentials_fields(self, credentials: AwsCredentials) -> dict[str, object]:
        now = datetime.fromtimestamp(self.now(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"Code": "Success", "LastUpdated": now, "Type": "AWS-HMAC", **super().credentials_fields(credentials)}

    def environ(self, directory: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """``AWS_EC2_METADATA_SERVICE_ENDPOINT`` pointed at this server (botocore reads it too)."""
        return {"AWS_EC2_METADATA_SERVICE_ENDPOINT": self.server.url + "/"}

    def make_provider(self, open_session: bool = True, **options: Any) -> InstanceMetadataCredentialsProvider:
        """A provider for this server; with `open_session` it has probed already (token and role known).

        Then each fetch is the one credential request, which is what the fault matrix counts.
        """
        options.setdefault("endpoint", self.server.url)
        provider = InstanceMetadataCredentialsProvider(**options)
        if open_session:
            provider.probe(5.0)
        return provider
