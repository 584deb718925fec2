"""Putting credentials on `requests` calls: `BearerAuth`, `SigV4Auth`, `bearer_token_callable`,
and the retry-once-on-rejection logic every provider-fed auth shares.

A credential is resolved from the provider for every request, so refresh is transparent.
When the API says the credential is no longer good, the provider's cache is dropped and the
request is sent once more with a fresh credential; a second rejection goes to the caller.
"""

from __future__ import annotations

import abc
import functools
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit

import requests
import requests.auth
from requests.cookies import extract_cookies_to_jar
from requests.exceptions import UnrewindableBodyError
from requests.utils import rewind_body

from ..aws._sigv4 import check_name, sign_in_place, strict_url
from ..aws._sts import error_code_of
from ..credentials import AwsCredentials, BearerToken, Credential
from ..errors import ConfigurationError
from ..provider import SupportsResolve
from ._rejection import (
    EXPIRED_CREDENTIAL_CODES,
    ProviderFed,
    aws_rejected,
    bearer_rejected,
    check_provider,
)

__all__ = [
    "EXPIRED_CREDENTIAL_CODES",
    "BearerAuth",
    "ProviderAuth",
    "SigV4Auth",
    "aws_error_code",
    "bearer_token_callable",
    "check_provider",
]

_log = logging.getLogger("literauth.integrations.requests")

C = TypeVar("C", bound=Credential)


class ProviderAuth(requests.auth.AuthBase, ProviderFed[C], abc.ABC, Generic[C]):
    """Base of the `requests` auths fed by a provider: apply a credential, retry once if rejected.

    Subclasses name the credential type they take (`ProviderAuth[BearerToken]`, and the same
    class in `credential_type`, checked at run time), say how it goes on a request
    (`_apply`) and what a rejection looks like (`is_rejection`). The typed resolve and the
    retry decision are `ProviderFed`'s, shared with the httpx adapters.
    """

    @abc.abstractmethod
    def _apply(self, request: requests.PreparedRequest, credential: C) -> None:
        """Put `credential` on `request` (called again, on a copy, for the retry)."""

    @abc.abstractmethod
    def is_rejection(self, response: requests.Response) -> bool:
        """Whether `response` says the credential is no longer good."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        credential = self._resolve()
        self._apply(request, credential)
        # Signing the same request again replaces this auth's hook: one retry, however often signed.
        hooks = request.hooks.setdefault("response", [])
        hooks[:] = [h for h in hooks if getattr(h, "func", None) != self._after_response]
        hooks.append(functools.partial(self._after_response, credential))
        return request

    def _after_response(self, used: C, response: requests.Response, **kwargs: Any) -> requests.Response:
        """The response hook: on a rejection, re-send a copy once with a fresh credential."""
        if not self.is_rejection(response):
            return response
        host = urlsplit(response.url or "").hostname or "the server"
        retry = response.request.copy()
        if not _rewind(retry):
            _log.debug("%s: HTTP %d from %s; the body cannot be replayed, not retrying",
                       type(self).__name__, response.status_code, host)
            return response
        fresh = self._fresher(used)
        if fresh is None:
            _log.debug("%s: HTTP %d from %s; the provider has no other credential, not retrying",
                       type(self).__name__, response.status_code, host)
            return response
        _log.debug("%s: HTTP %d from %s rejected the credential; retrying once with a fresh one",
                   type(self).__name__, response.status_code, host)
        response.content  # noqa: B018  # read the body so the connection goes back to the pool
        response.close()
        jar = retry._cookies  # type: ignore[attr-defined]
        extract_cookies_to_jar(jar, response.request, response.raw)  # type: ignore[no-untyped-call]
        retry.prepare_cookies(jar)
        self._apply(retry, fresh)
        second: requests.Response = response.connection.send(retry, **kwargs)
        second.history.append(response)
        second.request = retry
        return second


def _rewind(request: requests.PreparedRequest) -> bool:
    """Make `request`'s body ready to send again; False when it cannot be (a consumed stream)."""
    body: object = request.body  # requests also takes files and generators
    if body is None or isinstance(body, (bytes, str)):
        return True
    if getattr(request, "_body_position", None) is None:
        return False
    try:
        rewind_body(request)
    except UnrewindableBodyError:
        return False
    return True


