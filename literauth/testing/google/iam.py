"""Fake IAM Credentials `generateAccessToken`: impersonated service-account tokens.

It accepts a bearer only if a Google fake on the same server issued it (STS, the OAuth
token endpoint, itself: chained impersonation) or it came from `issue_source_token()`;
checks the target and the delegates exist, the scopes and the lifetime; and answers
``{"accessToken", "expireTime"}`` with an absolute RFC 3339 time, or Google's API error
``{"error": {"code", "message", "status"}}``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from ...credentials import UTC
from .._oauth import b64url
from .._scratch import ScratchFiles
from .._server import (
    Endpoint,
    Fault,
    RecordedRequest,
    Refusal,
    Reply,
    Route,
    ServerCore,
)
from .sts import GoogleStsEndpoint

if TYPE_CHECKING:
    from ...google.impersonated import ImpersonatedCredentialProvider

__all__ = ["GoogleIamEndpoint"]

TARGET = "literauth-target@literauth-test.iam.gserviceaccount.com"
DELEGATE = "literauth-delegate@literauth-test.iam.gserviceaccount.com"
MAX_LIFETIME = 3600  # without the org policy that allows 12 hours
SCOPE_PREFIX = "https://www.googleapis.com/auth/"
_PATH = re.compile(r"/v1/projects/(?P<project>[^/]+)/serviceAccounts/(?P<account>[^/:]+):generateAccessToken")
SOURCE_PATH = "/v1/impersonation-source/token"  # the private STS that `environ()`'s source uses
_LIFETIME = re.compile(r"(\d+)s")
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND"}


def _error(status: int, message: str) -> Refusal:
    return Refusal(_STATUS[status], message, status=status)


class GoogleIamEndpoint(Endpoint):
    """``POST /v1/projects/-/serviceAccounts/{sa}:generateAccessToken`` for known service accounts.

    `service_accounts` are the targets (and delegates) it knows; `TARGET` and `DELEGATE`
    out of the box. `max_lifetime` is 3600 s unless a test raises it, as the org policy would.
    """

    name = "google_iam"
    routes: ClassVar[tuple[Route, ...]] = (Route(frozenset({"POST"}), _PATH), Route(frozenset({"POST"}), SOURCE_PATH))

    def __init__(self, server: ServerCore) -> None:
        super().__init__(server)
        # The source of `environ()`'s file federates through a private STS of its own, so
        # this endpoint's counters and faults stay one request per impersonated token.
        self._source_sts = _SourceSts(server)
        self.source_requests: list[RecordedRequest] = []
        self.service_accounts = {TARGET, DELEGATE}
        self.max_lifetime = MAX_LIFETIME
        self._sources: set[str] = set()
        self._issued: list[str] = []
        self._scratch = ScratchFiles(self, "literauth-google-iam-")

    @property
    def base_url(self) -> str:
        """The IAM Credentials base URL: pass it as `iam_endpoint`."""
        return self.server.url

    def generate_url(self, target: str = TARGET) -> str:
        """The full generateAccessToken URL for `target`."""
        return f"{self.server.url}/v1/projects/-/serviceAccounts/{target}:generateAccessToken"

    def issue_source_token(self) -> str:
        """A bearer token this endpoint accepts as the caller's (a stand-in for any Google token)."""
        token = "ya29.source-fake." + secrets.token_urlsafe(40)
        with self._lock:
            self._sources.add(token)
        return token

    @property
    def issued_tokens(self) -> list[str]:
        """The impersonated tokens handed out, oldest first."""
        with self._lock:
            return list(self._issued)

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._issued.clear()
            self.source_requests.clear()
        self._source_sts.reset()
        self.max_lifetime = MAX_LIFETIME

    def _record(self, request: RecordedRequest) -> Fault | None:
        if request.path == SOURCE_PATH:  # the private STS: not counted, never faulted
            with self._lock:
                self.source_requests.append(request)
            return None
        return super()._record(request)

    # -- what a registered fake declares ------------------------------------------------

    def make_provider(self, **options: Any) -> ImpersonatedCredentialProvider:
        """A provider impersonating `TARGET` with a source token issued here (one request per fetch)."""
        from ...google.impersonated import ImpersonatedCredentialProvider
        from ...provider import StaticTokenProvider

        source = StaticTokenProvider(self.issue_source_token())
        options.setdefault("iam_endpoint", self.base_url)
        return ImpersonatedCredentialProvider(source, TARGET, **options)

    def impersonation_info(self, source_credentials: Mapping[str, Any], target: str = TARGET) -> dict[str, Any]:
        """An ``impersonated_service_account`` file's content pointed here."""
        return {
            "type": "impersonated_service_account",
            "service_account_impersonation_url": self.generate_url(target),
            "delegates": [],
            "source_credentials": dict(source_credentials),
        }

    def environ(self, directory: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """`GOOGLE_APPLICATION_CREDENTIALS`: an impersonation file whose source federates through the STS fake."""
        sts = self._source_sts
        folder = os.fspath(directory) if directory is not None else None
        token = None if folder is None else os.path.join(folder, "google-impersonation-subject-token")
        source = sts.config({"file": sts.write_subject_token(token), "format": {"type": "text"}})
        path = os.path.join(folder, "impersonated.json") if folder else self._scratch.new_path("impersonated", ".json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self.impersonation_info(source), handle)
        return {"GOOGLE_APPLICATION_CREDENTIALS": path}

    def success_body(self) -> bytes:
        placeholder = ".".join(b64url(json.dumps(part).encode()) for part in ({"typ": "JWT"}, {}))
        return json.dumps({"accessToken": f"{placeholder}.{b64url(b'sig')}",
                           "expireTime": _stamp(self.now() + self.default_lifetime)}).encode()

    def no_token_body(self) -> bytes:
        return json.dumps({"expireTime": _stamp(self.now() + self.default_lifetime)}).encode()

    # -- serving -----------------------------------------------------------------------------

    def refusal_reply(self, refusal: Refusal, request: RecordedRequest | None) -> Reply:
        body = {"error": {"code": refusal.status, "message": refusal.description, "status": refusal.error}}
        return Reply(refusal.status, json.dumps(body).encode(), content_type="application/json; charset=UTF-8")

    def respond(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        if request.path == SOURCE_PATH:
            return self._source_sts.answer(request, form)
        match = _PATH.fullmatch(request.path)
        assert match is not None  # routed by the same pattern
        bearer = (request.header("Authorization") or "").removeprefix("Bearer ")
        if not self._knows(bearer):
            raise _error(401, "Request had invalid authentication credentials. Expected OAuth 2 access token, "
                              "login cookie or other valid authentication credential.")
        account = match.group("account")
        body = request.json
        if not isinstance(body, dict):
            raise _error(400, "Invalid JSON payload received.")
        if account not in self.service_accounts:
            raise _error(404, f"Not found; Gaia id not found for email {account}")
        scopes = body.get("scope")
        if not isinstance(scopes, list) or not scopes or not all(
            isinstance(s, str) and s.startswith(SCOPE_PREFIX) for s in scopes
        ):
            raise _error(400, "Scope required.")
        for delegate in body.get("delegates") or []:
            email = str(delegate).rsplit("/", 1)[-1]
            if email not in self.service_accounts:
                raise _error(404, f"Not found; Gaia id not found for delegate {email[:80]}")
        asked = _LIFETIME.fullmatch(str(body.get("lifetime", "3600s")))
        lifetime = int(asked.group(1)) if asked else 0
        if not 0 < lifetime <= self.max_lifetime:
            raise _error(400, f"Lifetime must be between 1s and {self.max_lifetime}s.")
        token = "ya29.c.iam-fake." + secrets.token_urlsafe(48)
        with self._lock:
            self._issued.append(token)
        seconds = self.lifetime_override if self.lifetime_override is not None else lifetime
        reply = {"accessToken": token, "expireTime": _stamp(self.now() + seconds)}
        return Reply(200, json.dumps(reply).encode(), content_type="application/json; charset=UTF-8")

    def _knows(self, bearer: str) -> bool:
        """Whether a Google fake on this server issued `bearer` (or `issue_source_token()` did)."""
        if not bearer:
            return False
        with self._lock:
            if bearer in self._sources:
                return True
        if bearer in self._source_sts.issued_tokens:
            return True
        for endpoint in self.server.endpoints.values():
            if bearer in getattr(endpoint, "issued_tokens", ()):
                return True
        return False


class _SourceSts(GoogleStsEndpoint):
    """The STS exchange on `SOURCE_PATH`, served through `GoogleIamEndpoint` (not a registered fake)."""

    path = SOURCE_PATH
    routes = GoogleStsEndpoint.token_route(SOURCE_PATH)


def _stamp(epoch: float) -> str:
    """RFC 3339 in UTC without a fraction, as IAM answers (google-auth parses no other form)."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
