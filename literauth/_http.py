"""The HTTP token fetcher: requests to one identity endpoint, with retries and deadlines, done right once.

A provider describes its request as a `TokenRequest` (method, URL, query, headers, a form or
JSON body, and the secrets it carries), hands it to `TokenFetcher.send` and parses the
`TokenResponse` with a pure function. Here, and only here, `requests` exceptions become
literauth exceptions, which URLs may be used is decided (`UrlPolicy`), and every fetch is
bounded in wall-clock time.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import os
import platform
import re
import time
import types
import weakref
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, cast
from urllib.parse import urlencode, urlsplit

from ._deadline import Watchdog, reaper, socket_of, watched_adapter_class
from ._policy import RetryPolicy
from ._url import (
    UrlPolicy,
    is_loopback_host,
    is_metadata_host,
)
from ._version import __version__
from .errors import (
    CredentialError,
    MalformedResponseError,
    TokenEndpointError,
    TransportError,
    TransportReason,
)
from .secret import SecretString

if TYPE_CHECKING:  # requests is imported on first use: it is most of an import's cost

    import requests
    import requests.adapters

__all__ = [
    "DEFAULT_TIMEOUT",
    "ErrorDetails",
    "FetcherConfig",
    "TokenFetcher",
    "TokenRequest",
    "TokenResponse",
    "mask_secrets",
    "user_agent",
]

_log = logging.getLogger("literauth.http")
_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"

Timeout = float | tuple[float, float]
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 15.0)  # (connect, read) seconds, per socket operation
MAX_BODY = 1024 * 1024  # a token answer is small: read no more than 1 MiB
_MASK = str(SecretString(""))  # the mask SecretString prints
_ECHO_PIECE = 16  # a piece of a secret this long is treated as the secret
_METHODS = frozenset({"GET", "POST", "PUT"})

FormValue = str | SecretString

# -- names ----------------------------------------------------------------------------------


@functools.cache
def user_agent() -> str:
    """``literauth/<version> python/<x.y> requests/<x.y.z>`` (computed once: it imports requests)."""
    import requests

    major, minor, _ = platform.python_version_tuple()
    return f"literauth/{__version__} python/{major}.{minor} requests/{requests.__version__}"


# -- the request -----------------------------------------------------------------------------


def _expose(value: FormValue) -> str:
    return value.expose_secret() if isinstance(value, SecretString) else value


def _json_default(value: object) -> object:
    if isinstance(value, SecretString):
        return value.expose_secret()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _secrets_in(value: object) -> Iterator[SecretString]:
    if isinstance(value, SecretString):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _secrets_in(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _secrets_in(item)


@dataclasses.dataclass(frozen=True)
class TokenRequest:
    """One request to an identity endpoint, as a value: what to send, and which secrets it holds.

    `url` None means the fetcher's URL; `form` None and `json` None mean no such body. Values in `query`, `headers`, `form` and `json` may be
    `SecretString`s; they are exposed only when the request is sent (or `body_bytes()` is
    asked for) and are masked wherever an error answer echoes them. `extra_secrets` names
    secrets carried inside a larger value, such as the token in ``Bearer <token>``. Prefer
    headers or the body to the query for secrets: urllib3's DEBUG log prints the request line.
    """

    method: str = "POST"
    url: str | None = None
    query: Mapping[str, FormValue] = dataclasses.field(default_factory=dict)
    headers: Mapping[str, FormValue] = dataclasses.field(default_factory=dict)
    form: Mapping[str, FormValue] | None = None
    json: object = None
    extra_secrets: tuple[SecretString, ...] = ()

    def __post_init__(self) -> None:
        method = self.method.upper()
        if method not in _METHODS:
            raise ValueError(f"method must be one of {sorted(_METHODS)}, got {self.method!r}")
        if self.form is not None and self.json is not None:
            raise ValueError("a request carries a form or a JSON body, not both")
        object.__setattr__(self, "method", method)
        for name in ("query", "headers", "form"):  # copied: a caller's dict must not change the value
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, types.MappingProxyType(dict(value)))

    @property
    def secrets(self) -> tuple[SecretString, ...]:
        """Every `SecretString` this request carries, wherever it sits."""
        found = [*_secrets_in(self.query), *_secrets_in(self.headers), *_secrets_in(self.form),
                 *_secrets_in(self.json), *self.extra_secrets]
        return tuple(found)

    @property
    def content_type(self) -> str | None:
        """The body's media type: a form, JSON, or None for no body."""
        if self.form is not None:
            return _FORM
        return _JSON if self.json is not None else None

    def body_bytes(self) -> bytes:
        """The exact body that will be sent (secrets exposed), deterministic for one value.

        For a signing `prepare` hook (SigV4 signs the hash of these bytes).
        """
        if self.form is not None:
            return urlencode([(k, _expose(v)) for k, v in self.form.items()]).encode("ascii")
        if self.json is not None:
            return json_dumps(self.json).encode("utf-8")
        return b""

    def full_url(self) -> str:
        """The URL with the query appended (secrets exposed); needs `url` set."""
        if self.url is None:
            raise ValueError("the request has no URL yet (the fetcher fills it in)")
        if not self.query:
            return self.url
        query = urlencode([(k, _expose(v)) for k, v in self.query.items()])
        return f"{self.url}{'&' if '?' in self.url else '?'}{query}"

    def wire_headers(self) -> dict[str, str]:
        """Every header the fetcher sets (secrets exposed); requests adds only Host,
        Content-Length, Accept-Encoding and Connection."""
        headers = {"Accept": _JSON, "User-Agent": user_agent()}
        if self.content_type is not None:
            headers["Content-Type"] = self.content_type
        lowered = {name.lower(): name for name in headers}
        for name, value in self.headers.items():
            headers.pop(lowered.get(name.lower(), name), None)
            headers[name] = _expose(value)
        return headers

    def with_headers(self, headers: Mapping[str, FormValue]) -> TokenRequest:
        """A copy with `headers` added (replacing any of the same name, case-insensitively)."""
        names = {name.lower() for name in headers}
        kept = {k: v for k, v in self.headers.items() if k.lower() not in names}
        return dataclasses.replace(self, headers={**kept, **headers})

    @property
    def host(self) -> str:
        """The host the request goes to, for messages; empty before the URL is set."""
        return (urlsplit(self.url).hostname or "") if self.url else ""


