"""Azure managed identity: bearer tokens for the identity Azure assigns to a VM, app or container.

Two flavours, chosen once at construction from the environment and reported by `flavour`:

- **App Service / Functions / Container Apps** (``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER``
  set): a local endpoint the platform runs, authenticated by the ``X-IDENTITY-HEADER`` secret.
- **Azure IMDS** otherwise: the link-local instance metadata service at 169.254.169.254,
  which only answers plain http, so this provider alone may use it (`UrlPolicy.METADATA`).

No secret is configured; the engine caches the token and refreshes it ahead of expiry.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, ClassVar, Literal

from .. import _safejson
from .._env import environment, optional
from .._http import ErrorDetails, TokenFetcher, TokenRequest, TokenResponse
from .._oauth import _seconds, parse_bearer_token
from .._policy import RetryPolicy
from .._url import UrlPolicy, check_endpoint_url
from ..credentials import BearerToken
from ..errors import (
    ConfigurationError,
    SourceNotConfigured,
    TokenEndpointError,
    TransportError,
)
from ..provider import RefreshingCredentialProvider
from ..secret import SecretString
from ._common import DEFAULT_SCOPE, check_client_id, check_scope

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..provider import ProviderOptions

__all__ = [
    "APP_SERVICE_API_VERSION",
    "IMDS_API_VERSION",
    "IMDS_HOST",
    "IMDS_PATH",
    "IMDS_RETRY",
    "ManagedIdentityCredentialProvider",
    "parse_error",
    "parse_token",
]

_PROVIDER = "azure.managed_identity"
IMDS_HOST = "http://169.254.169.254"
IMDS_PATH = "/metadata/identity/oauth2/token"
IMDS_API_VERSION = "2018-02-01"
APP_SERVICE_API_VERSION = "2019-08-01"
Flavour = Literal["imds", "app_service"]
#: IMDS's own retry budget: Azure asks for at least 70 s of retries on 410 (IMDS being
#: updated) and retries 404 (starting), 429 and 5xx too; backoff doubles from 1 s up to 20 s.
#: Used when the caller gives no `retry=`; App Service keeps the default policy.
IMDS_RETRY = RetryPolicy(max_attempts=10, backoff_base=1.0, backoff_max=20.0, total_timeout=72.0)

#: The query parameter naming a user-assigned identity, by flavour and by constructor argument.
_ID_PARAMETERS: Mapping[Flavour, Mapping[str, str]] = {
    "imds": {"client_id": "client_id", "object_id": "object_id", "resource_id": "msi_res_id"},
    "app_service": {"client_id": "client_id", "object_id": "object_id", "resource_id": "mi_res_id"},
}
#: Environments of managed-identity flavours this provider does not speak, and their names.
_UNSUPPORTED: tuple[tuple[str, str], ...] = (
    ("IDENTITY_SERVER_THUMBPRINT", "Service Fabric"),
    ("MSI_ENDPOINT", "Cloud Shell / Azure ML (MSI_ENDPOINT)"),
)


class ManagedIdentityCredentialProvider(RefreshingCredentialProvider):
    """Bearer tokens for the managed identity of the Azure resource this code runs on.

    Without `client_id`, `object_id` or `resource_id` the system-assigned identity is used;
    one of them (at most one) selects a user-assigned identity. `scope` is one
    ``<resource>/.default`` value, sent as ``resource=<resource>``. `endpoint` replaces the
    IMDS base URL (as ``AZURE_POD_IDENTITY_AUTHORITY_HOST`` does) and forces the IMDS
    flavour. `environ` (default `os.environ`) is read once, here: the flavour never changes
    afterwards. See `ProviderOptions` for the caching and HTTP options.
    """

    provider_name = _PROVIDER
    credential_type: ClassVar[type[BearerToken]] = BearerToken
    #: Nothing is required: without any variable the provider asks IMDS.
    REQUIRED_ENV: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        client_id: str | None = None,
        object_id: str | None = None,
        resource_id: str | None = None,
        scope: str = DEFAULT_SCOPE,
        endpoint: str | None = None,
        environ: Mapping[str, str] | None = None,
        **options: Unpack[ProviderOptions],
    ) -> None:
        flavour, self._token_url, self._header = _select(environment(environ), endpoint)
        if flavour == "imds":
            options.setdefault("retry", IMDS_RETRY)
        super().__init__(**options)
        self._flavour: Flavour = flavour
        self._identity = _check_identity(client_id, object_id, resource_id)
        self._scope = check_scope(_PROVIDER, scope)
        query: dict[str, str] = {
            "api-version": IMDS_API_VERSION if self._flavour == "imds" else APP_SERVICE_API_VERSION,
            "resource": self.resource,
        }
        if self._identity is not None:
            kind, value = self._identity
            query[_ID_PARAMETERS[self._flavour][kind]] = value
        headers: dict[str, str | SecretString] = {"Metadata": "true"}
        if self._header is not None:
            headers["X-IDENTITY-HEADER"] = self._header
        self._request = TokenRequest(method="GET", query=query, headers=headers)
        policy = UrlPolicy.METADATA if self._flavour == "imds" else UrlPolicy.DEFAULT
        endpoint_name = "IMDS endpoint" if self._flavour == "imds" else "App Service identity endpoint"
        self._fetcher = self._make_fetcher(self._token_url, url_policy=policy, endpoint=endpoint_name)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **options: Unpack[ProviderOptions]
    ) -> ManagedIdentityCredentialProvider:
        """A provider configured from environment variables (`os.environ` when `environ` is None).

        ``IDENTITY_ENDPOINT`` with ``IDENTITY_HEADER`` selects App Service; otherwise IMDS, at
        ``AZURE_POD_IDENTITY_AUTHORITY_HOST`` when set. ``AZURE_CLIENT_ID`` selects a
        user-assigned identity, ``AZURE_AD_SCOPE`` the scope. No request is made here.
        """
        env = environment(environ)
        return cls(
            client_id=optional(env, "AZURE_CLIENT_ID"),
            scope=optional(env, "AZURE_AD_SCOPE") or DEFAULT_SCOPE,
            environ=env,
            **options,
        )

    def with_scope(self, scope: str) -> ManagedIdentityCredentialProvider:
        """The same identity for another scope: a new provider with its own, empty cache."""
        kind, value = self._identity or ("", None)
        ids = {name: value if kind == name else None for name in ("client_id", "object_id", "resource_id")}
        if self._header is None:  # IMDS: the same base URL, whatever the environment says now
            base = self._token_url[: -len(IMDS_PATH)]
            return type(self)(scope=scope, endpoint=base, client_id=ids["client_id"],
                              object_id=ids["object_id"], resource_id=ids["resource_id"], **self._options)
        environ = {"IDENTITY_ENDPOINT": self._token_url, "IDENTITY_HEADER": self._header.expose_secret()}
        return type(self)(scope=scope, environ=environ, client_id=ids["client_id"],
                          object_id=ids["object_id"], resource_id=ids["resource_id"], **self._options)

    @property
    def flavour(self) -> Flavour:
        """``"imds"`` or ``"app_service"``: which endpoint was chosen at construction."""
        return self._flavour

    @property
    def token_url(self) -> str:
        """The URL tokens are requested from (without the query)."""
        return self._token_url

    @property
    def scope(self) -> str:
        """The scope tokens are requested for."""
        return self._scope

    @property
    def resource(self) -> str:
        """The resource sent on the wire: the scope without ``/.default``."""
        return self._scope[: -len("/.default")]

    def probe(self, timeout: float) -> None:
        """Whether an IMDS answers here, within `timeout` seconds in all: `SourceNotConfigured` if not.

        One GET without the ``Metadata`` header (a real IMDS refuses it at once with a 400,
        and issues no token), no retry, connect and read both inside the one deadline, so a
        machine off Azure costs a refused connection (about a millisecond) or at most
        `timeout` when the address swallows packets. Any HTTP answer means IMDS is there.
        App Service needs no probe: its variables already say the endpoint is there.
        """
        if self._flavour != "imds":
            return
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 < timeout < 3600:
            raise ConfigurationError(f"{_PROVIDER}: probe timeout must be a positive number of seconds, got {timeout!r:.40}")
        fetcher = TokenFetcher(
            _PROVIDER, self._token_url, session=self._settings.http.session, url_policy=UrlPolicy.METADATA,
            endpoint="IMDS endpoint", timeout=(timeout, timeout), retry=RetryPolicy(max_attempts=1, total_timeout=timeout),
        )
        query = {"api-version": IMDS_API_VERSION, "resource": self.resource}
        started = time.monotonic()
        try:
            fetcher.send(TokenRequest(method="GET", query=query), parse_error)
        except TokenEndpointError:
            return  # IMDS answered (400: no Metadata header): it is here
        except TransportError as exc:
            elapsed = (time.monotonic() - started) * 1000
            raise SourceNotConfigured(
                f"{_PROVIDER}: no IMDS at {fetcher.host} ({exc.reason.value} after {elapsed:.0f} ms; "
                f"probe deadline {timeout:g} s)"
            ) from None
        finally:
            fetcher.close()

    def _fetch(self) -> BearerToken:
        """One GET to the chosen endpoint; its answer parsed by `parse_token`."""
        return parse_token(self._fetcher.send(self._request, parse_error))

    def _cache_identity(self) -> tuple[dict[str, str], None]:
        """Flavour, endpoint, scope and the user-assigned identity; no local secret."""
        fields = {"flavour": self._flavour, "endpoint": self._token_url, "scope": self._scope}
        if self._identity is not None:
            fields[self._identity[0]] = self._identity[1]
        return fields, None

    def _repr_fields(self) -> dict[str, object]:
        fields: dict[str, object] = {"flavour": self._flavour, "scope": self._scope}
        if self._identity is not None:
            fields[self._identity[0]] = self._identity[1]
        return fields


# -- configuration ------------------------------------------------------------------------


def _check_identity(client_id: object, object_id: object, resource_id: object) -> tuple[str, str] | None:
    """The user-assigned identity as ``(argument, value)``, or None for the system-assigned one."""
    given = {name: value for name, value in
             (("client_id", client_id), ("object_id", object_id), ("resource_id", resource_id)) if value is not None}
    if len(given) > 1:
        raise ConfigurationError(
            f"{_PROVIDER}: give at most one of client_id, object_id and resource_id to select a "
            f"user-assigned identity; got {', '.join(sorted(given))}"
        )
    if not given:
        return None
    name, value = next(iter(given.items()))
    try:
        checked = check_client_id(_PROVIDER, value)
    except ConfigurationError as exc:  # the shared check names client_id; say which argument it was
        raise ConfigurationError(str(exc).replace("client_id", name, 1)) from None
    if name == "resource_id" and not checked.lower().startswith("/subscriptions/"):
        raise ConfigurationError(
            f"{_PROVIDER}: resource_id must be the identity's ARM resource id, "
            "'/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.ManagedIdentity/"
            f"userAssignedIdentities/<name>'; got {checked[:80]!r}"
        )
    return name, checked


def _select(env: Mapping[str, str], endpoint: str | None) -> tuple[Flavour, str, SecretString | None]:
    """The flavour, the token URL and the App Service header secret, from `endpoint` or `env`."""
    if endpoint is not None:
        return "imds", _imds_url(endpoint, "endpoint"), None
    identity_endpoint = optional(env, "IDENTITY_ENDPOINT")
    identity_header = optional(env, "IDENTITY_HEADER")
    for variable, flavour in _UNSUPPORTED:
        if optional(env, variable) is not None:
            raise ConfigurationError(
                f"{_PROVIDER}: {variable} is set, which selects {flavour} managed identity; "
                "only App Service (IDENTITY_ENDPOINT + IDENTITY_HEADER) and IMDS are supported"
            )
    if identity_endpoint is not None and identity_header is not None:
        url = check_endpoint_url(identity_endpoint, f"{_PROVIDER} IDENTITY_ENDPOINT")
        return "app_service", url, SecretString(identity_header)
    if (identity_endpoint is None) != (identity_header is None):
        present, absent = (("IDENTITY_ENDPOINT", "IDENTITY_HEADER") if identity_endpoint is not None
                           else ("IDENTITY_HEADER", "IDENTITY_ENDPOINT"))
        raise ConfigurationError(
            f"{_PROVIDER}: {present} is set but {absent} is not; App Service managed identity needs "
            "both (Azure Arc, which sets IDENTITY_ENDPOINT alone, is not supported)"
        )
    host = optional(env, "AZURE_POD_IDENTITY_AUTHORITY_HOST")
    return "imds", _imds_url(host or IMDS_HOST, "AZURE_POD_IDENTITY_AUTHORITY_HOST" if host else "IMDS host"), None


def _imds_url(base: str, what: str) -> str:
    """`base` (scheme and host, as azure-identity takes it) with the IMDS token path appended."""
    url = check_endpoint_url(base, f"{_PROVIDER} {what}", UrlPolicy.METADATA).rstrip("/")
    if "?" in url or "#" in url:
        raise ConfigurationError(f"{_PROVIDER} {what} must be a base URL without a query or fragment")
    return url + IMDS_PATH


# -- reading answers --------------------------------------------------------------------------

#: The date format App Service's 2017 API sent: "12/01/2026 10:00:00 +00:00", or with AM/PM.
_LEGACY_DATE = re.compile(
    r"(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2}):(\d{2}):(\d{2})(?: ?([AaPp][Mm]))? ?([+-])(\d{2}):?(\d{2})"
)


def _legacy_date(value: str) -> float | None:
    """Epoch seconds of a legacy App Service date string, or None when it is not one."""
    match = _LEGACY_DATE.fullmatch(value.strip())
    if match is None:
        return None
    month, day, year, hour, minute, second = (int(part) for part in match.groups()[:6])
    meridiem, sign, off_h, off_m = match.group(7), match.group(8), int(match.group(9)), int(match.group(10))
    if meridiem and meridiem.upper() == "PM" and hour < 12:
        hour += 12
    elif meridiem and meridiem.upper() == "AM" and hour == 12:
        hour = 0
    offset = timedelta(hours=off_h, minutes=off_m) * (-1 if sign == "-" else 1)
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=timezone(offset)).timestamp()
    except ValueError:
        return None


def _expiry(data: Mapping[str, object], sent_at: float) -> float | None:
    """Epoch seconds the token expires: `expires_on` (number, numeric string or legacy date) first."""
    expires_on = data.get("expires_on")
    on = _seconds(expires_on)
    if on is None and isinstance(expires_on, str):
        on = _legacy_date(expires_on)
    if on is not None:
        return on
    expires_in = _seconds(data.get("expires_in"))
    return None if expires_in is None else sent_at + expires_in


def parse_token(response: TokenResponse) -> BearerToken:
    """A `BearerToken` from an IMDS or App Service answer; `MalformedResponseError` otherwise."""
    return parse_bearer_token(response, expiry=_expiry, expiry_field="expires_on or expires_in")


_NO_IDENTITY_HINT = (
    "The machine has no managed identity assigned, or none with the client_id/object_id/resource_id "
    "given; assign one (system- or user-assigned) to the VM, scale set or node pool"
)


def parse_error(response: TokenResponse) -> ErrorDetails:
    """IMDS's ``{"error", "error_description"}`` or App Service's ``{"statusCode", "message"}``.

    404 and 410 are retryable (IMDS answers them while it starts or is updated, as Azure
    documents); a 400 "Identity not found" gets a hint saying what to assign.
    """
    data = _safejson.loads(response.body)
    code: str | None = None
    description: str | None = None
    if isinstance(data, dict):
        error, message = data.get("error"), data.get("error_description")
        if isinstance(error, dict):  # {"error": {"code": ..., "message": ...}}
            nested: dict[str, object] = error
            error, message = nested.get("code"), nested.get("message")
        if message is None:
            message = data.get("message") or data.get("Message")
        code = error.strip() if isinstance(error, str) and error.strip() else None
        description = message.strip() if isinstance(message, str) and message.strip() else None
    status = response.status_code
    hint = None
    if status == 400 and description is not None and "identity not found" in description.lower():
        hint = _NO_IDENTITY_HINT
    return ErrorDetails(
        error_code=code,
        description=description,
        retryable=True if status in (404, 410) else None,
        hint=hint,
    )
