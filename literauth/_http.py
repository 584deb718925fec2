"""The HTTP token fetcher: one POST to a token endpoint, with retries, done right once.

Every provider hands its form to `TokenFetcher.post_form` and parses the answer itself.
Here, and only here, `requests` exceptions become literauth exceptions.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import platform
import time
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlencode, urlsplit, urlunsplit

from ._policy import RetryPolicy
from ._version import __version__
from .errors import (
    ConfigurationError,
    CredentialError,
    MalformedResponseError,
    TokenEndpointError,
    TransportError,
)
from .secret import SecretString

if TYPE_CHECKING:  # requests is imported on first use: it is most of an import's cost
    import requests

__all__ = [
    "DEFAULT_TIMEOUT",
    "EndpointError",
    "TokenFetcher",
    "TokenResponse",
    "check_endpoint_url",
    "is_loopback_host",
    "mask_secrets",
]

_log = logging.getLogger("literauth.http")
_FORM = "application/x-www-form-urlencoded"

Timeout = float | tuple[float, float]
DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 15.0)  # (connect, read) seconds
MAX_BODY = 1024 * 1024  # a token answer is small: read no more than 1 MiB


def user_agent() -> str:
    """``literauth/<version> python/<x.y> requests/<x.y.z>``."""
    import requests

    major, minor, _ = platform.python_version_tuple()
    return f"literauth/{__version__} python/{major}.{minor} requests/{requests.__version__}"


def is_loopback_host(host: str) -> bool:
    """Whether `host` names this machine: localhost, 127.0.0.0/8 or ::1."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint_url(url: str, what: str) -> str:
    """Return `url` if it is https, or http on a loopback host; else raise ConfigurationError.

    Error messages quote only scheme, host and path: user information or a query string
    could carry a secret.
    """
    if not isinstance(url, str) or not url.strip():
        raise ConfigurationError(f"{what} must be a non-empty URL")
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        has_user = bool(parts.username or parts.password)
        parts.port  # noqa: B018 - a malformed port raises here, not at the first request
    except ValueError:
        raise ConfigurationError(f"{what} is not a valid URL") from None
    if has_user:
        raise ConfigurationError(f"{what} must not carry user information")
    shown = urlunsplit((parts.scheme, host, parts.path, "", ""))
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigurationError(f"{what} must be an absolute https:// URL, got {shown!r}")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ConfigurationError(
            f"{what} must use https:// (plain http is only allowed on loopback), got {shown!r}"
        )
    return url.strip()


@dataclasses.dataclass(frozen=True)
class TokenResponse:
    """What came back from the endpoint; `sent_at` is the clock reading before sending.

    `repr` leaves the body out: a token answer holds the token.
    """

    status_code: int
    headers: Mapping[str, str]
    body: bytes = dataclasses.field(repr=False)
    sent_at: float
    elapsed: float

    @property
    def server_date(self) -> float | None:
        """The server's `Date` header as epoch seconds, `None` when absent or unreadable."""
        return _parse_http_date(self.headers.get("Date"))


@dataclasses.dataclass(frozen=True)
class EndpointError:
    """A provider's reading of an error answer: what to put in the `TokenEndpointError`.

    `retryable=None` leaves it to the HTTP status; `reference` carries request or trace ids
    support asks for; `hint` says what the user should check.
    """

    error_code: str | None
    description: str | None = None
    retryable: bool | None = None
    reference: str | None = None
    hint: str | None = None


class _Lazy:
    """A value computed on first use (the User-Agent needs the requests version)."""

    def __init__(self, make: Callable[[], str]) -> None:
        self._make = make
        self._value: str | None = None

    def value(self) -> str:
        if self._value is None:
            self._value = self._make()
        return self._value


_USER_AGENT = _Lazy(user_agent)

def mask_secrets(info: EndpointError, secrets: list[SecretString]) -> EndpointError:
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


_MASK = str(SecretString(""))  # the mask SecretString prints
_ECHO_PIECE = 16  # a piece of a secret this long is treated as the secret

ErrorParser = Callable[[TokenResponse], EndpointError]
FormValue = str | SecretString

_fetchers: weakref.WeakSet[TokenFetcher] = weakref.WeakSet()


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


