"""Refresh and retry policies answer questions without sleeping."""

from __future__ import annotations

import email.utils
import math

import pytest

from literauth._policy import RefreshPolicy, RetryPolicy


def test_refresh_margin_applies_to_long_tokens() -> None:
    policy = RefreshPolicy(jitter=0)
    assert policy.refresh_at(0, 3600) == 3300


def test_short_tokens_refresh_at_half_life() -> None:
    policy = RefreshPolicy(jitter=0)
    assert policy.refresh_at(0, 400) == 200  # 400 < 2 * 300


def test_jitter_is_earlier_and_never_past_the_margin() -> None:
    policy = RefreshPolicy(jitter=5)
    assert policy.refresh_at(0, 3600, rand=lambda: 0.999) >= 3600 - 300 - 5
    assert policy.refresh_at(0, 3600, rand=lambda: 0.999) < 3300
    assert policy.refresh_at(0, 3600, rand=lambda: 0.0) == 3300
    # for a short token jitter is scaled to a tenth of its margin
    assert policy.refresh_at(0, 100, rand=lambda: 0.999) > 50 - 5.0


def test_usable_until_honours_skew() -> None:
    assert RefreshPolicy(expiry_skew=30).usable_until(1000) == 970


def test_pause_after_grows_and_caps() -> None:
    policy = RefreshPolicy(cooldown=30, max_cooldown=300)
    assert [policy.pause_after(n) for n in (1, 2, 3, 4, 5, 9)] == [30, 60, 120, 240, 300, 300]


def test_retry_when_unusable_is_the_short_pause() -> None:
    assert RefreshPolicy().retry_when_unusable == 5.0
    assert RefreshPolicy(retry_when_unusable=1).retry_when_unusable == 1


def test_negative_values_are_refused() -> None:
    with pytest.raises(ValueError, match="refresh_margin"):
        RefreshPolicy(refresh_margin=-1)


@pytest.mark.parametrize("field", ["refresh_margin", "expiry_skew", "jitter", "cooldown", "retry_when_unusable"])
@pytest.mark.parametrize("value", [True, "5", None, math.nan, math.inf])
def test_refresh_policy_refuses_non_numbers(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        RefreshPolicy(**{field: value})  # type: ignore[arg-type]


def test_skew_larger_than_margin_is_refused() -> None:
    with pytest.raises(ValueError, match=r"expiry_skew \(400 s\) must not exceed refresh_margin \(300 s\)"):
        RefreshPolicy(expiry_skew=400)
    RefreshPolicy(expiry_skew=300)  # equal is fine


def test_short_token_refreshes_before_it_stops_being_served() -> None:
    policy = RefreshPolicy(jitter=0)
    # 50 s token: half its life (25 s) is inside the 30 s skew; refresh half way to usable_until
    assert policy.usable_until(50) == 20
    assert policy.refresh_at(0, 50) == 10
    for lifetime in (31, 40, 59, 60, 61, 100, 599, 600, 601, 3600):
        for rand in (0.0, 0.999):
            assert policy.refresh_at(0, lifetime, rand=lambda r=rand: r) <= policy.usable_until(lifetime)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_attempts", 0), ("max_attempts", True), ("max_attempts", 2.5), ("max_attempts", "3"),
        ("backoff_base", -1), ("backoff_base", True), ("backoff_max", -0.1), ("backoff_max", math.nan),
        ("retry_after_max", -1), ("retry_after_max", None), ("total_timeout", -1), ("total_timeout", math.inf),
    ],
)
def test_retry_policy_validates_every_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        RetryPolicy(**{field: value})  # type: ignore[arg-type]


def test_retry_policy_accepts_zero_budgets() -> None:
    policy = RetryPolicy(max_attempts=1, backoff_base=0, total_timeout=0)
    assert policy.backoff(1, rand=lambda: 1.0) == 0


def test_retryable_statuses() -> None:
    for status in (429, 500, 502, 503, 504):
        assert RetryPolicy.is_retryable_status(status)
    for status in (400, 401, 403, 404, 301):
        assert not RetryPolicy.is_retryable_status(status)


def test_backoff_is_full_jitter_and_capped() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=8)
    assert policy.backoff(1, rand=lambda: 1.0) == 0.5
    assert policy.backoff(3, rand=lambda: 1.0) == 2.0
    assert policy.backoff(10, rand=lambda: 1.0) == 8.0
    assert policy.backoff(3, rand=lambda: 0.0) == 0.0


def test_retry_after_wins_and_is_capped() -> None:
    policy = RetryPolicy(retry_after_max=30)
    assert policy.delay(1, 7.0) == 7.0
    assert policy.delay(1, 600.0) == 30.0


def test_parse_retry_after_seconds_and_date() -> None:
    assert RetryPolicy.parse_retry_after("12", now=0) == 12.0
    date = email.utils.formatdate(1_000_060, usegmt=True)
    assert RetryPolicy.parse_retry_after(date, now=1_000_000) == pytest.approx(60)
    assert RetryPolicy.parse_retry_after("garbage", now=0) is None
    assert RetryPolicy.parse_retry_after(None, now=0) is None
