"""Fake Microsoft identity platform v2.0: the client-credentials token endpoint and OIDC discovery.

It checks requests the way login.microsoftonline.com does and answers in its format: the
same JSON error shape with `AADSTS` codes and HTTP statuses, the same success fields.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import threading
import uuid
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import unquote

from ...azure.client_secret import AzureAdCredentialProvider
from ...credentials import UTC
from ...secret import SecretString
from .._oauth import FormField, OAuthTokenEndpoint, b64url, b64url_decode
from .._server import RecordedRequest, Refusal, Reply, Route, ServerCore

__all__ = ["AzureAdEndpoint"]

_TOKEN_PATH = re.compile(r"/([^/]+)/oauth2/v2\.0/token")
_DISCOVERY_PATH = re.compile(r"/([^/]+)/v2\.0/\.well-known/openid-configuration")
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*")
_MULTI_TENANT = frozenset({"common", "organizations", "consumers"})
_FORM_TYPE = "application/x-www-form-urlencoded"
_RESOURCES = (  # resource principals every real tenant has
    "https://cognitiveservices.azure.com",
    "https://management.azure.com",
    "https://graph.microsoft.com",
    "https://storage.azure.com",
    "https://vault.azure.net",
)
_SECRET_HELP = "https://aka.ms/NewClientSecret"
_NOT_INSTALLED = (
    "This can happen if the application has not been installed by the administrator of the tenant or "
    "consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
)


#: One app registration per server, shared by the Azure fakes (one app may hold a secret and
#: federated credentials): `FakeIdentityServer.environ()` then names one tenant and one client.
_APPS: weakref.WeakKeyDictionary[ServerCore, tuple[str, str]] = weakref.WeakKeyDictionary()
_APPS_LOCK = threading.Lock()


def shared_app(server: ServerCore) -> tuple[str, str]:
    """The `(tenant_id, client_id)` every Azure fake of `server` registers by default."""
    with _APPS_LOCK:
        return _APPS.setdefault(server, (str(uuid.uuid4()), str(uuid.uuid4())))


def has_assertion(form: Mapping[str, str]) -> bool:
    """Whether a token request authenticates with a client assertion rather than a secret."""
    return bool(form.get("client_assertion") or form.get("client_assertion_type"))


def is_certificate_assertion(form: Mapping[str, str]) -> bool:
    """Whether the request's client assertion is a JWT whose header names a certificate (``x5t``).

    Certificate assertions go to the certificate fake, other assertions to the federated one.
    """
    assertion = form.get("client_assertion")
    if not assertion:
        return False
    try:
        header = json.loads(b64url_decode(str(assertion).split(".", 1)[0]))
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(header, dict) and ("x5t" in header or "x5t#S256" in header)


@dataclasses.dataclass
class _Client:
    """An app registration: its secrets, each with whether it has expired."""

    secrets: list[tuple[SecretString, bool]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class _Tenant:
    """A directory: its GUID, verified domains, app registrations and resource principals."""

    tenant_id: str
    domains: set[str]
    clients: dict[str, _Client] = dataclasses.field(default_factory=dict)
    resources: set[str] = dataclasses.field(default_factory=lambda: set(_RESOURCES))

    @property
    def display_name(self) -> str:
        return min(self.domains) if self.domains else self.tenant_id


@dataclasses.dataclass(frozen=True)
class _Issued:
    tenant_id: str
    client_id: str
    audience: str
    expires_at: float


def _refusal(status: int, error: str, code: int, text: str) -> Refusal:
    """An error answer in Azure's shape: `error`, the AADSTS number `code` and its text."""
    return Refusal(error, text, status=status, code=code)


def _missing(parameter: str) -> Callable[[], Refusal]:
    return lambda: _refusal(
        400, "invalid_request", 900144, f"The request body must contain the following parameter: '{parameter}'."
    )


_GRANT = FormField(
    "grant_type", _missing("grant_type"), frozenset({"client_credentials"}),
    lambda value: _refusal(400, "unsupported_grant_type", 70003, f"The app requested an unsupported grant type '{value}'."),
)
_CLIENT_ID = FormField("client_id", _missing("client_id"))
_SCOPE = FormField("scope", _missing("scope"))
_CLIENT_SECRET = FormField("client_secret", lambda: _refusal(
    401, "invalid_client", 7000218,
    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
))


