"""Fake AWS IAM Identity Center portal: `GetRoleCredentials`, and the token cache `aws sso login` writes.

``GET /federation/credentials?account_id=&role_name=`` with the ``x-amz-sso_bearer_token``
header, answered like the portal: ``{"roleCredentials": {...}}`` with `expiration` in epoch
milliseconds; errors as ``{"message": ...}`` with the code in ``x-amzn-ErrorType``
(401 `UnauthorizedException` for an unknown or expired login, 403 `ForbiddenException` for
a role the user is not assigned, 400 `InvalidRequestException`, 429 `TooManyRequestsException`).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import secrets
import string
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ...aws.sso import SsoCredentialProvider, token_cache_key
from ...credentials import UTC
from ...secret import SecretString
from .._scratch import ScratchFiles
from .._server import Endpoint, RecordedRequest, Refusal, Reply, Route, ServerCore

__all__ = ["DEFAULT_ACCOUNT", "DEFAULT_ROLE", "DEFAULT_SESSION", "DEFAULT_START_URL", "SsoPortalEndpoint"]

DEFAULT_START_URL = "https://literauth-test.awsapps.com/start"
DEFAULT_SESSION = "literauth-sso"
DEFAULT_ACCOUNT = "111122223333"
DEFAULT_ROLE = "BedrockUser"
LOGIN_LIFETIME = 400 * 86400.0  # seconds a login written by `make_provider()` lasts: past any test's clock moves
_KEY_ALPHABET = string.ascii_uppercase + "234567"
_ERROR_STATUS = {
    "UnauthorizedException": 401,
    "ForbiddenException": 403,
    "InvalidRequestException": 400,
    "ResourceNotFoundException": 404,
    "TooManyRequestsException": 429,
}


@dataclasses.dataclass(frozen=True)
class IssuedRoleCredentials:
    """Role credentials the portal handed out, for tests to compare against."""

    access_key_id: SecretString
    secret_access_key: SecretString
    session_token: SecretString
    expiration: datetime
    account_id: str
    role_name: str


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SsoPortalEndpoint(Endpoint):
    """The portal's `GetRoleCredentials`, accepting the logins it wrote into token caches.

    Settings tests change (restored by `reset()`): `assignments`, the (account, role) pairs
    the user may use (`None`: any).
    """

    name = "sso"
    routes = (Route(frozenset({"GET"}), "/federation/credentials"),)

    def __init__(self, server: ServerCore) -> None:
        super().__init__(server)
        self._logins: dict[str, float] = {}  # access token -> expiry
        self._issued: list[IssuedRoleCredentials] = []
        self._scratch = ScratchFiles(self, "literauth-sso-")
        self.assignments: set[tuple[str, str]] | None = None

    def reset(self) -> None:
        """Forget faults, requests, issued credentials and assignments (logins stay valid)."""
        super().reset()
        with self._lock:
            self._issued.clear()
        self.assignments = None

    # -- logins ------------------------------------------------------------------------------

    def login(self, lifetime: float = 8 * 3600.0) -> str:
        """A new portal access token, as `aws sso login` obtains, valid for `lifetime` seconds."""
        token = "aoa" + base64.urlsafe_b64encode(secrets.token_bytes(48)).decode().rstrip("=")
        with self._lock:
            self._logins[token] = self.now() + lifetime
        return token

    def write_token_cache(
        self,
        directory: str | os.PathLike[str],
        *,
        session_name: str | None = DEFAULT_SESSION,
        start_url: str = DEFAULT_START_URL,
        lifetime: float = 8 * 3600.0,
        token: str | None = None,
    ) -> str:
        """Write a login into `directory` (``<sha1>.json``) as `aws sso login` does; return the path.

        `token` None logs in anew; `lifetime` sets the file's ``expiresAt`` (negative: expired).
        """
        access_token = self.login(max(lifetime, 1.0)) if token is None else token
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(os.fspath(directory), token_cache_key(start_url, session_name) + ".json")
        document = {
            "startUrl": start_url,
            "region": "us-east-1",
            "accessToken": access_token,
            "expiresAt": _iso(self.now() + lifetime),
        }
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(document, handle)
        return path

    def write_config(
        self,
        path: str | os.PathLike[str],
        *,
        profile: str = "default",
        legacy: bool = False,
        account_id: str = DEFAULT_ACCOUNT,
        role_name: str = DEFAULT_ROLE,
        region: str = "us-east-1",
    ) -> str:
        """Write an AWS config file whose `profile` is an SSO profile (``sso_session`` form unless `legacy`)."""
        header = "[default]" if profile == "default" else f"[profile {profile}]"
        lines = [header, f"sso_account_id = {account_id}", f"sso_role_name = {role_name}", f"region = {region}"]
        if legacy:
            lines += [f"sso_start_url = {DEFAULT_START_URL}", "sso_region = us-east-1"]
        else:
            lines += [f"sso_session = {DEFAULT_SESSION}", "", f"[sso-session {DEFAULT_SESSION}]",
                      f"sso_start_url = {DEFAULT_START_URL}", "sso_region = us-east-1",
                      "sso_registration_scopes = sso:account:access"]
        with open(path, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        return os.fspath(path)

    # -- answering ------------------------------------------------------------------------------

    def respond(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        token = request.header("x-amz-sso_bearer_token")
        with self._lock:
            expiry = self._logins.get(token or "")
        if not token or expiry is None or self.now() >= expiry:
            raise Refusal("UnauthorizedException", "Session token not found or invalid", status=401)
        account, role = request.query.get("account_id"), request.query.get("role_name")
        if not account or not role:
            raise Refusal("InvalidRequestException", "account_id and role_name are required", status=400)
        if self.assignments is not None and (account, role) not in self.assignments:
            raise Refusal("ForbiddenException", "No access", status=403)
        now = float(int(self.now()))
        expiration = now + self.lifetime
        issued = IssuedRoleCredentials(
            access_key_id=SecretString("ASIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))),
            secret_access_key=SecretString(base64.b64encode(secrets.token_bytes(30)).decode("ascii")),
            session_token=SecretString("IQoJb3JpZ2lu" + base64.b64encode(secrets.token_bytes(200)).decode()),
            expiration=datetime.fromtimestamp(max(expiration, 0.0), UTC),
            account_id=account,
            role_name=role,
        )
        with self._lock:
            self._issued.append(issued)
        return Reply(200, self._document(issued, int(expiration * 1000)))

    @staticmethod
    def _document(issued: IssuedRoleCredentials | None, expiration_ms: int, *, session_token: bool = True) -> bytes:
        keys: dict[str, object] = {
            "accessKeyId": "ASIAEXAMPLEEXAMPLE00" if issued is None else issued.access_key_id.expose_secret(),
            "secretAccessKey": "c2VjcmV0LWFjY2Vzcy1rZXktZXhhbXBsZQ"
            if issued is None else issued.secret_access_key.expose_secret(),
            "expiration": expiration_ms,
        }
        if session_token:
            keys["sessionToken"] = "IQoJb3JpZ2luPLACEHOLDER" if issued is None else issued.session_token.expose_secret()
        return json.dumps({"roleCredentials": keys}).encode()

    def refusal_reply(self, refusal: Refusal, request: RecordedRequest | None) -> Reply:
        return self.error_reply(refusal.error, refusal.description)

    @staticmethod
    def error_reply(code: str, message: str = "") -> Reply:
        """The portal's error answer for `code`: its status, ``x-amzn-ErrorType`` and ``{"message"}``."""
        headers = {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazonaws.switchboard.portal/"}
        body = json.dumps({"message": message or code}).encode()
        return Reply(_ERROR_STATUS.get(code, 400), body, headers)

    def fail_with(self, code: str, message: str = "", *, times: int = 1) -> None:
        """Answer the next `times` requests with portal error `code`."""
        self.fail_with_reply(self.error_reply(code, message), times=times)

    # -- for tests and the registry --------------------------------------------------------------

    @property
    def issued_credentials(self) -> list[IssuedRoleCredentials]:
        """The role credentials handed out so far, oldest first."""
        with self._lock:
            return list(self._issued)

    def make_provider(self, **options: Any) -> SsoCredentialProvider:
        """An `SsoCredentialProvider` for the default session, with a fresh login in a scratch cache."""
        directory = options.pop("token_cache_dir", None) or self._scratch.new_path("sso-cache")
        self.write_token_cache(directory, lifetime=LOGIN_LIFETIME)
        options.setdefault("endpoint", self.server.url)
        return SsoCredentialProvider(
            start_url=DEFAULT_START_URL, sso_region="us-east-1", account_id=DEFAULT_ACCOUNT,
            role_name=DEFAULT_ROLE, session_name=DEFAULT_SESSION, profile="default",
            token_cache_dir=directory, **options,
        )

    def environ(self, directory: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """`HOME` (holding the login cache), `AWS_CONFIG_FILE` (an SSO ``default`` profile) and the portal URL."""
        home = os.fspath(directory) if directory is not None else self._scratch.new_path("home")
        os.makedirs(os.path.join(home, ".aws"), exist_ok=True)
        config = self.write_config(os.path.join(home, ".aws", "config"))
        self.write_token_cache(os.path.join(home, ".aws", "sso", "cache"), lifetime=LOGIN_LIFETIME)
        return {"HOME": home, "AWS_CONFIG_FILE": config, "AWS_ENDPOINT_URL_SSO": self.server.url}

    def renew(self, provider: Any) -> None:
        """Log in again into the provider's token cache, as a new `aws sso login` would."""
        path = getattr(provider, "token_cache_file", None)
        if isinstance(path, str):
            self.write_token_cache(os.path.dirname(path), lifetime=LOGIN_LIFETIME)

    def success_body(self) -> bytes:
        return self._document(None, 4070908800000)

    def no_token_body(self) -> bytes:
        return self._document(None, 4070908800000, session_token=False)