def json_dumps(value: object) -> str:
    """Compact, deterministic JSON with `SecretString` values exposed."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)


# -- the response and error details ---------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TokenResponse:
    """What came back, with where it came from: `sent_at` is the clock reading before sending.

    `provider`, `host`, `method` and `endpoint` (how messages name it) travel with the body so
    parsers need only the response. `repr` leaves the body out: a token answer holds the token.
    """

    status_code: int
    headers: Mapping[str, str]
    body: bytes = dataclasses.field(repr=False)
    sent_at: float
    elapsed: float
    provider: str = ""
    host: str = ""
    method: str = "POST"
    endpoint: str = "token endpoint"

    @property
    def server_date(self) -> float | None:
        """The server's `Date` header as epoch seconds, `None` when absent or unreadable."""
        return _parse_http_date(self.headers.get("Date"))

    def malformed(self, what: str) -> MalformedResponseError:
        """The error for an unusable answer: ``<provider>: <endpoint> <host> <what>``.

        `what` reads after the host, e.g. "answered without an access_token".
        """
        return MalformedResponseError(
            f"{self.provider}: {self.endpoint} {self.host} {what}", provider=self.provider, host=self.host
        )

    def with_context(self, provider: str, host: str) -> TokenResponse:
        """This response naming `provider` and `host` unless it already names them."""
        if self.provider and self.host:
            return self
        return dataclasses.replace(self, provider=self.provider or provider, host=self.host or host)


@dataclasses.dataclass(frozen=True)
class ErrorDetails:
    """A provider's reading of an error answer: what to put in the `TokenEndpointError`.

    `retryable=None` leaves it to the HTTP status; `reference` carries request or trace ids
    support asks for; `hint` says what the user should check.
    """

    error_code: str | None
    description: str | None = None
    retryable: bool | None = None
    reference: str | None = None
    hint: str | None = None


