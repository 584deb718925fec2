"""Google metadata server: access tokens for the service account of a GCE VM, GKE pod or Cloud Run service.

``GET http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/<account>/token``
with ``Metadata-Flavor: Google``; the answer must carry that header too, or it did not come
from Google's server. The host comes from ``GCE_METADATA_HOST`` (``host[:port]``, as
google-auth reads it) when the provider is built, not when a module is imported. The server
answers plain http only, so this provider alone may use it (`UrlPolicy.METADATA`). Nothing
is probed on construction: a default chain calls `probe()` with its own deadline.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import quote

from .._env import environment, optional
from .._http import ErrorDetails, TokenFetcher, TokenRequest, TokenResponse
from .._oauth import parse_bearer_token
from .._policy import RetryPolicy
from .._url import UrlPolicy, check_endpoint_url
from ..credentials import BearerToken
from ..errors import (
    ConfigurationError,
    CredentialError,
    SourceNotConfigured,
    TransportError,
    TransportReason,
)
from ..provider import RefreshingCredentialProvider
from ._scopes import normalize_scopes

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..provider import ProviderOptions

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_IP",
    "METADATA_FLAVOR",
    "METADATA_PATH",
    "ComputeEngineCredentialProvider",
    "metadata_base_urls",
]

_PROVIDER = "google.compute_engine"
DEFAULT_HOST = "metadata.google.internal"  # what tokens are asked from, as google-auth does
DEFAULT_IP = "169.254.169.254"  # what the probe asks: no name lookup, which may hang off Google
METADATA_PATH = "/computeMetadata/v1"
METADATA_FLAVOR = "Google"  # the header value both ways
_HEADERS = {"Metadata-Flavor": METADATA_FLAVOR}
_MAX_VALUE = 1024  # an e-mail address or project id is short: anything longer is not one
_PROBE_PAUSE = 0.05  # seconds before asking a starting server (5xx, 429) again; doubles each time
_PROBE_AGAIN = frozenset({429, 500, 502, 503, 504})


def _host_url(value: str, variable: str) -> str:
    """The base URL a ``GCE_METADATA_*`` value names: ``host[:port]`` as google-auth reads it (plain
    http), or, as literauth also accepts, a base URL with its scheme (``https://host:port``)."""
    url = value if value.startswith(("http://", "https://")) else f"http://{value}"
    if "/" in url.split("://", 1)[1].rstrip("/"):
        raise ConfigurationError(
            f"{_PROVIDER}: {variable} must be host[:port] (as google-auth reads it) or a base URL "
            f"without a path, got {value[:80]!r}"
        )
    return check_endpoint_url(url, f"{_PROVIDER} {variable}", UrlPolicy.METADATA).rstrip("/")


def metadata_base_urls(env: Mapping[str, str], endpoint: str | None = None) -> tuple[str, str]:
    """(where tokens are asked, where the probe asks) from `endpoint` or the environment.

    `endpoint` (a base URL with its scheme) serves both. Otherwise tokens go to
    ``GCE_METADATA_HOST`` (legacy ``GCE_METADATA_ROOT``, default metadata.google.internal)
    and the probe to ``GCE_METADATA_IP``, else the host variable, else 169.254.169.254.
    """
    if endpoint is not None:
        url = check_endpoint_url(endpoint, f"{_PROVIDER} endpoint", UrlPolicy.METADATA).rstrip("/")
        if "?" in url or "#" in url or url.count("/") > 2:
            raise ConfigurationError(f"{_PROVIDER} endpoint must be a base URL (scheme, host, port), got a path or query")
        return url, url
    host_variable = next((v for v in ("GCE_METADATA_HOST", "GCE_METADATA_ROOT") if optional(env, v)), None)
    token_base = _host_url(optional(env, host_variable) or "", host_variable) if host_variable else f"http://{DEFAULT_HOST}"
    ip = optional(env, "GCE_METADATA_IP")
    probe_base = _host_url(ip, "GCE_METADATA_IP") if ip else token_base if host_variable else f"http://{DEFAULT_IP}"
    return token_base, probe_base


def _check_account(value: object) -> str:
    """``default`` or a service-account e-mail: one path segment."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{_PROVIDER}: service_account must be 'default' or a service-account e-mail")
    account = value.strip()
    if any(c.isspace() or not c.isprintable() or c in "/?#%" for c in account) or len(account) > 256:
        raise ConfigurationError(
            f"{_PROVIDER}: service_account must be 'default' or a service-account e-mail, got {account[:80]!r}"
        )
    return account


@dataclasses.dataclass(frozen=True)
class _Target:
    """What the provider asks for, and where: fixed at construction."""

    account: str
    scopes: tuple[str, ...]
    base: str  #: token and lookup requests go here
    probe_base: str  #: `probe()` asks here

    @property
    def account_url(self) -> str:
        return f"{self.base}{METADATA_PATH}/instance/service-accounts/{quote(self.account, safe='@')}"


class _Lookups:
    """The service-account e-mail and the project id: each asked once, then kept (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: dict[str, str] = {}


class ComputeEngineCredentialProvider(RefreshingCredentialProvider):
    """Bearer tokens for the service account the metadata server holds (GCE, GKE, Cloud Run, Functions).

    `service_account` is ``default`` or the e-mail of another account attached to the
    instance. `scopes` (one, several separated by spaces, or an iterable) are sent as
    ``?scopes=a,b``; None sends none, and the server uses the instance's (GCE ignores
    requested scopes; Cloud Run and GKE honour them). `endpoint` is a base URL replacing the
    metadata server (``http://127.0.0.1:8080``); otherwise ``GCE_METADATA_HOST`` and
    ``GCE_METADATA_IP`` are read from `environ` (default `os.environ`) here, once. See
    `ProviderOptions` for the caching and HTTP options; retries of 5xx and 429 follow `retry`.
    """

    provider_name = _PROVIDER
    credential_type: ClassVar[type[BearerToken]] = BearerToken
    #: Nothing is required: without variables the provider asks metadata.google.internal.
    REQUIRED_ENV: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        service_account: str = "default",
        scopes: str | Iterable[str] | None = None,
        endpoint: str | None = None,
        environ: Mapping[str, str] | None = None,
        **options: Unpack[ProviderOptions],
    ) -> None:
        super().__init__(**options)
        base, probe_base = metadata_base_urls(environment(environ), endpoint)
        chosen = () if scopes is None else normalize_scopes(_PROVIDER, scopes)
        self._target = _Target(_check_account(service_account), chosen, base, probe_base)
        query = {"scopes": ",".join(chosen)} if chosen else {}
        self._request = TokenRequest(method="GET", query=query, headers=_HEADERS)
        self._fetcher = self._make_fetcher(
            f"{self._target.account_url}/token", url_policy=UrlPolicy.METADATA, endpoint="metadata server"
        )
        self._lookups = _Lookups()

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        service_account: str = "default",
        scopes: str | Iterable[str] | None = None,
        **options: Unpack[ProviderOptions],
    ) -> ComputeEngineCredentialProvider:
        """The provider at ``GCE_METADATA_HOST`` (default metadata.google.internal); no request is made."""
        return cls(service_account=service_account, scopes=scopes, environ=environment(environ), **options)

    def with_scope(self, scope: str | Iterable[str]) -> ComputeEngineCredentialProvider:
        """The same account and server for other scopes: a new provider with its own, empty cache."""
        target = self._target
        if target.base == target.probe_base:
            return type(self)(service_account=target.account, scopes=scope, endpoint=target.base, **self._options)
        hosts = {"GCE_METADATA_HOST": target.base.split("://", 1)[1],
                 "GCE_METADATA_IP": target.probe_base.split("://", 1)[1]}
        return type(self)(service_account=target.account, scopes=scope, environ=hosts, **self._options)

    # -- what it is ------------------------------------------------------------------------

    @property
    def service_account(self) -> str:
        """The account asked for: ``default`` or an e-mail."""
        return self._target.account

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes sent; empty when the instance's scopes apply."""
        return self._target.scopes

    @property
    def token_url(self) -> str:
        """The URL tokens are requested from (without the query)."""
        return self._fetcher.url

    @property
    def service_account_email(self) -> str:
        """The account's e-mail, asked from the server once (``.../<account>/email``)."""
        return self._lookup("email", f"{self._target.account_url}/email")

    @property
    def project_id(self) -> str:
        """The project the instance runs in, asked from the server once (``project/project-id``)."""
        return self._lookup("project_id", f"{self._target.base}{METADATA_PATH}/project/project-id")

    def _lookup(self, name: str, url: str) -> str:
        lookups = self._lookups
        value = lookups.values.get(name)
        if value is not None:
            return value
        with lookups.lock:  # one request, whoever asks at the same time
            value = lookups.values.get(name)
            if value is None:
                response = self._fetcher.send(TokenRequest(method="GET", url=url, headers=_HEADERS), parse_error)
                value = lookups.values[name] = _text_value(response, name.replace("_", " "))
            return value

    def _repr_fields(self) -> dict[str, object]:
        fields: dict[str, object] = {"service_account": self._target.account, "host": self._fetcher.host}
        if self._target.scopes:
            fields["scopes"] = " ".join(self._target.scopes)
        return fields

    def _cache_identity(self) -> tuple[dict[str, str], bytes | None] | None:
        """Server, account and scopes; no local secret (the metadata server holds it)."""
        return {"endpoint": self._fetcher.url, "account": self._target.account,
                "scope": " ".join(self._target.scopes)}, None

    # -- requests ----------------------------------------------------------------------------

    def _fetch(self) -> BearerToken:
        """One GET of ``.../token``; an answer without ``Metadata-Flavor: Google`` is refused."""
        return parse_token(self._fetcher.send(self._request, parse_error))

    def probe(self, timeout: float) -> None:
        """Return if a Google metadata server answers within `timeout` seconds; else `SourceNotConfigured`.

        ``GET /`` with ``Metadata-Flavor: Google`` to the probe host (``GCE_METADATA_IP``,
        default 169.254.169.254, which needs no name lookup), as google-auth pings; the
        answer must be a 2xx carrying ``Metadata-Flavor: Google``. A 5xx or 429 (a server
        still starting) is asked again while time is left; a refused connection fails at
        once; a host that never answers costs `timeout` seconds, total, whatever the retries.
        """
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (
            math.isfinite(timeout) and timeout > 0
        ):
            raise ConfigurationError(f"{_PROVIDER}: probe timeout must be a positive number of seconds, got {timeout!r}")
        started = time.monotonic()
        deadline = started + timeout
        where = self._target.probe_base.split("://", 1)[1]
        pause = _PROBE_PAUSE
        while True:
            problem, again = self._probe_once(deadline - time.monotonic(), timeout, started)
            if problem is None:
                return
            if not again or time.monotonic() + pause >= deadline:
                raise SourceNotConfigured(f"no Google metadata server at {where}: {problem}")
            time.sleep(pause)  # wall clock on purpose: the deadline is the caller's real time
            pause *= 2

    def _probe_once(self, remaining: float, timeout: float, started: float) -> tuple[str | None, bool]:
        """One probe request within `remaining` seconds: (why it found no server, whether to ask again)."""
        fetcher = TokenFetcher(
            _PROVIDER, f"{self._target.probe_base}/", session=self._settings.http.session,
            timeout=(remaining, remaining), retry=RetryPolicy(max_attempts=1, total_timeout=remaining),
            url_policy=UrlPolicy.METADATA, endpoint="metadata server",
        )
        try:
            response = fetcher.send(TokenRequest(method="GET", headers=_HEADERS), _no_details)
        except CredentialError as exc:
            status = getattr(exc, "status_code", None)
            return _probe_failure(exc, timeout, time.monotonic() - started), status in _PROBE_AGAIN
        finally:
            fetcher.close()
        if response.headers.get("Metadata-Flavor") != METADATA_FLAVOR:
            return "answered without Metadata-Flavor: Google; it is not a Google metadata server", False
        return None, False


