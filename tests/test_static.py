"""StaticTokenProvider: the same BearerToken every time, no I/O."""

from __future__ import annotations

import pickle

import pytest

from literauth import (
    BearerToken,
    ConfigurationError,
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
