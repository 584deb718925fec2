"""Fake Entra ID federated credentials: the token endpoint's side of AKS workload identity.

`AzureFederatedEndpoint` serves the v2.0 token requests that carry a client assertion of
type jwt-bearer and checks that assertion the way Entra ID checks a federated token: a JWT
from a registered OIDC issuer (the fake is that issuer and signs with a key it holds), for
the audience ``api://AzureADTokenExchange``, not expired, whose issuer, subject and
audience match one of the app's federated identity credentials. Errors carry Entra's
AADSTS codes (AADSTS700024 expired assertion, AADSTS70021 no matching federated identity).
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar

from ..._oauth import JWT_BEARER_ASSERTION_TYPE
from ...azure.workload_identity import WorkloadIdentityCredentialProvider
from ...credentials import UTC
from ...provider import RefreshingCredentialProvider
from .._oauth import FormField
from .._oidc import OidcIssuer
from .._scratch import ScratchFiles
from .._server import RecordedRequest, Refusal, Reply, ServerCore
from .client_secret import (
    _DISCOVERY_PATH,
    _SCOPE,
    AzureAdEndpoint,
    _Client,
    _refusal,
    _resource,
    _Tenant,
    has_assertion,
    is_certificate_assertion,
)

__all__ = ["EXCHANGE_AUDIENCE", "AzureFederatedEndpoint", "FederatedCredential"]

EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"  # the audience Entra ID requires of federated tokens
DEFAULT_SUBJECT = "system:serviceaccount:default:workload-identity-sa"
TOKEN_LIFETIME = 86400.0  # seconds an issued token stays valid: a day, as the STS fake (renew() rotates it)


@dataclasses.dataclass(frozen=True)
class FederatedCredential:
    """A federated identity credential of an app: the tokens it trusts."""

    issuer: str
    subject: str
    audience: str = EXCHANGE_AUDIENCE


def _invalid_assertion(text: str) -> Refusal:
    return _refusal(401, "invalid_client", 50027, f"JWT token is invalid or malformed. {text}")


_ASSERTION_TYPE = FormField(
    "client_assertion_type",
    lambda: _refusal(400, "invalid_request", 900144,
                     "The request body must contain the following parameter: 'client_assertion_type'."),
    frozenset({JWT_BEARER_ASSERTION_TYPE}),
    lambda value: _refusal(400, "invalid_request", 50027,
                           f"Invalid client_assertion_type '{value[:80]}'; expected '{JWT_BEARER_ASSERTION_TYPE}'."),
)
_ASSERTION = FormField("client_assertion", lambda: _refusal(
    401, "invalid_client", 7000218,
    "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
))


class AzureFederatedEndpoint(AzureAdEndpoint):
    """The token endpoint for federated tokens, and the OIDC issuer that signs them.

    It shares the tenant and app ids of the server's other Azure fakes; the app trusts
    `issuer` for `subject` out of the box. `write_federated_token()` writes a token file as
    the kubelet would; `add_federated_credential()` trusts more; `rotate_signing_key()`
    invalidates every token issued so far. Tokens it signs use HS256 with its own key: only
    this fake verifies them.
    """

    name = "azure_federated"
    fixture_alias: ClassVar[str | None] = None

    def __init__(self, server: ServerCore) -> None:
        self._oidc = OidcIssuer(f"https://oidc.literauth.test/{uuid.uuid4()}/")
        self.issuer = self._oidc.issuer
        self.subject = DEFAULT_SUBJECT
        self._federated: dict[str, list[FederatedCredential]] = {}
        self._scratch = ScratchFiles(self, "literauth-azure-wi-")
        super().__init__(server)

    def _register_defaults(self) -> None:
        """The default tenant and app, trusting `issuer` for `subject`, and no client secret."""
        with self._registry_lock:
            self._federated = {}
        self._register_default_tenant(secretless_app=True)
        self.add_federated_credential(self.client_id, issuer=self.issuer, subject=self.subject)

    # -- registry -----------------------------------------------------------------------

    def add_federated_credential(
        self, client_id: str | None = None, *, issuer: str, subject: str, audience: str = EXCHANGE_AUDIENCE
    ) -> str:
        """Let app `client_id` (a new app in the default tenant when None) trust these tokens; returns its id."""
        client_id = client_id or str(uuid.uuid4())
        with self._registry_lock:
            tenant = self._tenant(self.tenant_id)
            assert tenant is not None  # the default tenant is always registered
            tenant.clients.setdefault(client_id, _Client())
            self._federated.setdefault(client_id, []).append(FederatedCredential(issuer, subject, audience))
        return client_id

    def remove_federated_credentials(self, client_id: str | None = None) -> None:
        """Make the app trust no federated token (requests then get AADSTS70021)."""
        with self._registry_lock:
            self._federated.pop(client_id or self.client_id, None)

    def rotate_signing_key(self) -> None:
        """Make every token issued so far fail signature checks, as if the issuer's keys changed."""
        self._oidc.rotate()

    # -- the OIDC issuer ----------------------------------------------------------------------

    def issue_federated_token(
        self,
        *,
        lifetime: float = TOKEN_LIFETIME,
        subject: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
    ) -> str:
        """A service-account JWT this endpoint accepts until `lifetime` seconds from now (negative: expired)."""
        now = int(self.now())
        return self._oidc.issue({
            "aud": [EXCHANGE_AUDIENCE if audience is None else audience],
            "iss": self.issuer if issuer is None else issuer,
            "sub": self.subject if subject is None else subject,
            "iat": now, "nbf": now, "exp": int(now + lifetime),
            "kubernetes.io": {"namespace": "default", "serviceaccount": {"name": "workload-identity-sa"}},
        })

    def write_federated_token(
        self, path: str | os.PathLike[str] | None = None, *, lifetime: float = TOKEN_LIFETIME, **claims: Any
    ) -> str:
        """Write a fresh token to `path` (or a new temporary file) and return the path.

        `claims` (`subject`, `issuer`, `audience`) go to `issue_federated_token`. Like the
        kubelet, the file is replaced atomically; it ends with a newline, which clients strip.
        """
        token = self.issue_federated_token(lifetime=lifetime, **claims)
        target = os.fspath(path) if path is not None else self._new_token_path()
        fd, staging = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(target)), prefix=".token-")
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(token + "\n")
        os.replace(staging, target)
        return target

    def _new_token_path(self) -> str:
        return self._scratch.new_path("azure-identity-token")

    # -- what a registered fake declares ------------------------------------------------

    def environ(self, directory: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """The variables the AKS webhook injects, pointed here; the token file goes into `directory`."""
        path = None if directory is None else os.path.join(os.fspath(directory), "azure-identity-token")
        return {
            "AZURE_TENANT_ID": self.tenant_id,
            "AZURE_CLIENT_ID": self.client_id,
            "AZURE_FEDERATED_TOKEN_FILE": self.write_federated_token(path),
            "AZURE_AUTHORITY_HOST": self.server.url,
        }

    def make_provider(self, **options: Any) -> WorkloadIdentityCredentialProvider:  # type: ignore[override]
        """A provider for the default app reading a freshly written token file; keyword arguments override."""
        tenant_id = options.pop("tenant_id", self.tenant_id)
        client_id = options.pop("client_id", self.client_id)
        token_file = options.pop("token_file", None) or self.write_federated_token()
        options.setdefault("authority_host", self.server.url)
        return WorkloadIdentityCredentialProvider(tenant_id, client_id, token_file, **options)

    def renew(self, provider: RefreshingCredentialProvider) -> None:
        """Write a fresh token into the provider's token file, as the kubelet rotates it."""
        path = getattr(provider, "token_file", None)
        if path is not None:
            self.write_federated_token(path)

    # -- serving --------------------------------------------------------------------------

    def accepts(
        self, method: str, path: str, query: Mapping[str, str], headers: Mapping[str, str], form: Mapping[str, str]
    ) -> bool:
        """Token requests carrying a client assertion (and discovery, when no other Azure fake serves it).

        Certificate assertions (an ``x5t`` header) are the certificate fake's.
        """
        if not any(route.matches(method, path, query, headers) for route in self.routes):
            return False
        if _DISCOVERY_PATH.fullmatch(path) is not None:
            return True
        return has_assertion(form) and not is_certificate_assertion(form)

    def _token(self, tenant: _Tenant, form: Mapping[str, str], request: RecordedRequest) -> Reply:
        """Entra's order: grant, app, scope, resource, then the assertion and the federated match."""
        self.check_form(form)
        client_id = form["client_id"]
        with self._registry_lock:
            known = client_id in tenant.clients
            trusted = list(self._federated.get(client_id, ()))
            resources = set(tenant.resources)
        if not known:
            raise _refusal(
                400, "unauthorized_client", 700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant.display_name}'.",
            )
        self.check_form(form, (_SCOPE,))
        resource = _resource(form["scope"], resources, tenant)
        self.check_form(form, (_ASSERTION_TYPE, _ASSERTION))
        claims = self._verify(form["client_assertion"])
        self._match(claims, trusted)
        return self._issue(tenant, client_id, resource, request)

    def _verify(self, assertion: str) -> Mapping[str, Any]:
        """The claims of a token this issuer signed and that is valid now; the AADSTS refusal otherwise.

        Surrounding whitespace is ignored: azure-identity sends the file verbatim, newline
        included (whether Entra trims it is not verified; kubelet-written files have none).
        """
        claims = self._oidc.signed_claims(assertion)
        if claims == "not a JWT":
            raise _invalid_assertion("The assertion is not a JWT.")
        if isinstance(claims, str):
            raise _invalid_assertion("The signature of the assertion could not be verified with the issuer's keys.")
        now = self.now()
        expires, not_before = claims.get("exp"), claims.get("nbf", claims.get("iat", 0))
        if not (isinstance(expires, (int, float)) and isinstance(not_before, (int, float))
                and not isinstance(expires, bool) and not_before <= now < expires):
            raise _refusal(
                401, "invalid_client", 700024,
                f"Client assertion is not within its valid time range. Current time: {_stamp(now)}, "
                f"assertion valid from {_stamp(not_before)}, expiry time of assertion {_stamp(expires)}.",
            )
        return claims

    @staticmethod
    def _match(claims: Mapping[str, Any], trusted: list[FederatedCredential]) -> None:
        """AADSTS70021 unless a federated credential has the token's issuer, subject and audience."""
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else audiences if isinstance(audiences, list) else []
        issuer, subject = claims.get("iss"), claims.get("sub")
        if not any(
            c.issuer == issuer and c.subject == subject and c.audience in audiences for c in trusted
        ):
            raise _refusal(
                400, "invalid_request", 70021,
                "No matching federated identity record found for presented assertion. "
                f"Assertion Issuer: '{str(issuer)[:200]}'. Assertion Subject: '{str(subject)[:200]}'. "
                f"Assertion Audience: '{','.join(str(a) for a in audiences)[:200]}'.",
            )


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _stamp(value: object) -> str:
    """A claim's time as Entra prints it; the raw value when it is not a number."""
    if not _number(value):
        return repr(value)[:40]
    try:
        return datetime.fromtimestamp(float(value), UTC).strftime("%m/%d/%Y %H:%M:%S")  # type: ignore[arg-type]
    except (OverflowError, OSError, ValueError):
        return repr(value)[:40]
