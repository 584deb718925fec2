"""Credential providers and the caching engine every refreshing provider is built on.

`RefreshingCredentialProvider.resolve()` serves a cached credential with one atomic read,
refreshes it ahead of expiry on a background job while it stays valid, and fetches in the
caller only when no usable credential exists: one fetch for any number of callers, who wait
for it no longer than the fetch's own budget (`fetch_budget()`). Subclasses implement
`_fetch()`, and `_cache_identity()` to share their tokens through a token cache
(`literauth.cache`, the ``cache=`` option): the engine asks the cache before each fetch and
writes through after it, in `_run()`, through a `CacheLink` kept in the settings.

Locking. A `readerwriterlock` fair lock guards the cache state, and nothing slow or unbounded
ever runs under it: its write lock is held for the double-check that decides who fetches,
for publishing the outcome, and by `invalidate()` and `close()`; `stats()` takes the read lock
for a coherent snapshot. The fetch itself runs with no lock held. Who is fetching is recorded
in one `_PendingFetch`; others wait on its event, with a deadline, instead of queueing on a lock.

The hot path takes no lock at all: a cache entry is immutable and published by one reference
assignment, so one attribute read always sees a whole entry. Taking the read lock there
bought no safety and cost 5x the hit time and 80% of the 8-thread throughput (a lock convoy
under the GIL), measured in benchmarks/.
"""

from __future__ import annotations

import abc
import copy
import dataclasses
import enum
import functools
import itertools
import logging
import math
import operator
import os
import random
import sys
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    NamedTuple,
    NoReturn,
    Protocol,
    TypedDict,
    runtime_checkable,
)

from readerwriterlock import rwlock

from ._http import DEFAULT_TIMEOUT, Timeout, TokenFetcher
from ._policy import RefreshPolicy, RetryPolicy
from .cache import TokenCache, default_cache
from .cache._link import CacheLink
from .credentials import UTC, BearerToken, Credential
from .errors import (
    ConfigurationError,
    CredentialError,
    LiterAuthError,
    MalformedResponseError,
    TransportError,
    TransportReason,
)
from .secret import SecretString

if TYPE_CHECKING:
    import requests
    from typing_extensions import Self, Unpack  # noqa: UP035 - Python 3.10 has neither

__all__ = [
    "CachingOptions",
    "CredentialProvider",
    "HttpOptions",
    "ProviderOptions",
    "ProviderStats",
    "RefreshingCredentialProvider",
    "Schedule",
    "StaticTokenProvider",
    "SupportsResolve",
    "check_options",
    "fetch_budget",
    "start_daemon_thread",
]

_log = logging.getLogger("literauth.provider")

#: How often a caller waiting for another caller's fetch re-reads the provider's clock. The
#: deadline is on that clock (the fetcher's budget is too), which tests move by hand.
_WAIT_SLICE = 0.1

Spawn = Callable[[Callable[[], None], str], None]


@runtime_checkable
class SupportsResolve(Protocol):
    """Anything with `resolve() -> Credential` can stand where a provider is expected."""

    def resolve(self) -> Credential: ...


class Schedule(NamedTuple):
    """When the engine refreshes its cached credential and stops serving it, in epoch seconds.

    Read on the provider's own clock. `refresh_at` is the (jittered) point where a refresh
    starts; `expires_at` is the last moment the credential is served: its expiry (capped at
    `RefreshPolicy.max_lifetime`) less `expiry_skew`. Both are `math.inf` for a credential
    that never expires. SDK adapters report these to SDKs that keep a copy of the credential.
    """

    refresh_at: float
    expires_at: float


_NEVER = Schedule(math.inf, math.inf)


