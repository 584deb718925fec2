"""Fake Azure managed-identity endpoints: IMDS and the App Service identity endpoint.

Both check requests the way the real services do (the ``Metadata: true`` header, the
api-version, the resource, the identity asked for, App Service's ``X-IDENTITY-HEADER``)
and answer in their formats: numbers as JSON strings, `expires_on` as epoch seconds, IMDS's
``{"error", "error_description"}`` and App Service's ``{"statusCode", "message"}`` errors.
"""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import threading
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from ...azure.managed_identity import (
    APP_SERVICE_API_VERSION,
    IMDS_API_VERSION,
    IMDS_PATH,
    ManagedIdentityCredentialProvider,
)
from ...credentials import UTC
from ...secret import SecretString
from .._oauth import JSON_TYPE, b64url
from .._server import Endpoint, Fault, RecordedRequest, Refusal, Reply, Route
from .client_secret import AzureAdEndpoint

__all__ = ["AppServiceIdentityEndpoint", "ImdsEndpoint", "UserAssignedIdentity"]

APP_SERVICE_PATH = "/msi/token"
_RESOURCES = frozenset({
    "https://cognitiveservices.azure.com", "https://management.azure.com", "https://graph.microsoft.com",
    "https://storage.azure.com", "https://vault.azure.net",
})


@dataclasses.dataclass(frozen=True)
class UserAssignedIdentity:
    """A user-assigned identity: it can be named by client id, object id or ARM resource id."""

    client_id: str
    object_id: str
    resource_id: str

    @classmethod
    def new(cls, name: str = "literauth-test") -> UserAssignedIdentity:
        return cls(str(uuid.uuid4()), str(uuid.uuid4()),
                   f"/subscriptions/{uuid.uuid4()}/resourceGroups/rg/providers/"
                   f"Microsoft.ManagedIdentity/userAssignedIdentities/{name}")