ErrorParser = Callable[[TokenResponse], ErrorDetails]
Prepare = Callable[[TokenRequest], TokenRequest]


def mask_secrets(info: ErrorDetails, secrets: tuple[SecretString, ...] | list[SecretString]) -> ErrorDetails:
    """`info` with every secret the request carried masked: a server may echo what it got.

    An error code holding a secret, or a long piece of one, is no code and is dropped.
    """
    values = [secret.expose_secret() for secret in secrets if secret.expose_secret()]
    if not values:
        return info

    def masked(text: str | None) -> str | None:
        for value in values:
            if text and value in text:
                text = text.replace(value, _MASK)
        return text

    code = info.error_code
    if code and any(value in code or (len(code) >= _ECHO_PIECE and code in value) for value in values):
        code = None
    return dataclasses.replace(
        info,
        error_code=code,
        description=masked(info.description),
        reference=masked(info.reference),
        hint=masked(info.hint),
    )


def _parse_http_date(value: str | None) -> float | None:
    if not value:
        return None
    import email.utils

    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None or parsed.tzinfo is None:
        return None
    return parsed.timestamp()


def _first_line(text: str | None, limit: int = 300) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


# -- exception mapping ------------------------------------------------------------------------


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and everything behind it: `__cause__`, `__context__`, urllib3's `reason`, and args.

    requests wraps urllib3's error, which wraps `ssl`'s or `socket`'s, in arguments and
    `reason` as well as in the cause chain, so all are followed (each exception once).
    """
    found: list[BaseException] = []
    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        found.append(current)
        linked = (current.__cause__, current.__context__, getattr(current, "reason", None), *current.args)
        pending.extend(item for item in linked if isinstance(item, BaseException))
    return found


def _is_untrusted_certificate(exc: BaseException) -> bool:
    """Whether a certificate verification failure (untrusted, expired, wrong host) is behind `exc`."""
    import ssl  # requests loaded it when the connection was tried

    return any(isinstance(item, ssl.SSLCertVerificationError) for item in _chain(exc))


_TUNNEL = re.compile(r"Tunnel connection failed: (\d{3})")


def _cause_of(chain: list[BaseException]) -> tuple[TransportReason, str, BaseException | None]:
    """The most specific reason behind a failure, its words, and a clean copy of the OS error.

    The copy keeps only the error number and the system's text: the originals hold URLs
    (which may carry a query secret) and tracebacks whose frames hold the exposed request.
    """
    import http.client  # these three are loaded by requests whenever this runs
    import socket
    import ssl

    from urllib3.exceptions import NameResolutionError

    checks: list[tuple[type[BaseException] | tuple[type[BaseException], ...], TransportReason, str]] = [
        (ssl.SSLCertVerificationError, TransportReason.TLS_UNTRUSTED, "the certificate was not trusted"),
        (ConnectionRefusedError, TransportReason.CONNECTION_REFUSED, "connection refused"),
        ((socket.gaierror, NameResolutionError), TransportReason.DNS, "name resolution failed"),
        ((ConnectionResetError, ConnectionAbortedError, BrokenPipeError), TransportReason.RESET, "connection reset"),
        (ssl.SSLError, TransportReason.TLS, "TLS handshake failed"),
        ((TimeoutError, socket.timeout), TransportReason.TIMEOUT, "timed out"),
        (http.client.RemoteDisconnected, TransportReason.RESET, "the connection closed without an answer"),
        (http.client.IncompleteRead, TransportReason.RESET, "the answer broke off"),
    ]
    for kinds, reason, words in checks:
        matching = [item for item in chain if isinstance(item, kinds)]
        if matching:
            copies = (_clean_copy(item) for item in matching)
            return reason, words, next((copy for copy in copies if copy is not None), None)
    for item in chain:
        match = _TUNNEL.search(str(item)) if isinstance(item, OSError) else None
        if match:
            return TransportReason.PROXY, f"the proxy refused the tunnel (HTTP {match.group(1)})", None
    return TransportReason.OTHER, "", None


def _clean_copy(exc: BaseException) -> BaseException | None:
    """A traceback-free copy of an OS-level error with only its number and system text."""
    import http.client

    if isinstance(exc, OSError) and exc.errno is not None:
        try:
            return type(exc)(exc.errno, exc.strerror)
        except TypeError:
            return None
    if isinstance(exc, http.client.RemoteDisconnected):
        return http.client.RemoteDisconnected("Remote end closed connection without response")
    return None


def _chain_types(exc: BaseException) -> str:
    """The exception types behind `exc`, for a DEBUG line (messages may hold secret URLs)."""
    return " <- ".join(type(item).__name__ for item in _chain(exc))


# -- the fetcher ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _is_direct_host(host: str) -> bool:
    """Whether `host` is reached without a proxy (loopback, a metadata service): asked on every
    attempt, and parsing the address each time cost a tenth of the fetcher's own work per refresh."""
    return is_loopback_host(host) or is_metadata_host(host)