class AzureAdEndpoint(OAuthTokenEndpoint):
    """Microsoft identity platform v2.0 client-credentials endpoint, with tenants and apps.

    One tenant (`tenant_id`, also reachable as `tenant_domain`) holds one app (`client_id`,
    `client_secret`) out of the box; `server.azure_provider()` uses them. Register more with
    `add_tenant()`, `add_client()` and `add_resource()`; expire a secret with `expire_secret()`.
    Tokens issued are JWT-shaped (their signature is random, not verifiable); a fake resource
    server checks them with `check_token()`.
    """

    name = "azure"
    secret_fields = frozenset({"client_secret", "client_assertion"})
    routes = (Route(frozenset({"GET", "POST", "PUT", "DELETE", "HEAD"}), _TOKEN_PATH),
              Route(frozenset({"GET"}), _DISCOVERY_PATH))
    form_fields = (_GRANT, _CLIENT_ID)
    reply_headers: ClassVar[Mapping[str, str]] = {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}
    fixture_alias: ClassVar[str | None] = "fake_azure_provider"

    def __init__(self, server: ServerCore) -> None:
        super().__init__(server)
        self.tenant_id, self.client_id = shared_app(server)
        self.tenant_domain = "literauth-test.onmicrosoft.com"
        self.client_secret = SecretString(f"{secrets.token_urlsafe(3)[:3]}8Q~{secrets.token_urlsafe(30)}")
        self._registry_lock = threading.Lock()
        self._tenants: dict[str, _Tenant] = {}
        self._issued: dict[str, _Issued] = {}
        self._register_defaults()

    def _register_defaults(self) -> None:
        self._register_default_tenant()
        self.add_client(self.client_id, self.client_secret)

    def _register_default_tenant(self, *, secretless_app: bool = False) -> None:
        """Forget every tenant and issued token, then register the default tenant.

        `secretless_app` also registers the default app with no client secret, for the fakes
        whose apps prove themselves another way (a certificate, a federated token).
        """
        with self._registry_lock:
            self._tenants = {}
            self._issued = {}
        self.add_tenant(self.tenant_id, domain=self.tenant_domain)
        if secretless_app:
            with self._registry_lock:
                tenant = self._tenant(self.tenant_id)
                assert tenant is not None  # added above
                tenant.clients.setdefault(self.client_id, _Client())

    # -- registry -----------------------------------------------------------------------

    def add_tenant(self, tenant_id: str | None = None, *, domain: str | None = None) -> str:
        """Register a directory (a new GUID when `tenant_id` is None) and return its GUID."""
        tenant_id = (tenant_id or str(uuid.uuid4())).lower()
        if not _GUID.fullmatch(tenant_id):
            raise ValueError(f"tenant_id must be a GUID, got {tenant_id!r}")
        with self._registry_lock:
            tenant = self._tenants.setdefault(tenant_id, _Tenant(tenant_id, set()))
            if domain:
                tenant.domains.add(domain.lower())
        return tenant_id

    def add_client(
        self,
        client_id: str | None = None,
        client_secret: SecretString | str | None = None,
        *,
        tenant_id: str | None = None,
    ) -> tuple[str, SecretString]:
        """Register an app (or another secret of a known app, as when rotating) in a tenant.

        New ids and secrets are generated when None; returns `(client_id, client_secret)`.
        """
        client_id = client_id or str(uuid.uuid4())
        secret = SecretString(client_secret if client_secret is not None else secrets.token_urlsafe(30))
        with self._registry_lock:
            tenant = self._tenant(tenant_id or self.tenant_id)
            if tenant is None:
                raise KeyError(f"unknown tenant {tenant_id!r}")
            tenant.clients.setdefault(client_id, _Client()).secrets.append((secret, False))
        return client_id, secret

    def add_resource(self, resource: str, *, tenant_id: str | None = None) -> None:
        """Let tokens be issued for `resource` (a scope is `<resource>/.default`)."""
        with self._registry_lock:
            tenant = self._tenant(tenant_id or self.tenant_id)
            if tenant is None:
                raise KeyError(f"unknown tenant {tenant_id!r}")
            tenant.resources.add(resource.rstrip("/"))

    def expire_secret(self, client_secret: SecretString | str) -> None:
        """Mark a registered secret expired: requests using it get AADSTS7000222."""
        target = SecretString(client_secret)
        found = False
        with self._registry_lock:
            for tenant in self._tenants.values():
                for client in tenant.clients.values():
                    for index, (secret, _) in enumerate(client.secrets):
                        if secret == target:
                            client.secrets[index] = (secret, True)
                            found = True
        if not found:
            raise KeyError("that secret is not registered")

    def check_token(self, token: SecretString | str, *, audience: str | None = None) -> bool:
        """Whether `token` was issued here, has not expired and (if given) is for `audience`."""
        value = token.expose_secret() if isinstance(token, SecretString) else token
        with self._registry_lock:
            issued = self._issued.get(value)
        if issued is None or self.now() >= issued.expires_at:
            return False
        return audience is None or issued.audience == audience.rstrip("/")

    def environ(self, directory: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """Environment variables `AzureAdCredentialProvider.from_env()` reads, pointed at this server."""
        return {
            "AZURE_TENANT_ID": self.tenant_id,
            "AZURE_CLIENT_ID": self.client_id,
            "AZURE_CLIENT_SECRET": self.client_secret.expose_secret(),
            "AZURE_AUTHORITY_HOST": self.server.url,
        }

    def make_provider(self, **options: Any) -> AzureAdCredentialProvider:
        """A provider for the default app pointed at this server; keyword arguments override."""
        tenant_id = options.pop("tenant_id", self.tenant_id)
        client_id = options.pop("client_id", self.client_id)
        client_secret = options.pop("client_secret", self.client_secret)
        options.setdefault("authority_host", self.server.url)
        return AzureAdCredentialProvider(tenant_id, client_id, client_secret, **options)

    def reset(self) -> None:
        """Also forget added tenants, apps, resources, expiries and issued tokens (ids stay)."""
        super().reset()
        self._register_defaults()

    def _tenant(self, name: str) -> _Tenant | None:
        """The tenant a GUID or verified domain names; the caller holds the registry lock."""
        name = name.lower()
        tenant = self._tenants.get(name)
        if tenant is not None:
            return tenant
        return next((t for t in self._tenants.values() if name in t.domains), None)

    # -- serving --------------------------------------------------------------------------

    def accepts(
        self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], form: Mapping[str, str]
    ) -> bool:
        """The token and discovery routes, for requests authenticated by a secret (or by nothing).

        Requests carrying a client assertion go to the federated or certificate fakes.
        """
        return super().accepts(method, path, query, headers, form) and not has_assertion(form)

    def respond(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        token_path = _TOKEN_PATH.fullmatch(request.path)
        if token_path is None:
            discovery = _DISCOVERY_PATH.fullmatch(request.path)
            assert discovery is not None  # the routes sent it here
            return self._discovery(self._lookup(unquote(discovery.group(1))), request)
        if request.method != "POST":
            raise _refusal(
                400, "invalid_request", 900561,
                f"The endpoint only accepts POST, OPTIONS requests. Received a {request.method} request.",
            )
        tenant = self._lookup(unquote(token_path.group(1)))
        content_type = (request.header("content-type") or "").split(";")[0].strip().lower()
        return self._token(tenant, form if content_type == _FORM_TYPE else {}, request)

    def _lookup(self, name: str) -> _Tenant:
        if name.lower() in _MULTI_TENANT:
            raise _refusal(
                400, "invalid_request", 9001023,
                "The grant type is not supported over the /common or /consumers endpoints. "
                "Please use the /organizations or tenant-specific endpoint.",
            )
        if not (_GUID.fullmatch(name.lower()) or _DOMAIN.fullmatch(name.lower())):
            raise _refusal(
                400, "invalid_request", 900023,
                f"Specified tenant identifier '{name}' is neither a valid DNS name, nor a valid external domain.",
            )
        with self._registry_lock:
            tenant = self._tenant(name)
        if tenant is None:
            raise _refusal(
                400, "invalid_tenant", 90002,
                f"Tenant '{name}' not found. Check to make sure you have the correct tenant ID and are signing "
                "into the correct cloud. Check with your subscription administrator, this may happen if there "
                "are no active subscriptions for the tenant.",
            )
        return tenant

    def _token(self, tenant: _Tenant, form: Mapping[str, str], request: RecordedRequest) -> Reply:
        """Azure's checks in Azure's order: grant, app, scope, resource, then the secret."""
        self.check_form(form)
        client_id = form["client_id"]
        with self._registry_lock:
            client = tenant.clients.get(client_id)
            known = list(client.secrets) if client else []
            resources = set(tenant.resources)
        if client is None:
            raise _refusal(
                400, "unauthorized_client", 700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{tenant.display_name}'. {_NOT_INSTALLED}",
            )
        self.check_form(form, (_SCOPE,))
        resource = _resource(form["scope"], resources, tenant)
        self.check_form(form, (_CLIENT_SECRET,))
        _check_secret(known, SecretString(form["client_secret"]), client_id)
        return self._issue(tenant, client_id, resource, request)

    def _issue(self, tenant: _Tenant, client_id: str, audience: str, request: RecordedRequest) -> Reply:
        now = self.now()
        lifetime = int(self.lifetime)
        issuer = f"https://sts.windows.net/{tenant.tenant_id}/"
        object_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{tenant.tenant_id}/{client_id}"))
        claims = {
            "aud": audience, "iss": issuer, "iat": int(now), "nbf": int(now), "exp": int(now) + lifetime,
            "appid": client_id, "appidacr": "1", "idp": issuer, "idtyp": "app", "oid": object_id,
            "sub": object_id, "tid": tenant.tenant_id, "uti": b64url(secrets.token_bytes(16)), "ver": "1.0",
        }
        header = {"typ": "JWT", "alg": "RS256", "kid": "literauth-fake"}
        token = ".".join(
            b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        ) + "." + b64url(secrets.token_bytes(64))
        with self._registry_lock:
            self._issued[token] = _Issued(tenant.tenant_id, client_id, audience, now + lifetime)
        return self.token_reply(token, _trace_headers(request))

    def token_fields(self, lifetime: int) -> dict[str, object]:
        return {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime}

    def _discovery(self, tenant: _Tenant, request: RecordedRequest) -> Reply:
        base = self.server.url
        tid = tenant.tenant_id
        document = {
            "token_endpoint": f"{base}/{tid}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{base}/{tid}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{base}/{tid}/v2.0",
            "request_uri_parameter_supported": False,
            "authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{base}/{tid}/oauth2/v2.0/devicecode",
            "end_session_endpoint": f"{base}/{tid}/oauth2/v2.0/logout",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "tenant_region_scope": "NA",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
        }
        return self.json_reply(200, document, _trace_headers(request))

    def refusal_reply(self, refusal: Refusal, request: RecordedRequest | None) -> Reply:
        headers = _trace_headers(request)
        trace_id, correlation_id = headers["x-ms-request-id"], headers["client-request-id"]
        stamp = datetime.fromtimestamp(self.now(), UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        body = {
            "error": refusal.error,
            "error_description": (
                f"AADSTS{refusal.code}: {refusal.description}\r\nTrace ID: {trace_id}\r\n"
                f"Correlation ID: {correlation_id}\r\nTimestamp: {stamp}"
            ),
            "error_codes": [refusal.code],
            "timestamp": stamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"{self.server.url}/error?code={refusal.code}",
        }
        return self.json_reply(refusal.status, body, headers)

    # -- scripted trouble, shaped like the real service's -------------------------------

    def throttle(self, retry_after: float = 60, *, times: int = 1) -> None:
        """Answer the next `times` token requests 429 with `Retry-After`, as Azure throttles."""
        headers = {"Retry-After": str(int(retry_after)), "Content-Type": "text/plain; charset=utf-8"}
        self.fail(429, "Too Many Requests", headers=headers, times=times)

    def outage(self, status: int = 503, *, times: int = 1) -> None:
        """Answer the next `times` requests with a transient server error in Azure's JSON shape."""
        self.fail_with("temporarily_unavailable", "A transient error has occurred. Please try again.",
                       status=status, code=90033, times=times)


def _resource(scope: str, resources: set[str], tenant: _Tenant) -> str:
    """The resource a client-credentials `scope` (``<resource>/.default``) names, if the tenant has it."""
    resource = scope[: -len("/.default")] if scope.endswith("/.default") else None
    if not resource or " " in scope:
        raise _refusal(
            400, "invalid_scope", 1002012,
            f"The provided value for scope {scope} is not valid. Client credential flows must have a scope "
            "value with /.default suffixed to the resource identifier (application ID URI).",
        )
    if resource.rstrip("/") not in resources:
        raise _refusal(
            400, "invalid_resource", 500011,
            f"The resource principal named {resource} was not found in the tenant named "
            f"{tenant.display_name}. {_NOT_INSTALLED.replace('may have', 'might have')}",
        )
    return resource.rstrip("/")


def _check_secret(known: list[tuple[SecretString, bool]], sent: SecretString, client_id: str) -> None:
    """Refuse a secret the app does not have (AADSTS7000215) or one that expired (AADSTS7000222)."""
    expired = next((is_expired for secret, is_expired in known if secret == sent), None)
    if expired is None:
        raise _refusal(
            401, "invalid_client", 7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client "
            f"secret value, not the client secret ID, for a secret added to app '{client_id}'.",
        )
    if expired:
        raise _refusal(
            401, "invalid_client", 7000222,
            f"The provided client secret keys for app '{client_id}' are expired. Visit the Azure portal "
            f"to create new keys for your app: {_SECRET_HELP}, or consider using certificate credentials "
            "for added security: https://aka.ms/certCreds.",
        )


def _trace_headers(request: RecordedRequest | None) -> dict[str, str]:
    """A fresh trace id, and the caller's `client-request-id` echoed when it is a GUID."""
    correlation_id = (request.header("client-request-id") if request is not None else None) or ""
    if not _GUID.fullmatch(correlation_id.lower()):
        correlation_id = str(uuid.uuid4())
    return {"x-ms-request-id": str(uuid.uuid4()), "client-request-id": correlation_id}
