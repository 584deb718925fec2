"""The engine's options are checked when the provider is built; fetchers and the ABC."""

from __future__ import annotations

import math
from typing import Any

import pytest

from literauth import (
    BearerToken,
    ConfigurationError,
    Credential,
    CredentialProvider,
    RefreshingCredentialProvider,
    SecretString,
)
from literauth._policy import RefreshPolicy, RetryPolicy
from literauth.provider import HttpOptions, fetch_budget

from ._engine_helpers import ScriptedProvider
from .conftest import FakeClock


@pytest.mark.parametrize(
    ("typo", "meant"),
    [("timeuot", "timeout"), ("refresh_margn", "refresh_margin"), ("backgroud_refresh", "background_refresh"),
     ("sesion", "session"), ("retries", "retry")],
)
def test_unknown_option_is_a_type_error_suggesting_the_closest_name(typo: str, meant: str) -> None:
    with pytest.raises(TypeError, match=f"unexpected keyword argument '{typo}'; did you mean '{meant}'"):
        ScriptedProvider(**{typo: 5})


def test_unknown_option_without_a_close_name_lists_the_options() -> None:
    with pytest.raises(TypeError, match="'zzz'; the options are background_refresh, cache, clock, "):
        ScriptedProvider(zzz=1)


class _NotASession:
    pass


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("timeout", "5"), ("timeout", -1), ("timeout", 0), ("timeout", (1, 2, 3)), ("timeout", (1, -2)),
        ("timeout", math.inf), ("timeout", math.nan), ("timeout", True), ("timeout", [1, 2]), ("timeout", None),
        ("session", {}), ("session", _NotASession()), ("session", "https://proxy"),
        ("retry", 3), ("retry", {"max_attempts": 3}),
        ("refresh_policy", 300), ("clock", "x"), ("sleep", 1.0), ("spawn", "thread"), ("rand", 0.5),
        ("background_refresh", "no"), ("background_refresh", 1), ("background_refresh", None),
        ("refresh_margin", -5), ("refresh_margin", True), ("refresh_margin", "300"), ("refresh_margin", math.inf),
        ("expiry_skew", -1), ("expiry_skew", False), ("expiry_skew", math.nan),
    ],
)
def test_bad_option_values_are_configuration_errors_naming_the_option(option: str, value: object) -> None:
    with pytest.raises(ConfigurationError, match=f"^scripted: {option} must be"):
        ScriptedProvider(**{option: value})


def test_good_option_values_are_accepted() -> None:
    import requests

    with requests.Session() as session:
        ScriptedProvider(
            session=session, timeout=(1, 2.5), retry=RetryPolicy(), refresh_policy=RefreshPolicy(),
            clock=lambda: 0.0, sleep=lambda s: None, spawn=lambda job, name: None, rand=lambda: 0.5,
            background_refresh=False,
        )
    ScriptedProvider(timeout=3, refresh_margin=0, expiry_skew=0)
    ScriptedProvider(session=None, retry=None)  # type: ignore[arg-type]  # None: the defaults


@pytest.mark.parametrize("changes", [{"refresh_margin": 100}, {"expiry_skew": 10}, {"refresh_margin": 100, "expiry_skew": 10}])
def test_refresh_policy_with_margin_or_skew_is_refused(changes: dict[str, float]) -> None:
    with pytest.raises(ConfigurationError, match="pass refresh_policy or .*, not both") as info:
        ScriptedProvider(refresh_policy=RefreshPolicy(refresh_margin=600), **changes)  # type: ignore[arg-type]
    for name in changes:
        assert name in str(info.value)


def test_skew_larger_than_margin_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="scripted: expiry_skew .* must not exceed refresh_margin"):
        ScriptedProvider(expiry_skew=400)
    with pytest.raises(ConfigurationError, match="must not exceed"):
        ScriptedProvider(refresh_margin=10)  # the default skew is 30 s


def test_fetch_budget_is_the_retry_budget_plus_one_attempt() -> None:
    assert fetch_budget((5.0, 15.0), RetryPolicy()) == 60 + 5 + 15
    assert fetch_budget(2.0, RetryPolicy(total_timeout=10)) == 10 + 2 + 2
    assert ScriptedProvider(timeout=(1, 2), retry=RetryPolicy(total_timeout=3))._settings.budget == 6


def test_http_options_are_one_frozen_value(clock: FakeClock) -> None:
    retry = RetryPolicy(max_attempts=1)
    provider = ScriptedProvider(clock=clock, timeout=(1, 2), retry=retry)
    options = provider._settings.http
    assert options == HttpOptions(session=None, timeout=(1, 2), retry=retry, clock=clock, sleep=options.sleep)
    with pytest.raises(AttributeError):
        options.timeout = 3  # type: ignore[misc]


class _TwoEndpoints(RefreshingCredentialProvider):
    provider_name = "test.two_endpoints"

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.first = self._make_fetcher("https://login.example/token")
        self.second = self._make_fetcher("https://iam.example/token", timeout=(9, 9))

    def _fetch(self) -> Credential:
        raise AssertionError("not called")


def test_the_engine_owns_and_closes_every_fetcher(clock: FakeClock) -> None:
    provider = _TwoEndpoints(clock=clock, timeout=(1, 2))
    assert provider._fetchers == [provider.first, provider.second]
    assert provider.first.timeout == (1, 2) and provider.second.timeout == (9, 9)  # extra keywords win
    assert provider.first.url == "https://login.example/token"
    closed: list[str] = []
    for fetcher in provider._fetchers:
        fetcher.close = lambda f=fetcher: closed.append(f.url)  # type: ignore[method-assign]
    provider.close()
    assert closed == ["https://login.example/token", "https://iam.example/token"]


def test_default_provider_name_is_used_as_given_in_thread_names() -> None:
    assert _TwoEndpoints()._settings.thread_name == "literauth-refresh-test.two_endpoints"


def test_force_refresh_is_keyword_only() -> None:
    provider = ScriptedProvider()
    with pytest.raises(TypeError):
        provider.resolve(True)  # type: ignore[misc]


def test_the_abc_declares_what_callers_use() -> None:
    class Minimal(CredentialProvider):
        def resolve(self, *, force_refresh: bool = False) -> Credential:
            return BearerToken(SecretString("t"))

    with Minimal() as provider:  # __enter__/__exit__ and the no-op close()
        provider.invalidate()
        assert provider.resolve(force_refresh=True).expires_at is None
    assert Minimal.credential_type is Credential
    assert ScriptedProvider.credential_type is Credential
    with pytest.raises(TypeError):
        CredentialProvider()  # type: ignore[abstract]


def test_with_scope_style_copies_get_the_same_options(clock: FakeClock) -> None:
    provider = ScriptedProvider(clock=clock, background_refresh=False, timeout=(1, 2))
    copy = ScriptedProvider(**provider._options)
    assert copy._settings.http == provider._settings.http
    assert copy._settings.background is False
