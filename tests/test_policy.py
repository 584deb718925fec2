"""Refresh and retry policies answer questions without sleeping."""

from __future__ import annotations

import email.utils

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


def test_soft_cooldown_grows_and_caps() -> None:
    policy = RefreshPolicy(cooldown=30, max_cooldown=300)
    assert [policy.soft_cooldown(n) for n in (1, 2, 3, 4, 5, 9)] == [30, 60, 120, 240, 300, 300]


def test_negative_values_are_refused() -> None:
    with pytest.raises(ValueError, match="refresh_margin"):
        RefreshPolicy(refresh_margin=-1)


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
