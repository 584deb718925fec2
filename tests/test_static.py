"""StaticTokenProvider: the same BearerToken every time, no I/O."""

from __future__ import annotations

import pickle

import pytest

from literauth import (
    BearerToken,
    ConfigurationError,
    Credential,
    CredentialProvider,
    SecretString,
    StaticTokenProvider,
)

TOKEN = "static-token-from-a-sidecar-0123456789"


@pytest.mark.parametrize("token", [TOKEN, SecretString(TOKEN)])
def test_returns_the_same_bearer_token(token: str | SecretString) -> None:
    provider = StaticTokenProvider(token)
    first = provider.resolve()
    assert isinstance(first, BearerToken)
    assert first.token.expose_secret() == TOKEN
    assert first.expires_at is None
    assert provider.resolve() is first
    assert provider.resolve(force_refresh=True) is first
    assert isinstance(provider, CredentialProvider)


@pytest.mark.parametrize("token", ["", "   ", "\n"])
def test_empty_token_is_refused(token: str) -> None:
    with pytest.raises(ConfigurationError, match="non-empty"):
        StaticTokenProvider(token)


def test_no_io(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("StaticTokenProvider must not open sockets")

    provider = StaticTokenProvider(TOKEN)
    monkeypatch.setattr(socket, "socket", refuse)
    provider.resolve()


def test_repr_and_pickle() -> None:
    provider = StaticTokenProvider(TOKEN)
    assert TOKEN not in repr(provider) and TOKEN not in str(provider)
    with pytest.raises(TypeError):
        pickle.dumps(provider)


@pytest.mark.parametrize("token", ["a\nb", "a b", "abc\r\n", "x\x00y"])
def test_token_with_whitespace_or_control_characters_is_refused(token: str) -> None:
    with pytest.raises(ConfigurationError, match="whitespace|control character") as info:
        StaticTokenProvider(token)
    assert token not in str(info.value)


def test_with_scope_returns_the_provider_itself() -> None:
    provider = StaticTokenProvider(TOKEN)
    assert provider.with_scope("https://other.example/.default") is provider


def test_force_refresh_is_keyword_only() -> None:
    provider = StaticTokenProvider(TOKEN)
    with pytest.raises(TypeError):
        provider.resolve(True)  # type: ignore[misc]


def test_declares_its_credential_type_and_is_a_context_manager() -> None:
    assert StaticTokenProvider.credential_type is BearerToken
    assert CredentialProvider.credential_type is Credential
    with StaticTokenProvider(TOKEN) as provider:
        provider.invalidate()  # the base's no-op defaults
        assert provider.resolve().token.expose_secret() == TOKEN
    provider.close()