@dataclasses.dataclass(frozen=True)
class FetcherConfig:
    """A fetcher's settings, fixed at construction so threads share the fetcher safely.

    `endpoint` is how messages name the endpoint ("token endpoint", "metadata endpoint").
    """

    provider: str
    url: str
    host: str
    timeout: Timeout
    retry: RetryPolicy
    url_policy: UrlPolicy
    endpoint: str = "token endpoint"


_fetchers: weakref.WeakSet[TokenFetcher] = weakref.WeakSet()


class TokenFetcher:
    """Sends requests to one identity endpoint for one provider, owning its `requests.Session`.

    Retries connection errors, timeouts, 429 and 5xx with backoff (honouring `Retry-After`),
    never follows redirects, reads at most 1 MiB of the answer, and bounds every fetch in
    wall-clock time (`deadline_budget`).

    Read timeouts are retried even on a POST: token requests are idempotent (asking twice
    for a token yields two tokens, nothing else changes), so urllib3's reason to refuse
    (`Retry._is_read_error`: the server may have acted on the request) does not apply.

    Proxies: a loopback or metadata target never goes through one (a metadata service is
    link-local, a proxy cannot reach it), even when `HTTP(S)_PROXY` is set without
    `NO_PROXY`; a caller's session that names its own proxy for the scheme is obeyed.
    """

    def __init__(
        self,
        provider: str,
        url: str,
        *,
        session: requests.Session | None = None,
        timeout: Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        url_policy: UrlPolicy = UrlPolicy.DEFAULT,
        endpoint: str = "token endpoint",
    ) -> None:
        checked = url_policy.check(url, f"{provider} {endpoint}")
        self._config = FetcherConfig(
            provider=provider,
            url=checked,
            host=urlsplit(checked).hostname or "",
            timeout=timeout,
            retry=retry or RetryPolicy(),
            url_policy=url_policy,
            endpoint=endpoint,
        )
        self._clock = clock
        self._sleep = sleep
        self._owns_session = session is None
        self._closed = False
        self._session = session  # made on the first request when the caller gave none
        _fetchers.add(self)

    @property
    def config(self) -> FetcherConfig:
        """The fetcher's settings."""
        return self._config

    @property
    def provider(self) -> str:
        """The provider name messages start with."""
        return self._config.provider

    @property
    def url(self) -> str:
        """The endpoint URL, checked against the fetcher's `UrlPolicy`."""
        return self._config.url

    @property
    def host(self) -> str:
        """The endpoint host, for messages."""
        return self._config.host

    @property
    def timeout(self) -> Timeout:
        """The (connect, read) socket timeouts, each capped by the time left in a fetch."""
        return self._config.timeout

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy; its `total_timeout` is the fetch's wall-clock budget."""
        return self._config.retry

    @property
    def deadline_budget(self) -> float:
        """The most wall-clock seconds one `send()` takes, all attempts and pauses included.

        This is what a caller waiting on another thread's fetch needs to wait at most (add a
        little for scheduling). How: each attempt gets socket timeouts capped by the time
        left, and a watchdog that shuts its socket down at the attempt's deadline (connect
        plus read timeout, within the fetch's `RetryPolicy.total_timeout`), which also cuts
        an endpoint trickling a byte at a time. Not cut short: name resolution, and with a
        caller's session, a server trickling its status line or headers (bounded per read).
        """
        return self._config.retry.total_timeout

    # -- session ------------------------------------------------------------------------

    def _get_session(self) -> requests.Session:
        if self._closed:  # a fetch still running when its provider closed: open nothing new
            raise CredentialError(
                f"{self.provider}: the fetcher was closed", provider=self.provider, host=self.host
            )
        session = self._session
        if session is None:
            import requests

            session = requests.Session()
            adapter = watched_adapter_class()
            session.mount("https://", adapter())
            session.mount("http://", adapter())
            self._session = session
        return session

    def _after_fork(self, reset_sessions: set[int]) -> None:
        """In a forked child: never reuse the parent's pooled sockets.

        An own session is dropped unclosed (closing would shut connections the parent still
        uses). A caller's session keeps every setting (headers, proxies, auth, its adapters'
        retries and pool sizes); only its adapters' connection pools are replaced by fresh ones.
        """
        if self._owns_session:
            self._session = None
            return
        session = self._session
        if session is None or id(session) in reset_sessions:
            return
        reset_sessions.add(id(session))
        from requests.adapters import HTTPAdapter

        for adapter in session.adapters.values():
            if isinstance(adapter, HTTPAdapter):
                adapter.__setstate__(adapter.__getstate__())  # type: ignore[attr-defined]  # unpickling: fresh pools

    def close(self) -> None:
        """Close the session if this fetcher created it; later requests are refused."""
        self._closed = True
        if self._owns_session and self._session is not None:
            self._session.close()
            self._session = None

    def _proxies_for(self, session: requests.Session, scheme: str, host: str) -> dict[str, str | None] | None:
        """Explicit "no proxy" for loopback and metadata targets, unless the session names one."""
        if not _is_direct_host(host):
            return None
        own = session.proxies or {}
        if not self._owns_session and any(key in own for key in (scheme, "all", f"{scheme}://{host}")):
            return None
        return {"http": None, "https": None, "all": None}

    def _proxy_in_use(self, session: requests.Session, url: str, proxies: dict[str, str | None] | None) -> str:
        """How a message names the proxy this request went through: ``host:port (from VAR)``."""
        from requests.utils import select_proxy

        try:
            settings = session.merge_environment_settings(url, cast(dict[str, str], dict(proxies or {})), None, None, None)
            proxy = select_proxy(url, settings["proxies"])
        except Exception:  # noqa: BLE001 - naming the proxy is a courtesy, never a new failure
            proxy = None
        if not proxy:
            return "the proxy"
        try:
            parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            default = {"https": 443, "socks5": 1080, "socks5h": 1080, "socks4": 1080}.get(parts.scheme, 80)
            name = f"{parts.hostname}:{parts.port or default}"
        except ValueError:
            name = "an unreadable address"
        source = "the session's proxies" if proxy in (session.proxies or {}).values() else None
        if source is None:
            scheme = urlsplit(url).scheme
            for var in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY", "all_proxy", "ALL_PROXY"):
                if os.environ.get(var) == proxy:
                    source = var
                    break
        return f"proxy {name}" + (f" (from {source})" if source else "")

    # -- sending ------------------------------------------------------------------------

    def send(self, request: TokenRequest, parse_error: ErrorParser, *, prepare: Prepare | None = None) -> TokenResponse:
        """Send `request` and return the 2xx answer; raise a `CredentialError` subclass otherwise.

        `prepare` runs before every attempt on the request as given (with its URL filled in)
        and returns what is actually sent: sign it, or add a fresh session token. A
        `CredentialError` it raises counts as that attempt's failure.
        """
        if request.url is None:
            request = dataclasses.replace(request, url=self.url)
        else:
            self._config.url_policy.check(request.url, f"{self.provider} {self._config.endpoint}")
        retry = self._config.retry
        started = self._clock()
        deadline = time.monotonic() + retry.total_timeout
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._attempt(request, parse_error, prepare, deadline)
            except CredentialError as exc:
                error = exc
            if not error.retryable or attempt >= retry.max_attempts:
                raise error
            delay = retry.delay(attempt, error.retry_after)
            if self._clock() + delay - started > retry.total_timeout or time.monotonic() + delay >= deadline:
                raise error
            _log.debug(
                "%s: attempt %d to %s failed (%s); retrying in %.2fs",
                self.provider, attempt, self.host, type(error).__name__, delay,
            )
            self._sleep(delay)

    def _attempt(
        self, request: TokenRequest, parse_error: ErrorParser, prepare: Prepare | None, deadline: float
    ) -> TokenResponse:
        """One request: the 2xx answer, or a raised `CredentialError` saying whether to retry."""
        import http.client  # loaded with requests by now

        import urllib3.exceptions
        if prepare is not None:
            request = prepare(request)
        host = request.host
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise self._timeout(host, "the time for this fetch ran out")
        connect, read = (self.timeout, self.timeout) if isinstance(self.timeout, (int, float)) else self.timeout
        # Socket timeouts apply per operation; none may outlast the fetch's remaining budget.
        timeout = (min(connect, remaining), min(read, remaining))
        watchdog = Watchdog(time.monotonic() + min(remaining, connect + read))
        session = self._get_session()
        # Exposed here, at the moment of sending, and deleted right after.
        url, headers, data = request.full_url(), request.wire_headers(), request.body_bytes()
        proxies = self._proxies_for(session, urlsplit(url).scheme, host)
        failure: CredentialError | None = None
        sent_at = self._clock()
        tick = time.perf_counter()
        try:
            with watchdog, session.request(
                request.method,
                url,
                data=data or None,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
                proxies=cast("dict[str, str] | None", proxies),  # None values: requests drops the key
            ) as raw:
                watchdog.watch(socket_of(raw))
                body = self._read_capped(raw, host)
                status, resp_headers = raw.status_code, raw.headers
        except MalformedResponseError as exc:
            failure = exc
        except (OSError, ValueError, http.client.HTTPException, urllib3.exceptions.HTTPError) as exc:
            # requests' exceptions are OSErrors; urllib3's and http.client's rarely escape unwrapped
            failure = self._map_exception(exc, host, watchdog.fired, session, url, proxies)
        finally:
            # A traceback keeps this frame alive: drop the exposed secrets now, not at collection.
            del url, headers, data
        if failure is None and watchdog.fired:  # the cut may read as an early end: trust nothing read
            failure = self._timeout(host, "no complete answer within the deadline")
        if failure is not None:
            raise failure
        elapsed = time.perf_counter() - tick
        _log.debug("%s: %s %s -> %d in %.1f ms", self.provider, request.method, host, status, elapsed * 1000)
        response = TokenResponse(
            status, resp_headers, body, sent_at, elapsed, self.provider, host, request.method, self._config.endpoint
        )
        if 200 <= status < 300:
            return response
        if 300 <= status < 400:
            target = urlsplit(resp_headers.get("Location", "")).hostname or "an unnamed location"
            raise TokenEndpointError(
                f"{self.provider}: {self._config.endpoint} {host} answered HTTP {status}, a redirect to "
                f"{target}; redirects are never followed so a secret is not re-posted elsewhere",
                status_code=status, error_code="redirect", provider=self.provider, host=host,
            )
        raise self._endpoint_error(response, parse_error, request.secrets)

    def _read_capped(self, raw: requests.Response, host: str) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in raw.iter_content(chunk_size=65536):
            size += len(chunk)
            if size > MAX_BODY:
                raise MalformedResponseError(
                    f"{self.provider}: {self._config.endpoint} {host} sent more than {MAX_BODY} bytes",
                    provider=self.provider, host=host,
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _timeout(self, host: str, detail: str) -> TransportError:
        return TransportError(
            f"{self.provider}: request to {self._config.endpoint} {host} timed out: {detail}",
            reason=TransportReason.TIMEOUT, provider=self.provider, host=host,
        )

    def _map_exception(
        self,
        exc: BaseException,
        host: str,
        deadline_passed: bool,
        session: requests.Session,
        url: str,
        proxies: dict[str, str | None] | None,
    ) -> CredentialError:
        """The literauth error for an exception from `requests`, urllib3 or the socket.

        Mapped to the most specific reason found anywhere in the chain (httpx's rule). The
        result's cause is a clean copy of the OS-level error, never the original chain.
        """
        import requests.exceptions as rex

        chain = _chain(exc)
        _log.debug("%s: request to %s failed: %s", self.provider, host, _chain_types(exc))
        kind = type(exc).__name__
        where = f"{self.provider}: request to {self._config.endpoint} {host}"
        if deadline_passed:
            return self._timeout(host, f"no complete answer within the deadline ({kind})")
        if isinstance(exc, rex.ContentDecodingError):
            return MalformedResponseError(
                f"{self.provider}: {self._config.endpoint} {host} sent a body that could not be decoded "
                "(its Content-Encoding is broken)",
                provider=self.provider, host=host,
            )
        if isinstance(exc, (rex.InvalidURL, rex.InvalidHeader, rex.MissingSchema, rex.InvalidSchema,
                            rex.URLRequired, rex.InvalidJSONError, UnicodeError)) or (
            isinstance(exc, ValueError) and not isinstance(exc, rex.RequestException)
        ):
            return CredentialError(
                f"{where} could not be sent ({kind}): a URL or header value is not valid",
                provider=self.provider, host=host, retryable=False,
            )
        reason, words, cause = _cause_of(chain)
        if isinstance(exc, rex.Timeout):
            reason, what = TransportReason.TIMEOUT, "timed out"
            words = "connecting" if isinstance(exc, rex.ConnectTimeout) else "waiting for the answer"
        elif isinstance(exc, rex.ProxyError):
            words = f"could not connect to {self._proxy_in_use(session, url, proxies)}" + (
                f": {words}" if words else ""
            )
            reason, what = TransportReason.PROXY, "connection failed"
        elif isinstance(exc, rex.SSLError) or reason in (TransportReason.TLS, TransportReason.TLS_UNTRUSTED):
            if _is_untrusted_certificate(exc):  # the same certificate will not be trusted a second later
                reason, what = TransportReason.TLS_UNTRUSTED, "TLS verification failed (the server certificate was not trusted)"
            else:
                reason, what = TransportReason.TLS, "failed in the TLS handshake"
            words = ""
        elif isinstance(exc, rex.ChunkedEncodingError):
            what = "connection failed"
            words = f"the answer broke off mid-way ({words})" if words else "the answer broke off mid-way"
            reason = TransportReason.RESET if reason is TransportReason.OTHER else reason
        else:
            what = "timed out" if reason is TransportReason.TIMEOUT else "connection failed"
        error = TransportError(
            f"{where} {what} ({kind})" + (f": {words}" if words else ""),
            reason=reason, provider=self.provider, host=host,
        )
        error.__cause__ = cause
        error.__suppress_context__ = True
        return error

    def _endpoint_error(
        self, response: TokenResponse, parse_error: ErrorParser, secrets: tuple[SecretString, ...]
    ) -> TokenEndpointError:
        try:
            info = mask_secrets(parse_error(response), secrets)
        except Exception:  # noqa: BLE001 - a parser bug must not hide the HTTP error
            info = ErrorDetails(None)
        status = response.status_code
        retryable = info.retryable if info.retryable is not None else RetryPolicy.is_retryable_status(status)
        retry_after = RetryPolicy.parse_retry_after(response.headers.get("Retry-After"), self._clock())
        code = info.error_code or f"http_{status}"
        message = f"{self.provider}: {self._config.endpoint} {response.host} answered HTTP {status} {code}"
        description = _first_line(info.description)
        if description:
            message += f": {description}"
        if info.reference:
            message += f" ({_first_line(info.reference, 120)})"  # capped after masking
        if info.hint:
            message = message.rstrip(".") + f". {info.hint}"
        return TokenEndpointError(
            message,
            status_code=status,
            error_code=code,
            description=info.description,
            retryable=retryable,
            retry_after=retry_after,
            provider=self.provider,
            host=response.host,
        )


def _reset_sessions_after_fork() -> None:
    reaper._after_fork()
    reset: set[int] = set()
    for fetcher in list(_fetchers):
        fetcher._after_fork(reset)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_sessions_after_fork)
