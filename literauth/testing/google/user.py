"""Fake Google OAuth endpoint for user logins: the refresh-token grant of gcloud's ADC file.

``POST /o/oauth2/token`` (the ``token_uri`` older gcloud files carry; the service-account
fake owns ``/token``) with ``grant_type=refresh_token``: it checks the OAuth client and its
secret, and that the refresh token was issued to that client and not revoked, answering in
Google's shape (``invalid_client`` 401, ``invalid_grant`` 400 "Token has been expired or
revoked.").
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
from collections.abc import Mapping
from typing import Any, ClassVar

from ...google._adc_file import ADC_FILE_NAME
from ...google.authorized_user import AuthorizedUserCredentialProvider
from ...secret import SecretString
from .._oauth import FormField, OAuthTokenEndpoint
from .._scratch import ScratchFiles
from .._server import RecordedRequest, Refusal, Reply

__all__ = ["GoogleUserEndpoint", "UserLogin"]

USER_TOKEN_PATH = "/o/oauth2/token"
_EXPIRED = "Token has been expired or revoked."
_FORM = (
    FormField("grant_type", lambda: Refusal("unsupported_grant_type", "Invalid grant_type: "),
              frozenset({"refresh_token"}),
              lambda value: Refusal("unsupported_grant_type", f"Invalid grant_type: {value}")),
    FormField("client_id", lambda: Refusal("invalid_request", "Could not determine client ID from request.")),
    FormField("refresh_token", lambda: Refusal("invalid_request", "Missing required parameter: refresh_token")),
)


@dataclasses.dataclass(frozen=True, repr=False)
class UserLogin:
    """One ``gcloud auth application-default login``: the client, its secret, the refresh token."""

    client_id: str
    client_secret: str
    refresh_token: str
    quota_project_id: str | None = None


class GoogleUserEndpoint(OAuthTokenEndpoint):
    """Google's token endpoint for ``grant_type=refresh_token`` (gcloud user logins)."""

    name = "google_user"
    secret_fields = frozenset({"client_secret", "refresh_token"})
    routes = OAuthTokenEndpoint.token_route(USER_TOKEN_PATH)
    form_fields = _FORM
    reply_headers: ClassVar[Mapping[str, str]] = {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"}

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        self._logins: dict[str, UserLogin] = {}  # refresh token -> login, until revoked
        self._clients: dict[str, str] = {}  # OAuth client id -> its secret
        self._issued: list[tuple[str, str | None]] = []  # (access token, scope asked)
        self._files = ScratchFiles(self, "literauth-gcloud-")

    @property
    def token_uri(self) -> str:
        """Where refresh tokens are traded: what the ADC files it writes name."""
        return f"{self.server.url}{USER_TOKEN_PATH}"

    def login(self, *, client_id: str | None = None, client_secret: str | None = None,
              refresh_token: str | None = None, quota_project_id: str | None = "literauth-quota") -> dict[str, str]:
        """Register a user login and return the ADC file gcloud would write, ``token_uri`` set here."""
        number = secrets.randbelow(10**12)
        entry = UserLogin(
            client_id or f"{number}-literauth.apps.googleusercontent.com",
            client_secret or "GOCSPX-" + secrets.token_urlsafe(21),
            refresh_token or "1//0g" + secrets.token_urlsafe(60),
            quota_project_id,
        )
        with self._lock:
            self._logins[entry.refresh_token] = entry
            self._clients[entry.client_id] = entry.client_secret
        info = {"type": "authorized_user", "client_id": entry.client_id, "client_secret": entry.client_secret,
                "refresh_token": entry.refresh_token, "token_uri": self.token_uri,
                "universe_domain": "googleapis.com", "account": ""}
        if quota_project_id is not None:
            info["quota_project_id"] = quota_project_id
        return info

    def revoke(self, refresh_token: str) -> None:
        """Revoke a login, as the user signing out (``gcloud auth application-default revoke``) would."""
        with self._lock:
            self._logins.pop(refresh_token, None)

    def write_adc_file(self, directory: str | os.PathLike[str], info: Mapping[str, str] | None = None) -> str:
        """Write an ADC file (default: a new login) as ``<directory>/application_default_credentials.json``."""
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(os.fspath(directory), ADC_FILE_NAME)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(dict(info) if info is not None else self.login(), handle)
        return path

    @property
    def issued_tokens(self) -> list[str]:
        """The access tokens handed out so far, oldest first."""
        with self._lock:
            return [token for token, _ in self._issued]

    @property
    def scopes_asked(self) -> list[str | None]:
        """The ``scope`` of each successful request (None: none sent), oldest first."""
        with self._lock:
            return [scope for _, scope in self._issued]

    def reset(self) -> None:
        """Forget faults, requests and issued tokens; logins stay."""
        super().reset()
        with self._lock:
            self._issued.clear()

    # -- what a registered fake declares ---------------------------------------------------------

    def environ(self, directory: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """``CLOUDSDK_CONFIG``: a gcloud configuration directory holding an ADC file of a new login."""
        folder = os.path.join(os.fspath(directory), "gcloud") if directory is not None else \
            self._files.new_path("gcloud")
        self.write_adc_file(folder)
        return {"CLOUDSDK_CONFIG": folder}

    def make_provider(self, **options: Any) -> AuthorizedUserCredentialProvider:
        """A provider for a new login at this server; keyword arguments go to the provider."""
        return AuthorizedUserCredentialProvider.from_info(self.login(), **options)

    # -- serving ----------------------------------------------------------------------------------

    def respond(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        self.check_form(form)
        with self._lock:
            login = self._logins.get(form["refresh_token"])
            client_secret = self._clients.get(form["client_id"])
        if client_secret is None:
            raise Refusal("invalid_client", "The OAuth client was not found.", status=401)
        if SecretString(form.get("client_secret", "")) != SecretString(client_secret):
            raise Refusal("invalid_client", "Unauthorized", status=401)
        if login is None or login.client_id != form["client_id"]:
            raise Refusal("invalid_grant", _EXPIRED)
        token = "ya29.a0-literauth-fake-user." + secrets.token_urlsafe(40)
        with self._lock:
            self._issued.append((token, form.get("scope")))
        return self.token_reply(token)

    def token_fields(self, lifetime: int) -> dict[str, object]:
        return {"expires_in": lifetime, "scope": "https://www.googleapis.com/auth/cloud-platform openid",
                "token_type": "Bearer"}
