"""Credential providers and the caching engine every refreshing provider is built on.

`RefreshingCredentialProvider.resolve()` serves a cached credential with one atomic read,
refreshes it ahead of expiry on a background thread while it stays valid, and fetches
under the write lock (double-checked, one request for any number of callers) only when
no usable credential exists. Subclasses implement `_fetch()` and nothing else.

A `readerwriterlock` fair lock guards the cache: every change (a new entry, `invalidate()`,
the double-check before a fetch) happens under its write lock, and multi-field snapshots
(`stats()`) under its read lock. The hot path takes no lock at all: a cache entry is
immutable and published by one reference assignment, so one attribute read always sees a
whole entry. Taking the read lock there bought no safety and cost 5x the hit time and 80%
of the 8-thread throughput (a lock convoy under the GIL), measured in benchmarks/.
"""

from __future__ import annotations

import abc
import copy
import dataclasses
import enum
import itertools
import logging
import math
import os
import threading
import time
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, NoReturn, Protocol, TypedDict, runtime_checkable

from readerwriterlock import rwlock

from ._http import DEFAULT_TIMEOUT, Timeout, TokenFetcher
from ._policy import RefreshPolicy, RetryPolicy
from .credentials import UTC, BearerToken, Credential
from .errors import (
    ConfigurationError,
    CredentialError,
    LiterAuthError,
    MalformedResponseError,
    TokenEndpointError,
)
from .secret import SecretString

if TYPE_CHECKING:
    import requests
    from typing_extensions import Self, Unpack  # noqa: UP035 - Python 3.10 has neither

__all__ = [
    "CredentialProvider",
    "ProviderOptions",
    "ProviderStats",
    "RefreshingCredentialProvider",
    "StaticTokenProvider",
    "SupportsResolve",
]

_log = logging.getLogger("literauth.provider")


@runtime_checkable
class SupportsResolve(Protocol):
    """Anything with `resolve() -> Credential` can stand where a provider is expected."""

    def resolve(self) -> Credential: ...


class CredentialProvider(abc.ABC):
    """Abstract base of providers: `resolve()` returns a usable credential, thread-safely."""

    @abc.abstractmethod
    def resolve(self) -> Credential:
        """Return a credential that is valid now."""

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError(f"{type(self).__name__} holds secrets and cannot be pickled")


class StaticTokenProvider(CredentialProvider):
    """Always returns the same `BearerToken`: no caching, no refresh, no I/O.

    For tokens injected by a sidecar or a secrets manager, and `AZURE_AD_TOKEN`.
    """

    def __init__(self, token: SecretString | str) -> None:
        secret = token if isinstance(token, SecretString) else SecretString(token)
        if not secret.expose_secret().strip():
            raise ConfigurationError("StaticTokenProvider needs a non-empty token")
        self._credential = BearerToken(secret)

    def resolve(self, force_refresh: bool = False) -> BearerToken:
        """Return the token; `force_refresh` is accepted and changes nothing."""
        return self._credential

    def invalidate(self) -> None:
        """Nothing to drop: a static token cannot be refreshed."""

    def __repr__(self) -> str:
        return "StaticTokenProvider(token=SecretString('**********'))"


class ProviderOptions(TypedDict, total=False):
    """Keyword options every refreshing provider accepts.

    - session: a `requests.Session` to use (proxies, a custom CA bundle); `None` makes one.
    - timeout: (connect, read) seconds for each token request.
    - clock: returns epoch seconds; tests pass a fake one.
    - sleep: waits between retries; tests pass a fake one.
    - refresh_margin: refresh this many seconds before expiry (default 300).
    - expiry_skew: stop serving a credential this many seconds before expiry (default 30).
    - background_refresh: refresh on a background thread (default) or inline in one caller.
    - retry: the `RetryPolicy` for token requests.
    - refresh_policy: a whole `RefreshPolicy` (overrides `refresh_margin` and `expiry_skew`).
    """

    session: requests.Session | None
    timeout: Timeout
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    refresh_margin: float
    expiry_skew: float
    background_refresh: bool
    retry: RetryPolicy
    refresh_policy: RefreshPolicy


class _State(enum.Enum):
    FRESH = "fresh"
    REFRESH_DUE = "refresh_due"
    UNUSABLE = "unusable"


@dataclasses.dataclass(frozen=True)
class _Entry:
    """One cached credential with its deadlines computed once, swapped in whole."""

    credential: Credential
    refresh_at: float
    usable_until: float
    generation: int

    def state(self, now: float) -> _State:
        if now < self.refresh_at:
            return _State.FRESH
        if now < self.usable_until:
            return _State.REFRESH_DUE
        return _State.UNUSABLE


@dataclasses.dataclass(frozen=True)
class ProviderStats:
    """A monitoring snapshot of one provider."""

    resolves: int
    cache_hits: int
    token_requests: int
    failures: int
    consecutive_failures: int
    last_refresh: datetime | None
    expires_at: datetime | None
    refreshing: bool


def _count_value(counter: itertools.count[int]) -> int:
    # itertools.count is incremented atomically under the GIL; its repr is "count(N)".
    return int(repr(counter)[6:-1])


