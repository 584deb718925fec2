"""ChainProvider: the first configured source wins, unconfigured ones are skipped, broken ones raise."""

from __future__ import annotations

import threading

import pytest

from literauth import (
    BearerToken,
    ChainProvider,
    ConfigurationError,
    CredentialProvider,
    SecretString,
    SourceNotConfigured,
    StaticTokenProvider,
)
from literauth.testing import FakeIdentityServer

from .conftest import assert_no_secret


class Counting:
    """A source that counts its calls and returns a static provider (or raises `error`)."""

    def __init__(self, token: str = "tok-1", error: Exception | None = None) -> None:
        self.calls = 0
        self.token = token
        self.error = error

    def __call__(self) -> CredentialProvider:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return StaticTokenProvider(self.token)


def test_the_first_configured_source_wins_and_later_ones_are_not_tried() -> None:
    absent = Counting(error=SourceNotConfigured("AZURE_FEDERATED_TOKEN_FILE is not set"))
    present = Counting("tok-2")
    never = Counting("tok-3")
    chain = ChainProvider([("workload", absent), ("static", present), ("never", never)])

    credential = chain.resolve()

    assert isinstance(credential, BearerToken) and credential.token.expose_secret() == "tok-2"
    assert (absent.calls, present.calls, never.calls) == (1, 1, 0)
    outcomes = [(o.name, o.status) for o in chain.describe()]
    assert outcomes == [("workload", "skipped"), ("static", "chosen"), ("never", "not tried")]
    assert chain.describe()[0].reason == "AZURE_FEDERATED_TOKEN_FILE is not set"


def test_the_choice_is_made_once() -> None:
    present = Counting()
    chain = ChainProvider([present])
    for _ in range(5):
        chain.resolve()
    assert present.calls == 1
    assert isinstance(chain.chosen, StaticTokenProvider)


def test_a_configured_source_that_fails_raises_instead_of_falling_through() -> None:
    broken = Counting(error=ConfigurationError("AZURE_TENANT_ID 'x y' is not a tenant"))
    later = Counting()
    chain = ChainProvider([("secret", broken), ("later", later)])

    with pytest.raises(ConfigurationError, match="is not a tenant"):
        chain.resolve()

    assert later.calls == 0
    assert [(o.name, o.status) for o in chain.describe()] == [("secret", "failed"), ("later", "not tried")]


def test_no_configured_source_says_why_each_was_skipped() -> None:
    chain = ChainProvider([
        ("a", Counting(error=SourceNotConfigured("A_VAR is not set"))),
        ("b", Counting(error=SourceNotConfigured("B_FILE does not exist"))),
    ], name="azure.default")

    with pytest.raises(SourceNotConfigured) as caught:
        chain.resolve()

    message = str(caught.value)
    assert message.startswith("azure.default: no credential source is configured here")
    assert "a: skipped (A_VAR is not set)" in message and "b: skipped (B_FILE does not exist)" in message
    assert isinstance(caught.value, ConfigurationError)  # a chain inside a chain is skipped in turn


def test_chains_nest_an_empty_inner_chain_is_skipped() -> None:
    inner = ChainProvider([Counting(error=SourceNotConfigured("nothing here"))], name="inner")
    outer = ChainProvider([("inner", inner.choose), ("static", Counting("tok-outer"))])
    assert outer.resolve().token.expose_secret() == "tok-outer"  # type: ignore[attr-defined]
    assert outer.describe()[0].status == "skipped"


def test_describe_never_shows_a_secret(server: FakeIdentityServer) -> None:
    secret = "s3cr3t-" + "z" * 40

    def failing() -> CredentialProvider:
        raise ConfigurationError("bad configuration, secret withheld")

    chain = ChainProvider([("static", lambda: StaticTokenProvider(SecretString(secret))), ("x", failing)])
    chain.resolve()
    texts = [str(o) for o in chain.describe()] + [repr(chain)]
    assert_no_secret(texts, [secret])


def test_concurrent_first_calls_choose_once() -> None:
    slow = Counting()
    barrier = threading.Barrier(16)
    chain = ChainProvider([slow])
    results: list[str] = []

    def call() -> None:
        barrier.wait()
        results.append(chain.resolve().token.expose_secret())  # type: ignore[attr-defined]

    threads = [threading.Thread(target=call) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert slow.calls == 1 and results == ["tok-1"] * 16


def test_sources_must_be_callables() -> None:
    with pytest.raises(TypeError, match="non-empty"):
        ChainProvider([])
    with pytest.raises(TypeError, match="source 0"):
        ChainProvider(["not callable"])  # type: ignore[list-item]


def test_invalidate_and_close_reach_the_chosen_provider(server: FakeIdentityServer) -> None:
    chain = ChainProvider([("azure", lambda: server.azure_provider())])
    chain.resolve()
    chain.invalidate()
    chain.resolve()
    assert server.azure.request_count == 2
    chain.close()