class TokenFetcher:
    """Posts forms to one token endpoint for one provider, owning its `requests.Session`.

    Retries connection errors, timeouts, 429 and 5xx with backoff (honouring `Retry-After`),
    never follows redirects, and reads at most 1 MiB of the answer.
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
    ) -> None:
        self.provider = provider
        self.url = check_endpoint_url(url, f"{provider} token endpoint")
        self.host = urlsplit(self.url).hostname or ""
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._clock = clock
        self._sleep = sleep
        self._owns_session = session is None
        self._session = session  # made on the first request when the caller gave none
        self.requests_made = 0
        _fetchers.add(self)

    def _get_session(self) -> requests.Session:
        session = self._session
        if session is None:
            import requests

            session = self._session = requests.Session()
        return session

    def _after_fork(self) -> None:
        # The parent's pooled sockets must not be shared; drop them unclosed.
        if self._owns_session:
            self._session = None

    def close(self) -> None:
        """Close the session if this fetcher created it."""
        if self._owns_session and self._session is not None:
            self._session.close()
            self._session = None

    def post_form(
        self,
        form: Mapping[str, FormValue],
        parse_error: ErrorParser,
        *,
        accept: str = "application/json",
    ) -> TokenResponse:
        """POST `form` and return the 2xx answer; raise a `CredentialError` subclass otherwise."""
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            outcome = self._attempt(form, parse_error, accept)
            if isinstance(outcome, TokenResponse):
                return outcome
            error, retryable = outcome
            if not retryable or attempt >= self.retry.max_attempts:
                raise error
            retry_after = error.retry_after if isinstance(error, TokenEndpointError) else None
            delay = self.retry.delay(attempt, retry_after)
            if self._clock() + delay - started > self.retry.total_timeout:
                raise error
            _log.debug(
                "%s: attempt %d to %s failed (%s); retrying in %.2fs",
                self.provider, attempt, self.host, type(error).__name__, delay,
            )
            self._sleep(delay)

    def _attempt(
        self, form: Mapping[str, FormValue], parse_error: ErrorParser, accept: str
    ) -> TokenResponse | tuple[CredentialError, bool]:
        """The 2xx answer, or the error with whether another attempt could help."""
        import requests

        session = self._get_session()
        # Encoded here, not by requests: its dict handling costs more than the rest of our work.
        data = urlencode(
            [(k, v.expose_secret() if isinstance(v, SecretString) else v) for k, v in form.items()]
        )
        headers = {"Accept": accept, "User-Agent": _USER_AGENT.value(), "Content-Type": _FORM}
        sent_at = self._clock()
        tick = time.perf_counter()
        self.requests_made += 1
        try:
            with session.post(
                self.url,
                data=data,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
                stream=True,
            ) as raw:
                body = self._read_capped(raw)
                status, resp_headers = raw.status_code, raw.headers
        except MalformedResponseError as exc:
            return exc, False
        except requests.exceptions.SSLError as exc:
            if _is_untrusted_certificate(exc):  # the same certificate will not be trusted a second later
                return self._transport_error(
                    "TLS verification failed (the server certificate was not trusted)", exc
                ), False
            return self._transport_error("failed in the TLS handshake", exc), True
        except requests.exceptions.Timeout as exc:
            return self._transport_error("timed out", exc), True
        except requests.exceptions.RequestException as exc:
            return self._transport_error("connection failed", exc), True
        finally:
            del data
        elapsed = time.perf_counter() - tick
        _log.debug("%s: POST %s -> %d in %.1f ms", self.provider, self.host, status, elapsed * 1000)
        response = TokenResponse(status, resp_headers, body, sent_at, elapsed)
        if 200 <= status < 300:
            return response
        if 300 <= status < 400:
            target = urlsplit(resp_headers.get("Location", "")).hostname or "an unnamed location"
            return TokenEndpointError(
                f"{self.provider}: token endpoint {self.host} answered HTTP {status}, a redirect to "
                f"{target}; redirects are never followed so a secret is not re-posted elsewhere",
                status_code=status, error_code="redirect", provider=self.provider, host=self.host,
            ), False
        secrets = [value for value in form.values() if isinstance(value, SecretString)]
        error = self._endpoint_error(response, parse_error, secrets)
        return error, error.retryable

    def _read_capped(self, raw: requests.Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in raw.iter_content(chunk_size=65536):
            size += len(chunk)
            if size > MAX_BODY:
                raise MalformedResponseError(
                    f"{self.provider}: token endpoint {self.host} sent more than {MAX_BODY} bytes",
                    provider=self.provider, host=self.host,
                )
            chunks.append(chunk)
        return b"".join(chunks)

    def _transport_error(self, what: str, exc: Exception) -> TransportError:
        reason = type(exc).__name__
        return TransportError(
            f"{self.provider}: request to token endpoint {self.host} {what} ({reason})",
            provider=self.provider, host=self.host,
        )

    def _endpoint_error(
        self, response: TokenResponse, parse_error: ErrorParser, secrets: list[SecretString]
    ) -> TokenEndpointError:
        try:
            info = mask_secrets(parse_error(response), secrets)
        except Exception:  # noqa: BLE001 - a parser bug must not hide the HTTP error
            info = EndpointError(None)
        status = response.status_code
        retryable = info.retryable if info.retryable is not None else RetryPolicy.is_retryable_status(status)
        retry_after = RetryPolicy.parse_retry_after(response.headers.get("Retry-After"), self._clock())
        code = info.error_code or f"http_{status}"
        message = f"{self.provider}: token endpoint {self.host} answered HTTP {status} {code}"
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
            host=self.host,
        )


def _is_untrusted_certificate(exc: BaseException) -> bool:
    """Whether a certificate verification failure (untrusted, expired, wrong host) is behind `exc`.

    requests wraps urllib3's error, which wraps `ssl`'s, in arguments and `reason` as well as
    in `__cause__`/`__context__`, so all of those are followed (each exception once).
    """
    import ssl  # already loaded by requests whenever this runs

    pending: list[BaseException] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLCertVerificationError):
            return True
        linked = (current.__cause__, current.__context__, getattr(current, "reason", None), *current.args)
        pending.extend(item for item in linked if isinstance(item, BaseException))
    return False


def _reset_sessions_after_fork() -> None:
    for fetcher in list(_fetchers):
        fetcher._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_sessions_after_fork)