class _ManagedIdentityEndpoint(Endpoint):
    """What IMDS and App Service share: the identities assigned, issuing, checking tokens."""

    api_version: ClassVar[str]
    resource_id_parameter: ClassVar[str]

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        self._registry_lock = threading.Lock()
        self.system_client_id = str(uuid.uuid4())
        self.user_assigned = UserAssignedIdentity.new()
        self.system_assigned = True
        self._identities: list[UserAssignedIdentity] = [self.user_assigned]
        self._issued: dict[str, tuple[str, str, float]] = {}  # token -> (client id, audience, expiry)

    def assign(self, identity: UserAssignedIdentity | None = None) -> UserAssignedIdentity:
        """Assign another user-assigned identity (a new one when None) and return it."""
        identity = identity or UserAssignedIdentity.new(f"id{len(self._identities)}")
        with self._registry_lock:
            self._identities.append(identity)
        return identity

    def reset(self) -> None:
        """Also forget issued tokens and extra identities; the system identity is assigned again."""
        super().reset()
        with self._registry_lock:
            self._identities = [self.user_assigned]
            self._issued = {}
        self.system_assigned = True

    def check_token(self, token: SecretString | str, *, audience: str | None = None) -> bool:
        """Whether `token` was issued here, has not expired and (if given) is for `audience`."""
        value = token.expose_secret() if isinstance(token, SecretString) else token
        with self._registry_lock:
            issued = self._issued.get(value)
        if issued is None or self.now() >= issued[2]:
            return False
        return audience is None or issued[1] == audience.rstrip("/")

    def _identity(self, query: Mapping[str, str]) -> str:
        """The client id of the identity the query names; `Refusal` "Identity not found" otherwise."""
        asked = {name: query[name] for name in ("client_id", "object_id", self.resource_id_parameter)
                 if query.get(name)}
        if len(asked) > 1:
            raise self.refuse(400, "invalid_request", "Only one of client_id, object_id and "
                              f"{self.resource_id_parameter} may be given")
        with self._registry_lock:
            identities = list(self._identities)
        if not asked:
            if not self.system_assigned:
                raise self.refuse(400, "invalid_request", "Identity not found")
            return self.system_client_id
        (name, value), = asked.items()
        field = "resource_id" if name == self.resource_id_parameter else name
        for identity in identities:
            if getattr(identity, field).lower() == value.lower():
                return identity.client_id
        if field == "client_id" and self._co_served_app(value):
            return value
        raise self.refuse(400, "invalid_request", "Identity not found")

    def _co_served_app(self, client_id: str) -> bool:
        """Whether `client_id` is the app of an `AzureAdEndpoint` on the same server.

        `FakeIdentityServer.environ()` sets one AZURE_CLIENT_ID for every Azure fake, so the
        fake machine counts that app as assigned: each `from_env()` then works from it.
        """
        return any(isinstance(e, AzureAdEndpoint) and e.client_id == client_id
                   for e in getattr(self.server, "endpoints", {}).values())

    def refuse(self, status: int, error: str, description: str) -> Refusal:
        return Refusal(error, description, status=status)

    def _issue(self, request: RecordedRequest) -> Reply:
        query = request.query
        version = query.get("api-version")
        if not version:
            raise self.refuse(400, "invalid_request", "Bad request. api-version was not specified in the request.")
        if version != self.api_version:
            raise self.refuse(400, "invalid_request", f"Bad request. api-version {version} is invalid.")
        resource = (query.get("resource") or "").rstrip("/")
        if not resource:
            raise self.refuse(400, "invalid_request", "Required query variable 'resource' is missing")
        if resource not in _RESOURCES:
            raise self.refuse(400, "invalid_resource",
                              f"AADSTS500011: The resource principal named {resource} was not found in the tenant.")
        client_id = self._identity(query)
        now = self.now()
        lifetime = int(self.lifetime)
        token = self._jwt(client_id, resource, now, lifetime)
        with self._registry_lock:
            self._issued[token] = (client_id, resource, now + lifetime)
        return self._json(200, self.token_fields(token, client_id, resource, now, lifetime))

    def _jwt(self, client_id: str, audience: str, now: float, lifetime: int) -> str:
        claims = {"aud": audience, "iat": int(now), "nbf": int(now), "exp": int(now) + lifetime,
                  "appid": client_id, "idtyp": "app", "xms_mirid": self.user_assigned.resource_id}
        header = {"typ": "JWT", "alg": "RS256", "kid": "literauth-fake"}
        return ".".join(b64url(json.dumps(p, separators=(",", ":")).encode()) for p in (header, claims)) \
            + "." + b64url(secrets.token_bytes(64))

    def token_fields(self, token: str, client_id: str, resource: str, now: float, lifetime: int) -> dict[str, object]:
        raise NotImplementedError

    def _json(self, status: int, body: Mapping[str, object]) -> Reply:
        return Reply(status, json.dumps(body).encode(), content_type=JSON_TYPE)

    # -- scripted trouble ---------------------------------------------------------------

    def gone(self, *, times: int = 1) -> None:
        """Answer the next `times` requests 410, as IMDS does while it is being updated."""
        self.fail(410, "", times=times)

    def throttle(self, retry_after: float | None = None, *, times: int = 1) -> None:
        """Answer the next `times` requests 429 (IMDS allows about 5 requests a second)."""
        headers = {} if retry_after is None else {"Retry-After": str(int(retry_after))}
        self.fail(429, "Too many requests", headers=headers, times=times)

    def outage(self, status: int = 500, *, times: int = 1) -> None:
        """Answer the next `times` requests with a server error."""
        self.fail(status, "", times=times)

    def black_hole(self, seconds: float = 30.0, *, times: int = 1) -> None:
        """Accept the next `times` connections and answer nothing for `seconds`, then drop them."""
        self.enqueue(*[Fault(hang=seconds, drop=True)] * times)

    # -- bodies for the campaigns ----------------------------------------------------------------

    def success_body(self) -> bytes:
        placeholder = ".".join(b64url(json.dumps(part).encode()) for part in ({"typ": "JWT"}, {}))
        fields = self.token_fields(f"{placeholder}.{b64url(b'sig')}", self.system_client_id,
                                   "https://cognitiveservices.azure.com", self.now(), int(self.default_lifetime))
        return json.dumps(fields).encode()

    def no_token_body(self) -> bytes:
        fields = json.loads(self.success_body())
        del fields["access_token"]
        return json.dumps(fields).encode()