# -- reading answers ------------------------------------------------------------------------


def _check_flavour(response: TokenResponse) -> None:
    if response.headers.get("Metadata-Flavor") != METADATA_FLAVOR:
        raise response.malformed(
            "answered without the Metadata-Flavor: Google header, so it is not Google's metadata "
            "server (check GCE_METADATA_HOST, and that no proxy answers for it)"
        )


def parse_token(response: TokenResponse) -> BearerToken:
    """A `BearerToken` from the metadata server's answer; `MalformedResponseError` otherwise."""
    _check_flavour(response)
    return parse_bearer_token(response)


def _text_value(response: TokenResponse, what: str) -> str:
    """A plain-text value (an e-mail, a project id): one short printable line."""
    _check_flavour(response)
    try:
        value: str | None = response.body.decode("utf-8").strip()
    except UnicodeDecodeError:
        value = None
    if not value or len(value) > _MAX_VALUE or any(c.isspace() or not c.isprintable() for c in value):
        raise response.malformed(f"answered with no usable {what}")
    return value


_HINTS: Mapping[int, str] = {
    403: "The metadata server refused the request: it needs the Metadata-Flavor: Google header and "
         "refuses requests with X-Forwarded-For (a proxy in between)",
    404: "The instance has no such service account, or none at all: attach one to the VM, node pool "
         "or service (or check service_account=)",
}


