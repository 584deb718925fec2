"""httpx auths fed by a provider: `BearerAuth` and `SigV4Auth`, for `httpx` and `httpx2` clients.

openai 3 and anthropic 2 are built on `httpx2`, a renamed fork of httpx with the same `Auth`
API; anthropic refuses an `httpx.Client`, and each library refuses the other's `Auth`. So an
instance of these classes derives from the `Auth` of every one of the two that is installed,
and the same object serves an `httpx.Client` and an `httpx2.Client`. Neither library is
imported before the first auth is built.

The credential is resolved for every request (a cache hit in literauth), so a refresh or an
`invalidate()` reaches the next request. A rejection is retried once, with a credential other
than the rejected one, by the rule the `requests` auths share (`integrations._rejection`).
Sync clients only: the flows run `provider.resolve()`, which may block on a token request.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ..aws._sigv4 import check_name, sign_in_place, strict_url
from ..credentials import AwsCredentials, BearerToken, Credential
from ..errors import ConfigurationError
from ..integrations._rejection import ProviderFed, aws_rejected, bearer_rejected
from ..provider import SupportsResolve
from ._lazy import require

if TYPE_CHECKING:
    from typing_extensions import Self  # noqa: UP035 - Python 3.10 has no typing.Self

__all__ = ["BearerAuth", "SigV4Auth"]

_log = logging.getLogger("literauth.adapters.httpx")

C = TypeVar("C", bound=Credential)
# The two libraries an auth can serve, by import name; each is also its pip name.
_LIBRARIES = ("httpx", "httpx2")


def _auth_bases() -> tuple[type, ...]:
    """The `Auth` class of each installed library; `ConfigurationError` when neither is."""
    bases = []
    for name in _LIBRARIES:
        try:
            bases.append(require(name, package=name).Auth)
        except ConfigurationError:
            continue
    if not bases:
        raise ConfigurationError(
            "literauth.adapters.httpx needs httpx or httpx2: pip install httpx2 (what openai 3 and "
            "anthropic 2 use), or pip install httpx"
        )
    return tuple(bases)


@functools.cache
def _concrete(cls: type) -> type:
    """`cls` joined with the installed `Auth` classes, built once per class on first use."""
    return type(cls.__name__, (cls, *_auth_bases()), {"__module__": cls.__module__, "_joined": True})


class _ProviderFlow(ProviderFed[C]):
    """An httpx auth flow: apply a credential, and once more with a fresh one if rejected."""

    requires_request_body: ClassVar[bool] = False
    _joined: ClassVar[bool] = False

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        """An instance of `cls` joined with httpx's and httpx2's `Auth`; neither installed fails here."""
        declared: type = cls
        chosen = declared if cls._joined else _concrete(declared)
        instance: Self = object.__new__(chosen)
        return instance

    def _apply(self, request: Any, credential: C) -> None:
        """Put `credential` on `request` (an `httpx.Request` or an `httpx2.Request`)."""
        raise NotImplementedError

    def _is_rejection(self, response: Any) -> bool:
        """Whether `response` says the credential is no longer good."""
        raise NotImplementedError

    def auth_flow(self, request: Any) -> Generator[Any, Any, None]:
        """What httpx runs around each request: sign it, and re-sign it once after a rejection."""
        credential = self._resolve()
        self._apply(request, credential)
        response = yield request
        if not self._is_rejection(response):
            return
        host = request.url.host or "the server"
        if not _replayable(request):
            _log.debug("%s: HTTP %d from %s; the body cannot be replayed, not retrying",
                       type(self).__name__, response.status_code, host)
            return
        fresh = self._fresher(credential)
        if fresh is None:
            _log.debug("%s: HTTP %d from %s; the provider has no other credential, not retrying",
                       type(self).__name__, response.status_code, host)
            return
        _log.debug("%s: HTTP %d from %s rejected the credential; retrying once with a fresh one",
                   type(self).__name__, response.status_code, host)
        self._apply(request, fresh)
        yield request


def _replayable(request: Any) -> bool:
    """Whether the body can be sent again: it is in memory (bytes given, or read for signing)."""
    try:
        request.content  # noqa: B018  # raises RequestNotRead (a RuntimeError) for a one-shot stream
    except RuntimeError:
        return False
    return True


class BearerAuth(_ProviderFlow[BearerToken]):
    """Sets `Authorization: Bearer <token>` from `provider.resolve()` on every request.

    A 401 drops the provider's cache (if it still holds the token that was sent) and the
    request goes once more with the new token. Works in `httpx.Client(auth=...)` and
    `httpx2.Client(auth=...)`; it overwrites an SDK's placeholder ``Authorization`` header.
    """

    credential_type = BearerToken
    alternative = "literauth.adapters.httpx.SigV4Auth"

    def _apply(self, request: Any, credential: BearerToken) -> None:
        request.headers["Authorization"] = f"Bearer {credential.token.expose_secret()}"

    def _is_rejection(self, response: Any) -> bool:
        return bearer_rejected(response.status_code)

    def __repr__(self) -> str:
        return f"BearerAuth({self.provider!r})"


class SigV4Auth(_ProviderFlow[AwsCredentials]):
    """Signs every request with SigV4 from the provider's `AwsCredentials`.

    The body is read before signing (`requires_request_body`), the URL is rewritten to strict
    RFC 3986 encoding (a Bedrock model id's ``:`` travels as ``%3A``), and any earlier
    signature or placeholder ``Authorization`` is replaced. A 400/403 whose AWS error code says
    the keys expired or are unknown re-signs once with fresh keys. `clock` gives the signing
    time; tests pass a fake one.
    """

    credential_type = AwsCredentials
    alternative = "literauth.adapters.httpx.BearerAuth"
    requires_request_body = True

    def __init__(
        self,
        provider: SupportsResolve,
        *,
        region: str,
        service: str = "bedrock",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(provider)
        self.region = check_name("region", region, owner="SigV4Auth")
        self.service = check_name("service", service, owner="SigV4Auth")
        self._clock = clock

    def _apply(self, request: Any, credential: AwsCredentials) -> None:
        if request.headers.pop("Transfer-Encoding", None) is not None:  # a stream, read by now: sized
            request.headers["Content-Length"] = str(len(request.content))
        request.url = type(request.url)(strict_url(str(request.url)))
        sign_in_place(
            request.method, str(request.url), request.headers, request.content, credential,
            region=self.region, service=self.service, now=self._clock(),
        )

    def _is_rejection(self, response: Any) -> bool:
        return aws_rejected(response.status_code, response.headers, response.read)

    def __repr__(self) -> str:
        return f"SigV4Auth({self.provider!r}, region={self.region!r}, service={self.service!r})"
