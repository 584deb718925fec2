"""Credentials are frozen, UTC-normalised and never show a secret."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import datetime, timedelta, timezone

import pytest

from literauth import (
    AwsCredentials,
    BearerToken,
    ConfigurationError,
    Credential,
    SecretString,
)
from literauth.credentials import UTC, check_token_text

KEY = "AKIAEXAMPLEKEY000001"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "bearer-token-value-0123456789abcdef"


def _aws() -> AwsCredentials:
    return AwsCredentials(SecretString(KEY), SecretString(SECRET), SecretString("session-token-xyz-123456789"))


def test_both_kinds_are_credentials() -> None:
    assert isinstance(BearerToken(SecretString(TOKEN)), Credential)
    assert isinstance(_aws(), Credential)


def test_repr_shows_kind_and_expiry_only() -> None:
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    bearer = BearerToken(SecretString(TOKEN), when)
    assert repr(bearer) == "BearerToken(expires_at=2030-01-02T03:04:05+00:00)"
    for text in (repr(_aws()), str(_aws()), repr(bearer), str(bearer)):
        for secret in (KEY, SECRET, TOKEN):
            assert secret not in text
    assert repr(_aws()) == "AwsCredentials(expires_at=never)"


def test_frozen() -> None:
    bearer = BearerToken(SecretString(TOKEN))
    with pytest.raises(dataclasses.FrozenInstanceError):
        bearer.token = SecretString("x")  # type: ignore[misc]


def test_expiry_is_normalised_to_utc() -> None:
    plus2 = timezone(timedelta(hours=2))
    bearer = BearerToken(SecretString(TOKEN), datetime(2030, 1, 1, 12, 0, tzinfo=plus2))
    assert bearer.expires_at == datetime(2030, 1, 1, 10, 0, tzinfo=UTC)
    assert bearer.expires_at is not None and bearer.expires_at.tzinfo == UTC


def test_naive_expiry_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        BearerToken(SecretString(TOKEN), datetime(2030, 1, 1))


def test_plain_strings_are_refused() -> None:
    with pytest.raises(TypeError):
        BearerToken(TOKEN)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        AwsCredentials(KEY, SecretString(SECRET))  # type: ignore[arg-type]


def test_equality_and_no_hashing() -> None:
    assert BearerToken(SecretString(TOKEN)) == BearerToken(SecretString(TOKEN))
    assert BearerToken(SecretString(TOKEN)) != BearerToken(SecretString(TOKEN + "x"))
    with pytest.raises(TypeError):
        hash(BearerToken(SecretString(TOKEN)))


def test_pickle_refused() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(_aws())


def test_expires_at_epoch() -> None:
    when = datetime(2030, 1, 1, tzinfo=UTC)
    assert BearerToken(SecretString(TOKEN), when).expires_at_epoch == when.timestamp()
    assert BearerToken(SecretString(TOKEN)).expires_at_epoch is None


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        ("abc\ndef", "whitespace"),
        ("abc\r\ndef", "whitespace"),
        ("abc def", "whitespace"),
        ("abc\tdef", "whitespace"),
        ("abc\u2028def", "whitespace"),
        ("abc\x00def", "control character"),
        ("abc\x7fdef", "control character"),
        ("abc\x85def", "whitespace"),
        ("trailing\n", "whitespace"),
        ("", "empty"),
    ],
)
def test_tokens_with_whitespace_or_control_characters_are_refused(token: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem) as info:
        BearerToken(SecretString(token))
    assert token.strip() == "" or token not in str(info.value)
    assert "abc" not in str(info.value)


@pytest.mark.parametrize("field", ["access_key_id", "secret_access_key", "session_token"])
def test_aws_fields_are_checked_like_tokens(field: str) -> None:
    values = {"access_key_id": KEY, "secret_access_key": SECRET, "session_token": "session-token-xyz"}
    values[field] = values[field][:5] + "\n" + values[field][5:]
    with pytest.raises(ConfigurationError, match=field) as info:
        AwsCredentials(*(SecretString(values[name]) for name in values))
    assert values[field] not in str(info.value)


def test_jwt_like_and_base64_tokens_pass() -> None:
    for token in ("eyJhbGciOi.eyJzdWIiOi-_.c2lnbmF0dXJl", "ya29.a0AfH6SMB+/x==", "token-1", "~!$%&*"):
        assert check_token_text("token", SecretString(token)) is None
