"""After a server rejected a credential: is there a fresher one to retry with? Transport-neutral.

Every provider-fed auth (the `requests` auths, the httpx adapters) retries a rejected
request at most once, and only with a credential other than the one that was rejected.
Nothing here needs an HTTP library, so the rule is written once: `ProviderFed` (the typed,
checked resolve and the retry decision), `bearer_rejected` and `aws_rejected` (what a
rejection looks like), and `fresher_credential` (what to retry with).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import ClassVar, Generic, TypeVar

from ..aws._sts import error_code_of
from ..credentials import AwsCredentials, BearerToken, Credential
from ..errors import ConfigurationError
from ..provider import SupportsResolve

__all__ = [
    "EXPIRED_CREDENTIAL_CODES",
    "ProviderFed",
    "aws_rejected",
    "bearer_rejected",
    "check_provider",
    "drop_if_current",
    "fresher_credential",
    "invalidate",
]

C = TypeVar("C", bound=Credential)

# AWS error codes that mean "these keys expired, were revoked or are unknown": worth new keys.
EXPIRED_CREDENTIAL_CODES = frozenset(
    {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException"}
)


def check_provider(provider: object, what: str) -> SupportsResolve:
    """`provider`, typed as a provider, if it has a callable `resolve()`; else `ConfigurationError`."""
    if not isinstance(provider, SupportsResolve) or not callable(provider.resolve):
        raise ConfigurationError(
            f"{what} needs a credential provider (an object with resolve()), got {type(provider).__name__}"
        )
    return provider


def bearer_rejected(status: int) -> bool:
    """A 401: the token expired early, was revoked, or was never accepted."""
    return status == 401


def aws_rejected(status: int, headers: Mapping[str, str], body: Callable[[], bytes]) -> bool:
    """A 400 or 403 whose AWS error code says the keys expired, were revoked or are unknown.

    `body` is read only for such a status (an error answer is small; a success may be a stream).
    """
    return status in (400, 403) and error_code_of(headers, body()) in EXPIRED_CREDENTIAL_CODES


def invalidate(provider: object) -> bool:
    """Drop `provider`'s cached credential through its `invalidate()`; False when it has none.

    Engine providers have `invalidate()`; a plain object with only `resolve()` (the
    `SupportsResolve` protocol) is tolerated and simply has nothing to drop.
    """
    method = getattr(provider, "invalidate", None)
    if not callable(method):
        return False
    method()
    return True


def drop_if_current(provider: object, credential: Credential) -> bool:
    """Drop `provider`'s cache if it still holds `credential`; True when something was dropped.

    Engine providers do it atomically (`invalidate_if_current`), so callers reporting one
    rejection together drop the cache once. A provider with only `invalidate()` is simply
    invalidated; one with only `resolve()` has nothing to drop.
    """
    method = getattr(provider, "invalidate_if_current", None)
    if callable(method):
        return bool(method(credential))
    return invalidate(provider)


def fresher_credential(provider: object, used: C, resolve: Callable[[], C]) -> C | None:
    """A credential other than the rejected `used`, or `None` when a retry would change nothing.

    Another thread may have refreshed already; its credential is then taken as it is, so a
    burst of rejections drops the cache once, not once per request. Otherwise `provider`'s
    cache is dropped (unless another thread just did) and `resolve` (the adapter's typed,
    checked resolve) is asked again: threads rejected together cost one fetch in all.
    """
    current = resolve()
    if current != used:
        return current
    drop_if_current(provider, current)  # False: another thread did, and its fetch is joined below
    current = resolve()
    return None if current == used else current


class ProviderFed(Generic[C]):
    """What every auth fed by a provider shares, whatever its HTTP library.

    Subclasses name the credential type they take (`ProviderFed[BearerToken]`, and the same
    class in `credential_type`, checked at run time) and, in `alternative`, the auth that
    takes the other kind, named in the error when the provider hands out the wrong one.
    """

    credential_type: type[C]
    alternative: ClassVar[str] = ""

    def __init__(self, provider: SupportsResolve) -> None:
        self.provider = check_provider(provider, type(self).__name__)

    def _resolve(self) -> C:
        """The provider's credential, checked to be a `credential_type`."""
        credential = self.provider.resolve()
        if not isinstance(credential, self.credential_type):
            raise ConfigurationError(self._wrong_credential(credential))
        return credential

    def _fresher(self, used: C) -> C | None:
        """The credential to retry a rejected request with, or `None`: see `fresher_credential`."""
        return fresher_credential(self.provider, used, self._resolve)

    def _wrong_credential(self, credential: object) -> str:
        name, source = type(self).__name__, type(self.provider).__name__
        if isinstance(credential, AwsCredentials) and self.credential_type is BearerToken:
            return (
                f"{name}: {source} returned AwsCredentials; AWS keys sign requests with "
                f"{self.alternative}, they are not a bearer token"
            )
        if isinstance(credential, BearerToken) and self.credential_type is AwsCredentials:
            return (
                f"{name}: {source} returned a BearerToken; SigV4 needs AWS keys (AwsCredentials). "
                f"Use {self.alternative} for bearer tokens"
            )
        return f"{name} needs {self.credential_type.__name__} but {source} returned {type(credential).__name__}"
