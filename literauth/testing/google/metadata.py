"""Fake Google metadata server (GCE, GKE, Cloud Run): tokens, the account's e-mail, the project id.

It checks what the real server checks: ``Metadata-Flavor: Google`` on every request (403
otherwise) and no ``X-Forwarded-For`` (a proxied request is refused); and it answers as the
real server does: every answer carries ``Metadata-Flavor: Google``, values are plain text,
the token is ``{"access_token", "expires_in", "token_type"}``. The fake instance has a
``default`` account and a second named one (`add_account()` adds more). Faults:
`outage()` (5xx), `throttle()` (429), `black_hole()` (accepts, never answers). Standalone
stand-ins for "no metadata server here": `refused_port()` and `BlackHole`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
from collections.abc import Mapping
from typing import Any, ClassVar

from ...google.compute_engine import (
    METADATA_FLAVOR,
    METADATA_PATH,
    ComputeEngineCredentialProvider,
)
from .._oauth import JSON_TYPE, b64url
from .._server import Endpoint, Fault, RecordedRequest, Refusal, Reply, Route
from .._sockets import (  # the stand-ins' home; kept importable from here
    BlackHole,
    refused_port,
)

__all__ = ["BlackHole", "GoogleMetadataEndpoint", "MetadataAccount", "refused_port"]

_TEXT = "application/text"  # what the real server labels plain values with
_ACCOUNT = re.compile(re.escape(METADATA_PATH) + r"/instance/service-accounts/([^/]+)/(token|email|scopes|identity)?")
_DEFAULT_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",
                   "https://www.googleapis.com/auth/userinfo.email")


@dataclasses.dataclass(frozen=True)
class MetadataAccount:
    """A service account attached to the fake instance."""

    email: str
    scopes: tuple[str, ...] = _DEFAULT_SCOPES


@dataclasses.dataclass(frozen=True)
class IssuedToken:
    """A token the fake handed out: to whom, for which scopes (None: the instance's), until when."""

    email: str
    scopes: tuple[str, ...] | None
    expires_at: float


class GoogleMetadataEndpoint(Endpoint):
    """``GET /computeMetadata/v1/...`` on a fake instance, and google-auth's ``GET /`` ping.

    `project_id` and `numeric_project_id` are what the project paths answer; `accounts`
    maps ``default`` and each e-mail to its `MetadataAccount`.
    """

    name = "google_metadata"
    answer_headers: ClassVar[Mapping[str, str]] = {"Metadata-Flavor": METADATA_FLAVOR}
    #: ``GET /`` (google-auth's ping) only with the header: on a server shared with other fakes,
    #: a bare ``GET /`` is nobody's (404).
    routes = (Route(frozenset({"GET"}), re.compile(re.escape(METADATA_PATH) + r"(/.*)?")),
              Route(frozenset({"GET"}), "/", headers={"Metadata-Flavor": None}))

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        self.project_id = "literauth-test-project"
        self.numeric_project_id = "123456789012"
        self.default_account = MetadataAccount(f"1234-compute@{self.project_id}.iam.gserviceaccount.com")
        self.other_account = MetadataAccount(f"vertex-caller@{self.project_id}.iam.gserviceaccount.com",
                                             ("https://www.googleapis.com/auth/cloud-platform",))
        self._accounts: dict[str, MetadataAccount] = {}
        self._issued: dict[str, IssuedToken] = {}
        self._reset_accounts()

    def _reset_accounts(self) -> None:
        with self._lock:
            self._accounts = {"default": self.default_account, self.default_account.email: self.default_account,
                              self.other_account.email: self.other_account}
            self._issued = {}

    # -- controls -----------------------------------------------------------------------------

    def add_account(self, email: str, scopes: tuple[str, ...] = _DEFAULT_SCOPES) -> MetadataAccount:
        """Attach another service account to the instance."""
        account = MetadataAccount(email, scopes)
        with self._lock:
            self._accounts[email] = account
        return account

    def detach_all(self) -> None:
        """The instance has no service account at all (every account path answers 404)."""
        with self._lock:
            self._accounts = {}

    def outage(self, status: int = 503, *, times: int = 1) -> None:
        """Answer the next `times` requests with a server error."""
        self.fail(status, "", times=times)

    def throttle(self, retry_after: float | None = None, *, times: int = 1) -> None:
        """Answer the next `times` requests 429 (too many requests)."""
        self.fail(429, "Too many requests", headers={} if retry_after is None else {"Retry-After": str(int(retry_after))},
                  times=times)

    def black_hole(self, seconds: float = 30.0, *, times: int = 1) -> None:
        """Accept the next `times` requests and answer nothing for `seconds`, then drop them."""
        self.enqueue(*[Fault(hang=seconds, drop=True)] * times)

    def reset(self) -> None:
        """Also forget issued tokens and account changes."""
        super().reset()
        self._reset_accounts()

    @property
    def issued(self) -> dict[str, IssuedToken]:
        """Tokens handed out, by token."""
        with self._lock:
            return dict(self._issued)

    def check_token(self, token: str) -> IssuedToken | None:
        """What `token` was issued for, if this server issued it and it has not expired."""
        issued = self.issued.get(token)
        return issued if issued is not None and self.now() < issued.expires_at else None

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: what ``GCE_METADATA_HOST`` and ``GCE_METADATA_IP`` hold."""
        return self.server.url.split("://", 1)[1]

    # -- what a registered fake declares ---------------------------------------------------------

    def environ(self, directory: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """``GCE_METADATA_HOST`` and ``GCE_METADATA_IP`` pointed here (google-auth reads both).

        Plain http: ``host:port``, as google-auth takes it; in HTTPS mode the base URL, which
        only literauth reads (google-auth always prepends ``http://``).
        """
        value = self.host if self.server.url.startswith("http://") else self.server.url
        return {"GCE_METADATA_HOST": value, "GCE_METADATA_IP": value}

    def make_provider(self, **options: Any) -> ComputeEngineCredentialProvider:
        """A provider for the instance's default account at this server; keyword arguments override."""
        options.setdefault("endpoint", self.server.url)
        return ComputeEngineCredentialProvider(**options)

    def success_body(self) -> bytes:
        placeholder = "ya29.c." + b64url(b"placeholder-metadata-token")
        return json.dumps({"access_token": placeholder, "expires_in": int(self.default_lifetime),
                           "token_type": "Bearer"}).encode()

    def no_token_body(self) -> bytes:
        return json.dumps({"expires_in": int(self.default_lifetime), "token_type": "Bearer"}).encode()

    # -- serving ----------------------------------------------------------------------------------

    def answer(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        """Every answer, refusals included, carries ``Metadata-Flavor: Google``."""
        reply = super().answer(request, form)
        return dataclasses.replace(reply, headers={**reply.headers, **self.answer_headers})

    def refusal_reply(self, refusal: Refusal, request: RecordedRequest | None) -> Reply:
        return Reply(refusal.status, refusal.description.encode(), content_type="text/html; charset=UTF-8")

    def respond(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        if request.header("X-Forwarded-For") is not None:
            raise Refusal("forbidden", "Your client does not have permission: X-Forwarded-For is not allowed.",
                          status=403)
        if request.header("Metadata-Flavor") != METADATA_FLAVOR:
            raise Refusal("forbidden", "Your client does not have permission to get URL "
                          f"{request.path} from this server. Missing Metadata-Flavor:Google header.", status=403)
        path = request.path
        if path == "/":
            return Reply(200, b"computeMetadata/\n", content_type=_TEXT)
        if path == f"{METADATA_PATH}/project/project-id":
            return Reply(200, self.project_id.encode(), content_type=_TEXT)
        if path == f"{METADATA_PATH}/project/numeric-project-id":
            return Reply(200, self.numeric_project_id.encode(), content_type=_TEXT)
        match = _ACCOUNT.fullmatch(path)
        if match is None:
            raise Refusal("not_found", "Not Found", status=404)
        with self._lock:
            account = self._accounts.get(match.group(1))
        if account is None:
            raise Refusal("not_found", "Not Found", status=404)
        leaf = match.group(2)
        if leaf == "email":
            return Reply(200, account.email.encode(), content_type=_TEXT)
        if leaf == "scopes":
            return Reply(200, "\n".join(account.scopes).encode() + b"\n", content_type=_TEXT)
        if leaf == "token":
            return self._token(account, request.query.get("scopes"))
        if leaf is None and request.query.get("recursive") == "true":  # google-auth reads this
            aliases = ["default"] if account is self.default_account else []
            body = {"aliases": aliases, "email": account.email, "scopes": list(account.scopes)}
            return Reply(200, json.dumps(body).encode(), content_type=JSON_TYPE)
        raise Refusal("not_found", "Not Found", status=404)

    def _token(self, account: MetadataAccount, scopes: str | None) -> Reply:
        asked = None if scopes is None else tuple(s for s in scopes.split(",") if s)
        if asked is not None and (not asked or any(not s.startswith("https://www.googleapis.com/auth/") for s in asked)):
            raise Refusal("bad_request", "Invalid scopes", status=400)
        token = "ya29.c.literauth-fake-metadata." + secrets.token_urlsafe(32)
        lifetime = int(self.lifetime)
        with self._lock:
            self._issued[token] = IssuedToken(account.email, asked, self.now() + lifetime)
        body = {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}
        return Reply(200, json.dumps(body).encode(), content_type=JSON_TYPE)