_providers: weakref.WeakSet[RefreshingCredentialProvider] = weakref.WeakSet()


class RefreshingCredentialProvider(CredentialProvider):
    """The caching engine: subclasses implement `_fetch()` returning a credential with an expiry.

    Thread-safe and fork-safe. See `ProviderOptions` for the keyword options.
    """

    #: Short name used in logs, errors and the refresh thread's name.
    provider_name = "provider"

    def __init__(self, **options: Unpack[ProviderOptions]) -> None:
        self._clock: Callable[[], float] = options.get("clock", time.time)
        self._sleep: Callable[[float], None] = options.get("sleep", time.sleep)
        self._session = options.get("session")
        self._timeout: Timeout = options.get("timeout", DEFAULT_TIMEOUT)
        self._retry = options.get("retry") or RetryPolicy()
        policy = options.get("refresh_policy") or RefreshPolicy()
        changes = {k: options[k] for k in ("refresh_margin", "expiry_skew") if k in options}
        try:
            self._policy = dataclasses.replace(policy, **changes) if changes else policy
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"{self.provider_name}: {exc}") from None
        self._background = bool(options.get("background_refresh", True))
        self._fetcher: TokenFetcher | None = None
        self._options = options
        self._init_locks()
        self._entry: _Entry | None = None
        self._generation = 0
        self._failures = 0
        self._consecutive_failures = 0
        self._token_requests = 0
        self._retry_not_before = 0.0
        self._last_error: LiterAuthError | None = None
        self._error_until = 0.0
        self._last_refresh: float | None = None
        self._resolves = itertools.count()
        self._hits = itertools.count()
        _providers.add(self)

    def _init_locks(self) -> None:
        self._lock = rwlock.RWLockFair()  # fair: a writer is never starved by readers
        self._refresh_gate = threading.Lock()  # held by whoever is fetching right now

    def _make_fetcher(self, url: str) -> TokenFetcher:
        """Create this provider's HTTP token fetcher for `url` with the provider's options."""
        self._fetcher = TokenFetcher(
            self.provider_name,
            url,
            session=self._session,
            timeout=self._timeout,
            retry=self._retry,
            clock=self._clock,
            sleep=self._sleep,
        )
        return self._fetcher

    @abc.abstractmethod
    def _fetch(self) -> Credential:
        """Obtain a new credential from the identity provider (blocking I/O, no locks held)."""

    # -- the hot path -------------------------------------------------------------

    def resolve(self, force_refresh: bool = False) -> Credential:
        """Return a valid credential, fetching only when none is usable.

        `force_refresh=True` drops the cache first, like `invalidate()`.
        """
        next(self._resolves)
        if not force_refresh:
            entry = self._entry  # one atomic read of an immutable, fully built entry
            if entry is not None:
                now = self._clock()
                if now < entry.refresh_at:
                    next(self._hits)
                    return entry.credential
                if now < entry.usable_until:
                    next(self._hits)
                    self._refresh_soon(entry, now)
                    return entry.credential
        return self._refresh_now(force_refresh)

    # -- refreshing while the cached credential is still valid ----------------------

    def _refresh_soon(self, entry: _Entry, now: float) -> None:
        if now < self._retry_not_before or not self._refresh_gate.acquire(blocking=False):
            return
        if self._entry is not entry:  # somebody swapped in a new one meanwhile
            self._refresh_gate.release()
            return
        if not self._background:
            self._soft_refresh()
            return
        thread = threading.Thread(
            target=self._soft_refresh, name=f"literauth-refresh-{self.provider_name}", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:  # no threads left (interpreter shutting down): refresh inline
            self._soft_refresh()

    def _soft_refresh(self) -> None:
        """Fetch outside the lock, swap under it; on failure keep serving and cool down."""
        try:
            issued_at = self._clock()
            try:
                credential = self._fetch()
                entry = self._new_entry(credential, issued_at)
            except Exception as exc:  # noqa: BLE001 - anything failing here is a failed refresh
                self._record_soft_failure(exc)
                return
            with self._lock.gen_wlock():
                self._publish(entry)
        finally:
            self._refresh_gate.release()

    def _record_soft_failure(self, exc: Exception) -> None:
        self._failures += 1
        self._consecutive_failures += 1
        self._token_requests += 1
        pause = self._honour_retry_after(self._policy.soft_cooldown(self._consecutive_failures), exc)
        self._retry_not_before = self._clock() + pause
        _log.warning(
            "%s: background refresh failed (%s); serving the cached credential, next try in %.0fs",
            self.provider_name, _describe(exc), pause,
        )

    # -- fetching when nothing usable is cached ------------------------------------

    def _refresh_now(self, force: bool) -> Credential:
        seen_generation, seen_failures = self._generation, self._failures
        with self._refresh_gate, self._lock.gen_wlock():
            now = self._clock()
            entry = self._entry
            if (
                entry is not None
                and entry.state(now) is not _State.UNUSABLE
                and (not force or entry.generation != seen_generation)
            ):
                return entry.credential  # double-check: another caller fetched meanwhile
            if (
                self._last_error is not None
                and now < self._error_until
                and (not force or self._failures != seen_failures)
            ):
                raise _fresh_copy(self._last_error)  # cooling down, or we queued behind it
            try:
                credential = self._fetch()
                new = self._new_entry(credential, now)
            except LiterAuthError as exc:
                self._record_hard_failure(exc, self._clock())  # the cool-down counts from the failure
                raise
            except Exception as exc:  # noqa: BLE001 - anything failing here is a failed refresh
                error = CredentialError(
                    f"{self.provider_name}: unexpected {type(exc).__name__} while fetching a credential",
                    provider=self.provider_name,
                )
                self._record_hard_failure(error, self._clock())
                raise error from None
            self._publish(new)
            return credential

    def _record_hard_failure(self, exc: LiterAuthError, now: float) -> None:
        self._failures += 1
        self._consecutive_failures += 1
        self._token_requests += 1
        permanent = isinstance(exc, (ConfigurationError, TokenEndpointError)) and not getattr(
            exc, "retryable", False
        )
        pause = self._honour_retry_after(
            self._policy.soft_cooldown(self._consecutive_failures) if permanent else self._policy.hard_cooldown,
            exc,
        )
        self._last_error = exc
        self._error_until = now + pause
        _log.warning("%s: fetching a credential failed (%s)", self.provider_name, _describe(exc))

    # -- shared by both paths -----------------------------------------------------

    def _honour_retry_after(self, pause: float, exc: BaseException) -> float:
        """`pause`, lengthened to the endpoint's `Retry-After` (capped at `max_cooldown`) if longer."""
        retry_after = getattr(exc, "retry_after", None)
        if not isinstance(retry_after, (int, float)) or isinstance(retry_after, bool):
            return pause
        return max(pause, min(float(retry_after), self._policy.max_cooldown))

    def _new_entry(self, credential: Credential, issued_at: float) -> _Entry:
        if not isinstance(credential, Credential):
            raise TypeError(f"{type(self).__name__}._fetch() must return a Credential")
        expires = credential.expires_at_epoch
        if expires is None:
            return _Entry(credential, math.inf, math.inf, self._generation + 1)
        expires = self._policy.trusted_expiry(issued_at, expires)
        usable_until = self._policy.usable_until(expires)
        if usable_until <= self._clock():
            raise MalformedResponseError(
                f"{self.provider_name}: the identity provider returned a credential that expires "
                f"at {credential.expires_at}, too soon to be used",
                provider=self.provider_name,
            )
        return _Entry(credential, self._policy.refresh_at(issued_at, expires), usable_until, self._generation + 1)

    def _publish(self, entry: _Entry) -> None:
        """Swap in a new entry; the caller holds the write lock."""
        self._entry = entry
        self._generation = entry.generation
        self._token_requests += 1
        self._consecutive_failures = 0
        self._retry_not_before = 0.0
        self._last_error = None
        self._error_until = 0.0
        self._last_refresh = self._clock()
        if _log.isEnabledFor(logging.DEBUG):
            expiry = entry.credential.expires_at
            _log.debug(
                "%s: new credential cached, expires %s",
                self.provider_name, "never" if expiry is None else expiry.isoformat(),
            )

    # -- management -----------------------------------------------------------------

    def invalidate(self) -> None:
        """Drop the cached credential and any remembered failure; the next resolve() fetches."""
        with self._lock.gen_wlock():
            self._entry = None
            self._last_error = None
            self._error_until = 0.0
            self._retry_not_before = 0.0

    def stats(self) -> ProviderStats:
        """A snapshot of counters for monitoring, consistent with the cached entry."""
        with self._lock.gen_rlock():
            return self._stats()

    def _stats(self) -> ProviderStats:
        entry = self._entry
        return ProviderStats(
            resolves=_count_value(self._resolves),
            cache_hits=_count_value(self._hits),
            token_requests=self._token_requests,
            failures=self._failures,
            consecutive_failures=self._consecutive_failures,
            last_refresh=None
            if self._last_refresh is None
            else datetime.fromtimestamp(self._last_refresh, UTC),
            expires_at=None if entry is None else entry.credential.expires_at,
            refreshing=self._refresh_gate.locked(),
        )

    def close(self) -> None:
        """Release the HTTP session this provider created."""
        if self._fetcher is not None:
            self._fetcher.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _after_fork(self) -> None:
        # Locks may have been held by threads that do not exist in the child.
        self._init_locks()

    def _repr_fields(self) -> dict[str, object]:
        """What identifies this provider in its repr; never a secret."""
        return {}

    def __repr__(self) -> str:
        entry = self._entry
        fields = [f"{name}={value!r}" for name, value in self._repr_fields().items()]
        fields.append(f"cached={'none' if entry is None else repr(entry.credential)}")
        return f"{type(self).__name__}({', '.join(fields)})"


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, LiterAuthError) else type(exc).__name__


def _fresh_copy(exc: LiterAuthError) -> LiterAuthError:
    """The remembered error, re-raisable without sharing one traceback between threads."""
    clone = copy.copy(exc)
    clone.__traceback__ = None
    return clone


def _reset_after_fork() -> None:
    for provider in list(_providers):
        provider._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
