"""SecretString never shows its value and refuses to be hashed or pickled."""

from __future__ import annotations

import copy
import logging
import pickle

import pytest

from literauth import SecretString

VALUE = "s3cr3t-value-that-must-not-leak"


def test_repr_str_and_format_mask_the_value() -> None:
    secret = SecretString(VALUE)
    printf = "%s" % secret  # noqa: UP031 - printf-style formatting must mask too
    rendered = [repr(secret), str(secret), f"{secret}", f"{secret!r}", printf, f"{secret:>40}"]
    for text in rendered:
        assert VALUE not in text
    assert repr(secret) == "SecretString('**********')"
    assert str(secret) == "**********"


def test_expose_secret_returns_value() -> None:
    assert SecretString(VALUE).expose_secret() == VALUE


def test_wrapping_a_secret_string_keeps_the_value() -> None:
    assert SecretString(SecretString(VALUE)).expose_secret() == VALUE  # type: ignore[arg-type]


def test_non_str_is_refused() -> None:
    with pytest.raises(TypeError):
        SecretString(b"bytes")  # type: ignore[arg-type]


def test_equality_compares_values() -> None:
    assert SecretString(VALUE) == SecretString(VALUE)
    assert SecretString(VALUE) != SecretString(VALUE + "x")
    assert SecretString(VALUE) != VALUE  # a secret never equals a plain string


def test_equality_uses_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert SecretString("a") == SecretString("a")
    assert calls


def test_unhashable() -> None:
    with pytest.raises(TypeError):
        hash(SecretString(VALUE))
    with pytest.raises(TypeError):
        {SecretString(VALUE): 1}


def test_pickle_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(SecretString(VALUE))


def test_immutable() -> None:
    secret = SecretString(VALUE)
    with pytest.raises(AttributeError):
        secret._value = "other"  # type: ignore[misc]


def test_copy_keeps_value() -> None:
    secret = SecretString(VALUE)
    assert copy.deepcopy(secret).expose_secret() == VALUE


def test_logging_a_secret_masks_it(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger("literauth.test").debug("value is %s / %r", SecretString(VALUE), SecretString(VALUE))
    assert VALUE not in caplog.text
    assert "**********" in caplog.text


def test_truthiness_and_length() -> None:
    assert not SecretString("")
    assert len(SecretString("abc")) == 3
