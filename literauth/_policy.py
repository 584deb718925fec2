"""Policies as frozen values: when to refresh a credential, when and how long to retry.

Both are immutable so threads share them freely and tests ask them questions directly,
without sleeping.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable

__all__ = ["RefreshPolicy", "RetryPolicy"]

REFRESH_MARGIN = 300.0  # refresh five minutes before expiry
EXPIRY_SKEW = 30.0  # a credential this close to expiry is treated as expired
MAX_JITTER = 5.0  # spread refreshes of many processes holding one identity
COOLDOWN = 30.0  # first pause after a failed fetch that retrying soon cannot fix
MAX_COOLDOWN = 300.0  # the pause stops growing here
RETRY_WHEN_UNUSABLE = 5.0  # pause after a transient failure while no usable credential exists
MAX_LIFETIME = 86400.0  # no cloud access token lives longer than a day: a longer claim is not trusted


def _check_number(name: str, value: object, *, positive: bool = False, integer: bool = False) -> None:
    """Refuse anything but a real number (a bool is not one) >= 0, or > 0 when `positive`."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or (integer and not isinstance(value, int))
        or math.isnan(value)
    ):
        kind = "an integer" if integer else "a number"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be {'> 0' if positive else '>= 0'}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class RefreshPolicy:
    """When a credential with a given lifetime is due for refresh, and the pauses after a failure.

    `refresh_margin` seconds before expiry the credential is refreshed in the background;
    within `expiry_skew` of expiry it is no longer served, so the skew may not exceed the
    margin. `jitter` is the largest random shift (earlier) of the refresh point, never past
    the margin. A credential claiming to live longer than `max_lifetime` is treated as
    expiring then (`math.inf` trusts any claim).

    Pauses: `pause_after(failures)` (from `cooldown`, doubling up to `max_cooldown`) answers
    "when may we try again" after a failure retrying soon cannot fix, and before the next
    background try while the cached credential is still served; `retry_when_unusable` is the
    short pause after a transient failure when nothing usable is cached.
    """

    refresh_margin: float = REFRESH_MARGIN
    expiry_skew: float = EXPIRY_SKEW
    jitter: float = MAX_JITTER
    cooldown: float = COOLDOWN
    max_cooldown: float = MAX_COOLDOWN
    retry_when_unusable: float = RETRY_WHEN_UNUSABLE
    max_lifetime: float = MAX_LIFETIME

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            _check_number(field.name, getattr(self, field.name), positive=field.name == "max_lifetime")
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if math.isinf(value) and field.name != "max_lifetime":
                raise ValueError(f"{field.name} must be finite, got {value!r}")
        if self.expiry_skew > self.refresh_margin:
            raise ValueError(
                f"expiry_skew ({self.expiry_skew:g} s) must not exceed refresh_margin ({self.refresh_margin:g} s): "
                "a credential would stop being served before its refresh is due"
            )

    def trusted_expiry(self, issued_at: float, expires_at: float) -> float:
        """`expires_at`, or `issued_at + max_lifetime` when the claim is longer than that.

        A misconfigured or hostile endpoint answering with a ten-year lifetime must not keep a
        token cached (and never refreshed) for ten years.
        """
        return min(expires_at, issued_at + self.max_lifetime)

    def refresh_at(self, issued_at: float, expires_at: float, rand: Callable[[], float] = random.random) -> float:
        """The time a credential valid from `issued_at` to `expires_at` should be refreshed.

        The margin applies to long-lived tokens; a lifetime shorter than twice the margin
        refreshes at half its lifetime instead, so short tokens are not refetched per call.
        The point never falls after `usable_until`: a token so short that half its lifetime
        is within the skew refreshes half way through the time it is served.
        """
        lifetime = max(0.0, expires_at - issued_at)
        margin = self.refresh_margin if lifetime >= 2 * self.refresh_margin else lifetime / 2
        jitter = min(self.jitter, margin / 10) * rand()
        point = expires_at - margin - jitter
        usable_until = self.usable_until(expires_at)
        if point > usable_until:
            point = issued_at + max(0.0, usable_until - issued_at) / 2
        return point

    def usable_until(self, expires_at: float) -> float:
        """The last moment a credential is still handed out."""
        return expires_at - self.expiry_skew

    def pause_after(self, failures: int) -> float:
        """How long to wait before trying again after `failures` consecutive failures.

        Used for failures retrying soon cannot fix (a wrong secret), and between background
        refresh attempts while the cached credential is still served.
        """
        return min(self.max_cooldown, self.cooldown * 2.0 ** max(0, failures - 1))


RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in attempts and total time.

    `total_timeout` bounds the time before the last attempt starts (0: no retry after the
    first attempt). Which HTTP statuses are retried is `RETRY_STATUSES`; a parser can mark
    any other answer retryable through its error (e.g. IMDS answering 404 while starting).
    """

    max_attempts: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    retry_after_max: float = 30.0
    total_timeout: float = 60.0

    def __post_init__(self) -> None:
        _check_number("max_attempts", self.max_attempts, positive=True, integer=True)
        for name in ("backoff_base", "backoff_max", "retry_after_max", "total_timeout"):
            value = getattr(self, name)
            _check_number(name, value)
            if math.isinf(value):
                raise ValueError(f"{name} must be finite, got {value!r}")

    @staticmethod
    def is_retryable_status(status_code: int) -> bool:
        """Whether an HTTP status is worth another attempt (throttling, server trouble)."""
        return status_code in RETRY_STATUSES

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Full-jitter delay after the failed `attempt` (1-based)."""
        return rand() * min(self.backoff_max, self.backoff_base * 2.0 ** (attempt - 1))

    def delay(self, attempt: int, retry_after: float | None, rand: Callable[[], float] = random.random) -> float:
        """The pause before the next attempt: `Retry-After` (capped) wins over backoff."""
        if retry_after is not None:
            return min(max(0.0, retry_after), self.retry_after_max)
        return self.backoff(attempt, rand)

    @staticmethod
    def parse_retry_after(value: str | None, now: float) -> float | None:
        """Seconds to wait from a `Retry-After` header (delta seconds or an HTTP date)."""
        if not value:
            return None
        value = value.strip()
        if value.isascii() and value.isdigit():  # str.isdigit() also accepts '²', which float() refuses
            return float(value)
        try:
            import email.utils  # here: only a Retry-After date needs it, a tenth of the import

            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None or when.tzinfo is None:
            return None
        return max(0.0, when.timestamp() - now)