class ImdsEndpoint(_ManagedIdentityEndpoint):
    """Azure IMDS's managed-identity token endpoint (``GET /metadata/identity/oauth2/token``).

    The fake machine has a system-assigned identity (`system_client_id`; turn it off with
    `system_assigned = False`) and one user-assigned identity (`user_assigned`); `assign()`
    adds more. Faults: `gone()` (410), `throttle()` (429), `outage()` (5xx), `black_hole()`.
    """

    name = "azure_imds"
    routes = (Route(frozenset({"GET", "POST"}), IMDS_PATH),)
    api_version = IMDS_API_VERSION
    resource_id_parameter = "msi_res_id"

    def respond(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        if request.header("Metadata") != "true":
            raise self.refuse(400, "invalid_request", "Required metadata header not specified")
        if request.method != "GET":
            raise self.refuse(405, "invalid_request", "Only GET is supported")
        return self._issue(request)

    def token_fields(self, token: str, client_id: str, resource: str, now: float, lifetime: int) -> dict[str, object]:
        """IMDS's answer: every number a JSON string."""
        return {"access_token": token, "client_id": client_id, "expires_in": str(lifetime),
                "expires_on": str(int(now) + lifetime), "ext_expires_in": str(lifetime),
                "not_before": str(int(now)), "resource": resource, "token_type": "Bearer"}

    def environ(self, directory: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """`AZURE_POD_IDENTITY_AUTHORITY_HOST` pointed at this server (azure-identity reads it too)."""
        return {"AZURE_POD_IDENTITY_AUTHORITY_HOST": self.server.url}

    def make_provider(self, **options: Any) -> ManagedIdentityCredentialProvider:
        """A provider for the system-assigned identity at this server; keyword arguments override."""
        options.setdefault("endpoint", self.server.url)
        return ManagedIdentityCredentialProvider(**options)


class AppServiceIdentityEndpoint(_ManagedIdentityEndpoint):
    """App Service / Functions / Container Apps identity endpoint (``GET /msi/token``).

    Requests need ``X-IDENTITY-HEADER: <identity_header>`` (401 otherwise) and api-version
    2019-08-01; `expires_on` is an epoch-seconds string, or the 2017 date format when
    `legacy_dates` is set.
    """

    name = "azure_app_service"
    routes = (Route(frozenset({"GET"}), APP_SERVICE_PATH),)
    api_version = APP_SERVICE_API_VERSION
    resource_id_parameter = "mi_res_id"

    def __init__(self, server: Any) -> None:
        super().__init__(server)
        self.identity_header = SecretString(secrets.token_urlsafe(24))
        self.legacy_dates = False

    def respond(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        sent = request.header("X-IDENTITY-HEADER")
        if sent is None or SecretString(sent) != self.identity_header:
            raise self.refuse(401, "unauthorized", "The X-IDENTITY-HEADER header is missing or not valid")
        return self._issue(request)

    def refusal_reply(self, refusal: Refusal, request: RecordedRequest | None) -> Reply:
        return self._json(refusal.status, {"statusCode": refusal.status, "message": refusal.description})

    def token_fields(self, token: str, client_id: str, resource: str, now: float, lifetime: int) -> dict[str, object]:
        expires = int(now) + lifetime
        expires_on = (datetime.fromtimestamp(expires, UTC).strftime("%m/%d/%Y %H:%M:%S +00:00")
                      if self.legacy_dates else str(expires))
        return {"access_token": token, "expires_on": expires_on, "resource": resource,
                "token_type": "Bearer", "client_id": client_id}

    def reset(self) -> None:
        super().reset()
        self.legacy_dates = False

    @property
    def url(self) -> str:
        """What `IDENTITY_ENDPOINT` holds."""
        return self.server.url + APP_SERVICE_PATH

    def environ(self, directory: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """`IDENTITY_ENDPOINT` and `IDENTITY_HEADER` pointed at this server (azure-identity reads them too)."""
        return {"IDENTITY_ENDPOINT": self.url, "IDENTITY_HEADER": self.identity_header.expose_secret()}

    def make_provider(self, **options: Any) -> ManagedIdentityCredentialProvider:
        """A provider for the system-assigned identity at this server; keyword arguments override."""
        options.setdefault("environ", self.environ())
        return ManagedIdentityCredentialProvider(**options)