def parse_error(response: TokenResponse) -> ErrorDetails:
    """The metadata server's error answers are short texts: the first line, and a hint for 403 and 404."""
    try:
        text = response.body[:300].decode("utf-8", "replace").strip()
    except Exception:  # noqa: BLE001 - a description is a courtesy
        text = ""
    description = text.splitlines()[0] if text and not text.startswith("<") else None
    return ErrorDetails(error_code=None, description=description, hint=_HINTS.get(response.status_code))


def _no_details(response: TokenResponse) -> ErrorDetails:
    return ErrorDetails(None)


def _probe_failure(exc: CredentialError, timeout: float, elapsed: float) -> str:
    """Why the probe found no server, in words for `describe()`."""
    if isinstance(exc, TransportError) and exc.reason is TransportReason.CONNECTION_REFUSED:
        return f"connection refused after {elapsed * 1000:.0f} ms"
    if isinstance(exc, TransportError) and exc.reason is TransportReason.TIMEOUT:
        return f"no answer within {timeout:g} s"
    status = getattr(exc, "status_code", None)
    if status is not None:
        return f"answered HTTP {status}, not as a Google metadata server does"
    reason = getattr(exc, "reason", None)
    return f"unreachable ({reason.value if isinstance(reason, TransportReason) else type(exc).__name__})"