class BearerAuth(ProviderAuth[BearerToken]):
    """Sets `Authorization: Bearer <token>` from `provider.resolve()` on every request.

    A 401 answer drops the provider's cache and the request is retried once with a new token.
    """

    credential_type = BearerToken
    alternative = "literauth.sigv4.SigV4Auth"

    def _apply(self, request: requests.PreparedRequest, credential: BearerToken) -> None:
        request.headers["Authorization"] = f"Bearer {credential.token.expose_secret()}"

    def is_rejection(self, response: requests.Response) -> bool:
        """A 401: the token expired early, was revoked, or was never accepted."""
        return bearer_rejected(response.status_code)

    def __repr__(self) -> str:
        return f"BearerAuth({self.provider!r})"


def bearer_token_callable(provider: SupportsResolve) -> Callable[[], str]:
    """A function returning the provider's current token as a plain string, on every call.

    The shape SDKs take for token refresh, e.g. openai's `AzureOpenAI(azure_ad_token_provider=...)`.
    """
    check_provider(provider, "bearer_token_callable")

    def bearer_token() -> str:
        credential = provider.resolve()
        if not isinstance(credential, BearerToken):
            raise ConfigurationError(
                f"bearer_token_callable: {type(provider).__name__} returned "
                f"{type(credential).__name__}, not a BearerToken"
            )
        return credential.token.expose_secret()

    return bearer_token


# -- reading AWS error answers ------------------------------------------------------


def aws_error_code(response: requests.Response) -> str | None:
    """The AWS error code of an answer (`x-amzn-ErrorType`, a JSON or an XML body); `None` if none.

    A thin wrapper: `literauth.aws._sts.error_code_of` is the one reader, shared with STS.
    """
    return error_code_of(response.headers, response.content or b"")


# -- requests auth ------------------------------------------------------------------


def _read_body(request: requests.PreparedRequest) -> bytes:
    """The body as bytes; a str, file or stream is read once and replaced by those bytes."""
    body: object = request.body  # requests also takes files and generators
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        data = body.encode("utf-8")
    elif hasattr(body, "read"):
        chunk = body.read()
        data = chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)
    elif isinstance(body, (bytearray, memoryview)):
        data = bytes(body)
    else:
        data = b"".join(c.encode("utf-8") if isinstance(c, str) else bytes(c) for c in _iterable(body))
    request.body = data
    request._body_position = None  # type: ignore[attr-defined]  # bytes need no rewinding
    request.headers.pop("Transfer-Encoding", None)
    request.prepare_content_length(data)
    return data


def _iterable(body: object) -> Iterable[bytes | str]:
    if not isinstance(body, Iterable):
        raise ConfigurationError(f"SigV4Auth cannot sign a body of type {type(body).__name__}")
    return body


class SigV4Auth(ProviderAuth[AwsCredentials]):
    """Signs each `requests` call with SigV4, resolving `AwsCredentials` from the provider.

    A 400 or 403 whose AWS error code says the keys expired or are unknown
    (`EXPIRED_CREDENTIAL_CODES`) drops the provider's cache and the request is re-signed and
    sent once more. `clock` gives the signing time; tests pass a fake one.
    """

    credential_type = AwsCredentials
    alternative = "literauth.BearerAuth"

    def __init__(
        self,
        provider: SupportsResolve,
        *,
        region: str,
        service: str = "bedrock",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(provider)
        self.region = check_name("region", region)
        self.service = check_name("service", service)
        self._clock = clock

    def _apply(self, request: requests.PreparedRequest, credential: AwsCredentials) -> None:
        request.url = strict_url(request.url or "")
        sign_in_place(
            request.method or "GET", request.url, request.headers, _read_body(request), credential,
            region=self.region, service=self.service, now=self._clock(),
        )

    def is_rejection(self, response: requests.Response) -> bool:
        """A 400 or 403 saying the keys expired, were revoked or are unknown."""
        return aws_rejected(response.status_code, response.headers, lambda: response.content or b"")

    def __repr__(self) -> str:
        return f"SigV4Auth({self.provider!r}, region={self.region!r}, service={self.service!r})"