class CredentialProvider(abc.ABC):
    """Abstract base of providers: `resolve()` returns a usable credential, thread-safely.

    Also a context manager: leaving the `with` block calls `close()`.
    """

    #: What `resolve()` returns; auths and clients check it before the first request.
    credential_type: ClassVar[type[Credential]] = Credential

    @abc.abstractmethod
    def resolve(self, *, force_refresh: bool = False) -> Credential:
        """Return a credential that is valid now; `force_refresh=True` asks for a new one."""

    def invalidate(self) -> None:
        """Forget any cached credential; the default has nothing to forget."""

    def invalidate_if_current(self, credential: Credential) -> bool:
        """Forget the cached credential if it is `credential` itself; True if it was dropped.

        For "the server rejected this one": when another caller already replaced it, the
        fresher credential stays. The default caches nothing and drops nothing.
        """
        return False

    def schedule(self) -> Schedule | None:
        """When the cached credential is refreshed and stops being served; None if none is cached."""
        return None

    def close(self) -> None:
        """Release what the provider holds (sessions, threads); the default holds nothing."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError(f"{type(self).__name__} holds secrets and cannot be pickled")


class StaticTokenProvider(CredentialProvider):
    """Always returns the same `BearerToken`: no caching, no refresh, no I/O.

    For tokens injected by a sidecar or a secrets manager, and `AZURE_AD_TOKEN`. The token is
    checked like every other (`credentials.check_token_text`): whitespace or control characters
    raise `ConfigurationError`.
    """

    credential_type: ClassVar[type[Credential]] = BearerToken

    def __init__(self, token: SecretString | str) -> None:
        secret = token if isinstance(token, SecretString) else SecretString(token)
        if not secret.expose_secret().strip():
            raise ConfigurationError("StaticTokenProvider needs a non-empty token")
        self._credential = BearerToken(secret)

    def resolve(self, *, force_refresh: bool = False) -> BearerToken:
        """Return the token; `force_refresh` is accepted and changes nothing."""
        return self._credential

    def with_scope(self, scope: str) -> StaticTokenProvider:
        """This provider itself: a ready-made token is sent as it is, whatever the scope."""
        return self

    def schedule(self) -> Schedule:
        """Never refreshed, never expires: both points are `math.inf`."""
        return _NEVER

    def __repr__(self) -> str:
        return "StaticTokenProvider(token=SecretString('**********'))"


class CachingOptions(TypedDict, total=False):
    """The options that shape the cache and its refreshes: every provider's, HTTP or not.

    A provider that runs a process (`az`, `credential_process`) takes these; see
    `ProviderOptions` for what each one means.
    """

    clock: Callable[[], float]
    sleep: Callable[[float], None]
    refresh_margin: float
    expiry_skew: float
    refresh_policy: RefreshPolicy
    background_refresh: bool
    spawn: Spawn
    rand: Callable[[], float]
    cache: TokenCache | bool | None


class ProviderOptions(CachingOptions, total=False):
    """Keyword options every refreshing provider accepts; all are checked at construction.

    - session: a `requests.Session` to use (proxies, a custom CA bundle); `None` makes one.
    - timeout: seconds for each token request: one positive number, or a (connect, read) pair.
    - retry: the `RetryPolicy` for token requests.
    - clock: returns epoch seconds; tests pass a fake one.
    - sleep: waits between retries; tests pass a fake one.
    - refresh_margin: refresh this many seconds before expiry (default 300).
    - expiry_skew: stop serving a credential this many seconds before expiry (default 30).
    - refresh_policy: a whole `RefreshPolicy`; refused together with the two above.
    - background_refresh: refresh on a background job (True, the default) or inline in one caller.
    - spawn: `spawn(job, name)` runs a background refresh job; default `start_daemon_thread`.
    - rand: returns a float in [0, 1) that places the jitter of each refresh point.
    - cache: where tokens are shared beyond this provider (`literauth.cache`): None (the default)
      is the process-wide `MemoryCache`, False keeps them to this provider, a `FileCache` or
      `RedisCache` shares them with other processes. Read before fetching, written after.
    """

    session: requests.Session | None
    timeout: Timeout
    retry: RetryPolicy


_OPTION_NAMES = tuple(sorted(ProviderOptions.__optional_keys__))


@dataclasses.dataclass(frozen=True)
class HttpOptions:
    """What every token fetcher of one provider is built with, fixed at construction."""

    session: requests.Session | None = None
    timeout: Timeout = DEFAULT_TIMEOUT
    retry: RetryPolicy = dataclasses.field(default_factory=RetryPolicy)
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep


def fetch_budget(timeout: Timeout, retry: RetryPolicy) -> float:
    """The longest one fetch may take, in seconds: how long callers wait for it.

    `retry.total_timeout` bounds the time before the last attempt starts; that attempt may
    then take its connect plus its read timeout (one number counts twice: requests applies
    it to both). With the defaults: 60 + 5 + 15 = 80 s.
    """
    connect, read = timeout if isinstance(timeout, tuple) else (timeout, timeout)
    return retry.total_timeout + connect + read


def start_daemon_thread(job: Callable[[], None], name: str) -> None:
    """The default `spawn`: run `job` on a new daemon thread `name`; inline if none can start."""
    thread = threading.Thread(target=job, name=name, daemon=True)
    try:
        thread.start()
    except RuntimeError:  # no threads left (interpreter shutting down): refresh inline
        job()


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
    generation: int = 0  # set when published
    fetched: bool = True  # False: taken from the shared cache, not a token request of ours

    def state(self, now: float) -> _State:
        if now < self.refresh_at:
            return _State.FRESH
        if now < self.usable_until:
            return _State.REFRESH_DUE
        return _State.UNUSABLE


class _PendingFetch:
    """One fetch in flight: when waiters give up on it, and its outcome once settled.

    Owned by the caller that created it (or by the background job that claims it); only the
    owner settles it. After `deadline` it counts as abandoned: the next caller starts anew.
    """

    __slots__ = ("claim", "deadline", "done", "epoch", "outcome")

    def __init__(self, deadline: float, epoch: int) -> None:
        self.deadline = deadline
        self.epoch = epoch
        self.claim = threading.Lock()  # a background job takes it before running the fetch
        self.done = threading.Event()
        self.outcome: _Entry | LiterAuthError | None = None


def _ticks() -> itertools.repeat[None]:
    """An approximate event counter that takes no lock and allocates nothing per event.

    Count one event with `next(ticks)`: an `itertools.repeat` counting down from
    `sys.maxsize`, so an event is one C call under the GIL and no increment is lost on GIL
    builds (and it yields None: no int is made, unlike `itertools.count`). On free-threaded
    builds concurrent increments may be lost: the value is for monitoring, not accounting.
    """
    return itertools.repeat(None, sys.maxsize)


def _count(ticks: itertools.repeat[None]) -> int:
    """How many events `ticks` counted, read through `operator.length_hint` (PEP 424)."""
    return sys.maxsize - operator.length_hint(ticks)


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
    #: The expiry the endpoint stated for the cached credential while the provider serves it
    #: past that (EC2 IMDS static stability during an outage); None otherwise.
    expiry_extended_from: datetime | None = None
    cache_loads: int = 0  #: credentials taken from the shared cache instead of fetched
    cache_rejects: int = 0  #: shared-cache entries ignored: unparsable, another version, failed authentication


_providers: weakref.WeakSet[RefreshingCredentialProvider] = weakref.WeakSet()


class RefreshingCredentialProvider(CredentialProvider):
    """The caching engine: subclasses implement `_fetch()` returning a credential with an expiry.

    Thread-safe and fork-safe. See `ProviderOptions` for the keyword options; an unknown one
    is a `TypeError`, a bad value a `ConfigurationError` naming the option.
    """

    #: Short name, `cloud.mechanism`, used in logs, errors and the refresh thread's name.
    provider_name = "provider"

    def __init__(self, **options: Unpack[ProviderOptions]) -> None:
        # Few instance attributes, on purpose: past 30, CPython stops sharing the instance dict's
        # keys and every attribute read on the hot path gets slower (measured: +10% per hit).
        self._settings = _check_options(type(self).__name__, self.provider_name, options)
        self._clock = self._settings.http.clock  # read on every resolve(): one attribute away
        self._policy: RefreshPolicy = self._settings.policy
        self._options: ProviderOptions = options  # as given, for with_scope()-style copies
        self._fetchers: list[TokenFetcher] = []
        self._init_locks()
        # The cache state below changes only under the write lock.
        self._entry: _Entry | None = None
        self._pending: _PendingFetch | None = None
        self._epoch = 0  # bumped by invalidate(): fetches started before it are not published
        self._closed = False
        self._generation = 0
        self._failures = 0
        self._consecutive_failures = 0
        self._token_requests = 0
        self._retry_not_before = 0.0
        self._last_error: LiterAuthError | None = None
        self._error_until = 0.0
        self._last_refresh: float | None = None
        self._resolve_ticks = _ticks()  # counted with next() on the hot path; read by _count()
        self._hit_ticks = _ticks()
        _providers.add(self)

    def _init_locks(self) -> None:
        self._lock = rwlock.RWLockFair()  # fair: a writer is never starved by readers

    def _make_fetcher(self, url: str, **extra: Any) -> TokenFetcher:
        """A new token fetcher for `url` with this provider's HTTP options; `close()` closes it.

        `extra` keywords go to `TokenFetcher` as they are (and win over the provider's).
        """
        http = self._settings.http
        arguments: dict[str, Any] = {
            "session": http.session,
            "timeout": http.timeout,
            "retry": http.retry,
            "clock": http.clock,
            "sleep": http.sleep,
        }
        arguments.update(extra)
        fetcher = TokenFetcher(self.provider_name, url, **arguments)
        self._fetchers.append(fetcher)
        return fetcher

    @abc.abstractmethod
    def _fetch(self) -> Credential:
        """Obtain a new credential from the identity provider (blocking I/O, no lock held)."""

    # -- the hot path -------------------------------------------------------------

    def resolve(self, *, force_refresh: bool = False) -> Credential:
        """Return a valid credential, fetching only when none is usable.

        `force_refresh=True` says the cached credential is bad (say, the service rejected it):
        it is dropped and a new one fetched; if that fetch fails the error is raised and the
        old credential is not served again. Concurrent forced refreshes share one fetch.
        After `close()` this raises `ConfigurationError`.
        """
        next(self._resolve_ticks)
        if not force_refresh:
            entry = self._entry  # one atomic read of an immutable, fully built entry
            if entry is not None:
                # _Entry.state() inlined: a method call would cost a third of the hit time.
                now = self._clock()
                if now < entry.refresh_at:
                    next(self._hit_ticks)
                    return entry.credential
                if now < entry.usable_until:
                    next(self._hit_ticks)
                    self._refresh_soon(entry, now)
                    return entry.credential
        return self._resolve_slow(force_refresh)

    # -- refreshing while the cached credential is still valid ----------------------

    def _refresh_soon(self, entry: _Entry, now: float) -> None:
        """Start one refresh of `entry` while it is still served: as a background job, or inline."""
        pending = self._pending
        if now < self._retry_not_before or (pending is not None and now < pending.deadline):
            return  # cooling down after a failure, or somebody is refreshing already
        with self._lock.gen_wlock():
            pending = self._pending
            if (
                self._closed
                or self._entry is not entry  # somebody swapped in a new one meanwhile
                or now < self._retry_not_before
                or (pending is not None and now < pending.deadline)
            ):
                return
            pending = self._pending = _PendingFetch(now + self._settings.budget, self._epoch)
        if not self._settings.background:
            self._run(pending)  # inline: this caller fetches, then returns the cached credential
            return
        # Ownership of `pending` passes to the job once the job claims it. Until then this
        # caller owns it: if spawning fails on any path (KeyboardInterrupt, MemoryError while
        # building the thread, a custom spawner raising) before the job ran, give it up here,
        # or every caller would wait for a fetch that never runs until its deadline.
        try:
            self._settings.spawn(functools.partial(self._run_claimed, pending), self._settings.thread_name)
        except BaseException:
            if pending.claim.acquire(blocking=False):
                self._settle(pending, None)
            raise

    def _run_claimed(self, pending: _PendingFetch) -> None:
        """The background job: run the fetch unless the spawner already gave `pending` up."""
        if pending.claim.acquire(blocking=False):
            self._run(pending)

    # -- fetching when nothing usable is cached ------------------------------------

    def _resolve_slow(self, force: bool) -> Credential:
        """Double-check under the write lock, then fetch, wait for a fetch, or raise."""
        seen_generation, seen_failures = self._generation, self._failures
        error: LiterAuthError | None = None
        dropped: Credential | None = None
        owner = False
        with self._lock.gen_wlock():
            now = self._clock()
            entry = self._entry
            pending = self._pending
            if self._closed:
                error = self._closed_error()
            elif entry is not None and entry.state(now) is not _State.UNUSABLE and (
                not force or entry.generation != seen_generation
            ):
                return entry.credential  # double-check: another caller fetched meanwhile
            elif (
                self._last_error is not None
                and now < self._error_until
                and (not force or self._failures != seen_failures)
            ):
                error = _fresh_copy(self._last_error)  # cooling down, or a failure we queued behind
            else:
                if force and entry is not None and entry.generation == seen_generation:
                    self._entry = None  # the caller said it is bad: not served again
                    dropped = entry.credential
                if pending is None or now >= pending.deadline:  # none, or abandoned
                    pending = self._pending = _PendingFetch(now + self._settings.budget, self._epoch)
                    owner = True
        if error is not None:
            raise error
        assert pending is not None
        if dropped is not None:
            self._discard_shared(dropped)  # or the fetch would read the bad credential back
        if owner:
            self._run(pending)
        else:
            self._wait_for(pending)
        return self._outcome(pending)

    def _wait_for(self, pending: _PendingFetch) -> None:
        """Wait for another caller's fetch, at most until its deadline on the provider's clock."""
        while not pending.done.wait(_WAIT_SLICE):
            if self._clock() >= pending.deadline:
                raise TransportError(
                    f"{self.provider_name}: gave up after {self._settings.budget:g} s waiting for a credential "
                    "fetch another caller started; it is still running",
                    reason=TransportReason.TIMEOUT,
                    provider=self.provider_name,
                )

    def _outcome(self, pending: _PendingFetch) -> Credential:
        """The credential `pending` settled with, or a fresh copy of its error."""
        outcome = pending.outcome
        if isinstance(outcome, _Entry):
            return outcome.credential
        assert outcome is not None
        raise _fresh_copy(outcome)

    # -- running one fetch (either path) ----------------------------------------------

    def _run(self, pending: _PendingFetch) -> None:
        """Run `_fetch()` with no lock held and settle `pending`; the caller owns `pending`."""
        result: _Entry | LiterAuthError | None = None  # None: interrupted (KeyboardInterrupt...)
        try:
            issued_at = self._clock()
            link = self._settings.cache
            try:
                if link is None:
                    result = self._new_entry(self._fetch(), issued_at)
                else:  # the shared cache first; a fetch (written through) only on a miss
                    result = link.obtain(self, issued_at, self._settings.budget)
            except LiterAuthError as exc:
                result = _fresh_copy(exc)  # traceback-free and unchained: safe to keep
            except Exception as exc:  # noqa: BLE001 - anything failing here is a failed fetch
                # Built here, raised by _outcome() after the handler: no __context__ holding,
                # say, a JSONDecodeError whose .doc is the endpoint's answer with a token in it.
                result = CredentialError(
                    f"{self.provider_name}: unexpected {type(exc).__name__} while fetching a credential",
                    provider=self.provider_name,
                    retryable=False,
                )
        finally:
            self._settle(pending, result)

    def _settle(self, pending: _PendingFetch, result: _Entry | LiterAuthError | None) -> None:
        """Record `pending`'s result, publish it if still wanted, and wake its waiters.

        A success is published unless the provider was closed or invalidated since the fetch
        started; a fetch that overran its deadline and was abandoned publishes only if its
        credential lasts longer than the cached one. A failure is remembered (cool-down)
        only if the fetch is still the current one.
        """
        with self._lock.gen_wlock():
            current = self._pending is pending
            if current:
                self._pending = None
            wanted = pending.epoch == self._epoch and not self._closed
            outcome: _Entry | LiterAuthError
            if result is None:
                outcome = CredentialError(
                    f"{self.provider_name}: the credential fetch was interrupted",
                    provider=self.provider_name,
                    retryable=True,
                )
            elif self._closed:
                self._token_requests += 1
                outcome = self._closed_error()
            elif isinstance(result, _Entry):
                self._token_requests += result.fetched
                cached = self._entry
                if wanted and (current or cached is None or result.usable_until > cached.usable_until):
                    outcome = self._publish(result)
                else:
                    outcome = result
            else:
                self._token_requests += 1
                self._failures += 1
                if current and wanted:
                    self._remember_failure(result, self._clock())
                outcome = result
            if not pending.done.is_set():  # close() may have woken the waiters already
                pending.outcome = outcome
                pending.done.set()

    def _remember_failure(self, error: LiterAuthError, now: float) -> None:
        """Cool down after a failed fetch; the caller holds the write lock.

        The engine asks the error whether trying again soon can help (`retryable`) and how
        long the endpoint asked us to wait (`retry_after`).
        """
        self._consecutive_failures += 1
        retryable, retry_after = _retry_hints(error)
        entry = self._entry
        if entry is not None and entry.state(now) is not _State.UNUSABLE:
            pause = self._lengthen(self._policy.pause_after(self._consecutive_failures), retry_after)
            self._retry_not_before = now + pause
            _log.warning(
                "%s: background refresh failed (%s); serving the cached credential, next try in %.0fs",
                self.provider_name, _describe(error), pause,
            )
            return
        pause = self._policy.retry_when_unusable if retryable else self._policy.pause_after(self._consecutive_failures)
        self._last_error = error
        self._error_until = now + self._lengthen(pause, retry_after)
        _log.warning("%s: fetching a credential failed (%s)", self.provider_name, _describe(error))

    def _lengthen(self, pause: float, retry_after: float | None) -> float:
        """`pause`, lengthened to the endpoint's `Retry-After` (capped at `max_cooldown`) if longer."""
        if retry_after is None:
            return pause
        return max(pause, min(retry_after, self._policy.max_cooldown))

    def _new_entry(self, credential: Credential, issued_at: float) -> _Entry:
        """The unpublished cache entry for a credential fetched from `issued_at` on."""
        if not isinstance(credential, Credential):
            raise TypeError(f"{type(self).__name__}._fetch() must return a Credential")
        expires = credential.expires_at_epoch
        if expires is None:
            return _Entry(credential, math.inf, math.inf)
        expires = self._policy.trusted_expiry(issued_at, expires)
        usable_until = self._policy.usable_until(expires)
        if usable_until <= self._clock():  # now, after the fetch
            raise MalformedResponseError(
                f"{self.provider_name}: the identity provider returned a credential that expires "
                f"at {credential.expires_at}, too soon to be used",
                provider=self.provider_name,
            )
        return _Entry(credential, self._policy.refresh_at(issued_at, expires, self._settings.rand), usable_until)

    def _publish(self, entry: _Entry) -> _Entry:
        """Swap in a new entry and clear the failure state; the caller holds the write lock.

        These are several sequential writes. A fork() in the middle (from another thread)
        leaves the child with a half-done publish: at worst stale counters, `_generation` or
        `_retry_not_before`, all harmless. Holding the lock in a before-fork hook would fix
        it and make fork() wait for this lock: a conscious trade-off (F-E9).
        """
        entry = dataclasses.replace(entry, generation=self._generation + 1)
        self._entry = entry
        self._generation = entry.generation
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
        return entry

    def _closed_error(self) -> ConfigurationError:
        return ConfigurationError(f"{self.provider_name}: provider is closed")

    # -- management -----------------------------------------------------------------

    def invalidate(self) -> None:
        """Drop the cached credential and any remembered failure; the next resolve() fetches.

        Never waits for a fetch. A fetch already running is left to finish: its waiters get
        its outcome, but it is not cached. The shared cache's entry is deleted too if it still
        holds the dropped credential, so other processes stop serving it.
        """
        with self._lock.gen_wlock():
            dropped = self._drop()
        if dropped is not None:
            self._discard_shared(dropped.credential)

    def invalidate_if_current(self, credential: Credential) -> bool:
        """`invalidate()`, but only while the cache holds this very `credential` object.

        What an adapter calls when a server rejected `credential`: of any number of callers
        reporting the same rejection, the first drops it and the rest find it gone (False),
        so together with single-flight `resolve()` one rejection costs one fetch. A credential
        already replaced, or a cache already empty (a fetch may be running), is left alone.
        """
        with self._lock.gen_wlock():
            entry = self._entry
            if entry is None or entry.credential is not credential:
                return False
            self._drop()
        self._discard_shared(credential)  # other processes stop serving it too
        return True

    def _drop(self) -> _Entry | None:
        """Forget the cache, the fetch in flight and any remembered failure; caller holds the write lock.

        Returns the entry dropped, for the caller to drop from the shared cache once unlocked.
        """
        dropped, self._entry = self._entry, None
        self._epoch += 1
        self._pending = None
        self._last_error = None
        self._error_until = 0.0
        self._retry_not_before = 0.0
        return dropped

    def _discard_shared(self, credential: Credential) -> None:
        """Delete the shared cache's entry if it still holds `credential` (no lock held: I/O)."""
        link = self._settings.cache
        if link is not None:
            link.discard(self, credential)

    def _cache_identity(self) -> tuple[dict[str, str], bytes | None] | None:
        """Who this provider fetches for, to share its tokens: (non-secret fields, local secret).

        The fields name the identity (tenant, client, scope, endpoint...), never a secret; the
        secret is what the identity holds locally (a client secret, a private key) or None when
        it has none (metadata servers, federated token files). None (this default): not shared.
        """
        return None

    def schedule(self) -> Schedule | None:
        """The cached credential's refresh point and end of service; None when nothing is cached."""
        entry = self._entry  # one atomic read of an immutable entry, as in resolve()
        if entry is None:
            return None
        return Schedule(entry.refresh_at, entry.usable_until)

    def stats(self) -> ProviderStats:
        """A snapshot of counters for monitoring; never waits for a fetch.

        Coherent: `cache_hits` never exceeds `resolves` (hits are read first, and every
        resolve is counted before its hit); the other fields change together under the lock.
        """
        with self._lock.gen_rlock():
            hits = _count(self._hit_ticks)
            resolves = _count(self._resolve_ticks)
            entry = self._entry
            link = self._settings.cache
            return ProviderStats(
                resolves=resolves,
                cache_hits=hits,
                token_requests=self._token_requests,
                failures=self._failures,
                consecutive_failures=self._consecutive_failures,
                last_refresh=None
                if self._last_refresh is None
                else datetime.fromtimestamp(self._last_refresh, UTC),
                expires_at=None if entry is None else entry.credential.expires_at,
                refreshing=self._pending is not None,
                cache_loads=0 if link is None else link.loads,
                cache_rejects=0 if link is None else link.rejects,
            )

    def close(self) -> None:
        """Close the provider: drop the cache and close every HTTP session it created.

        Afterwards `resolve()` raises `ConfigurationError("<name>: provider is closed")` and no
        background refresh starts. close() does not wait for a fetch in flight: callers
        waiting for it get the same error at once, and its result is discarded. Idempotent.
        """
        with self._lock.gen_wlock():
            self._closed = True
            self._entry = None
            pending, self._pending = self._pending, None
            if pending is not None and not pending.done.is_set():
                pending.outcome = self._closed_error()
                pending.done.set()
            fetchers = list(self._fetchers)
        for fetcher in fetchers:
            fetcher.close()

    def _after_fork(self) -> None:
        # Locks may have been held, and fetches owned, by threads that do not exist in the child.
        self._init_locks()
        self._pending = None

    def _repr_fields(self) -> dict[str, object]:
        """What identifies this provider in its repr; never a secret."""
        return {}

    def __repr__(self) -> str:
        entry = self._entry
        fields = [f"{name}={value!r}" for name, value in self._repr_fields().items()]
        fields.append(f"cached={'none' if entry is None else repr(entry.credential)}")
        return f"{type(self).__name__}({', '.join(fields)})"


# -- checking the options -------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Settings:
    """A provider's checked options, held as one value (one attribute on the provider)."""

    http: HttpOptions
    policy: RefreshPolicy
    background: bool
    spawn: Spawn
    rand: Callable[[], float]
    budget: float  #: how long a caller waits for another's fetch (`fetch_budget`); the lease's duration
    cache: CacheLink | None  #: the shared token cache: per provider, so held here, not as an attribute
    thread_name: str  #: the background refresh thread's name


def check_options(cls_name: str, name: str, options: Mapping[str, object]) -> None:
    """Refuse unknown or bad `ProviderOptions` now, for code that passes them on later (chains)."""
    _check_options(cls_name, name, options)


def _check_options(cls_name: str, name: str, options: Mapping[str, object]) -> _Settings:
    """Refuse unknown options (`TypeError`) and bad values (`ConfigurationError`), at construction."""
    for key in options:
        if key not in _OPTION_NAMES:
            import difflib  # only for a mistake: not worth its import time on every start

            close = difflib.get_close_matches(key, _OPTION_NAMES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; the options are {', '.join(_OPTION_NAMES)}"
            raise TypeError(f"{cls_name}() got an unexpected keyword argument {key!r}{hint}")

    def bad(option: str, expected: str) -> NoReturn:
        value = options[option]
        shown = repr(value) if isinstance(value, (int, float, str, tuple, list, type(None))) else type(value).__name__
        raise ConfigurationError(f"{name}: {option} must be {expected}, got {shown[:80]}")

    session = options.get("session")
    if session is not None and not all(callable(getattr(session, m, None)) for m in ("request", "send")):
        bad("session", "a requests.Session (or None to make one)")
    timeout = options.get("timeout", DEFAULT_TIMEOUT)
    if not (
        _seconds(timeout, positive=True)
        or (isinstance(timeout, tuple) and len(timeout) == 2 and all(_seconds(t, positive=True) for t in timeout))
    ):
        bad("timeout", "a positive number of seconds or a (connect, read) pair of them")
    retry = options.get("retry", None)
    if retry is None:
        retry = RetryPolicy()
    elif not isinstance(retry, RetryPolicy):
        bad("retry", "a RetryPolicy")
    for option in ("clock", "sleep", "spawn", "rand"):
        if option in options and not callable(options[option]):
            bad(option, "callable")
    background = options.get("background_refresh", True)
    if not isinstance(background, bool):
        bad("background_refresh", "True or False")
    for option in ("refresh_margin", "expiry_skew"):
        if option in options and not _seconds(options[option], positive=False):
            bad(option, "a number of seconds >= 0")
    given_policy = options.get("refresh_policy", None)
    changes = {k: options[k] for k in ("refresh_margin", "expiry_skew") if k in options}
    if given_policy is not None:
        if not isinstance(given_policy, RefreshPolicy):
            bad("refresh_policy", "a RefreshPolicy")
        if changes:
            raise ConfigurationError(
                f"{name}: pass refresh_policy or {' and '.join(changes)}, not both "
                f"(use RefreshPolicy({', '.join(f'{k}=...' for k in changes)}))"
            )
    policy = given_policy if isinstance(given_policy, RefreshPolicy) else RefreshPolicy()
    problem = ""
    try:
        policy = dataclasses.replace(policy, **changes)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        problem = str(exc)
    if problem:  # raised here, outside the handler: no chained context
        raise ConfigurationError(f"{name}: {problem}")
    cache = options.get("cache", None)
    if cache is None:
        cache = default_cache()
    elif cache is not False and not isinstance(cache, TokenCache):
        bad("cache", "None (the process-wide MemoryCache), False or a TokenCache (literauth.cache)")
    http = HttpOptions(
        session=session,  # type: ignore[arg-type]
        timeout=timeout,  # type: ignore[arg-type]
        retry=retry,
        clock=options.get("clock", time.time),  # type: ignore[arg-type]
        sleep=options.get("sleep", time.sleep),  # type: ignore[arg-type]
    )
    return _Settings(
        http=http,
        policy=policy,
        background=background,
        spawn=options.get("spawn", start_daemon_thread),  # type: ignore[arg-type]
        rand=options.get("rand", random.random),  # type: ignore[arg-type]
        budget=fetch_budget(http.timeout, http.retry),
        thread_name=f"literauth-refresh-{name}",
        cache=None if cache is False else CacheLink(cache),
    )


def _seconds(value: object, *, positive: bool) -> bool:
    """Whether `value` is a finite real number (not a bool) >= 0, or > 0 when `positive`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    return value > 0 if positive else value >= 0


def _retry_hints(error: LiterAuthError) -> tuple[bool, float | None]:
    """(retryable, retry_after) as the error says; a `ConfigurationError` is permanent."""
    if isinstance(error, CredentialError):
        return error.retryable, error.retry_after
    return False, None


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, LiterAuthError) else type(exc).__name__


def _fresh_copy(exc: LiterAuthError) -> LiterAuthError:
    """A copy of `exc` with no traceback and no chained exception: safe to keep and to raise.

    A kept traceback would pin the frames of the caller that first saw it; a chained
    `__context__` may hold what the endpoint answered (a token, say). Each raise gets its own
    copy, so threads never share one traceback.
    """
    try:
        clone = copy.copy(exc)
    except Exception:  # noqa: BLE001 - a subclass whose __init__ cannot be replayed from its args
        clone = None
    if clone is None:  # decided outside the handler: the stand-in gets no __context__
        clone = CredentialError(str(exc), retryable=False)
    clone.__traceback__ = None
    clone.__context__ = None
    clone.__cause__ = None
    clone.__suppress_context__ = False
    return clone


def _reset_after_fork() -> None:
    for provider in list(_providers):
        provider._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
