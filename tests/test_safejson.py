"""`_safejson`: decoding that tells why it failed and never chains the body into an exception."""

from __future__ import annotations

import gc
import json
import sys

import pytest

from literauth import _safejson
from literauth._safejson import (
    INVALID_UTF8,
    NOT_JSON,
    TOO_DEEP,
    TOO_LARGE,
    Invalid,
    decode_utf8,
    loads,
)

SECRET = "token-in-the-body-0123456789abcdef"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"a": [1, 2.5, "x"]}', {"a": [1, 2.5, "x"]}),
        ('{"a": null}', {"a": None}),
        ("[]", []),
        (b'"\xc3\xa9"', "é"),
    ],
)
def test_valid_json(data: bytes | str, expected: object) -> None:
    assert loads(data) == expected


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff\xfe{}", INVALID_UTF8),
        (b"{not json", NOT_JSON),
        (b"", NOT_JSON),
        (b"\xef\xbb\xbf{}", NOT_JSON),  # a BOM is not JSON (RFC 8259 §8.1)
        (b"[" * 100_000 + b"]" * 100_000, TOO_DEEP),
        (b"1" * 5000, TOO_LARGE),
    ],
)
def test_invalid_bodies_say_why(data: bytes, reason: Invalid) -> None:
    result = loads(data)
    assert result is reason and isinstance(result, Invalid)
    assert str(result) == reason.reason


def test_nested_too_deeply_is_named_as_such() -> None:
    assert str(loads("[" * (sys.getrecursionlimit() * 10))) == "JSON nested too deeply"


def test_decode_utf8() -> None:
    assert decode_utf8(b"caf\xc3\xa9") == "café"
    assert decode_utf8("already text") == "already text"
    assert decode_utf8(b"caf\xe9") is INVALID_UTF8


def test_no_exception_holding_the_body_survives() -> None:
    """After a failed decode, no live JSONDecodeError/UnicodeDecodeError holds the body."""
    for body in (f'{{"access_token": "{SECRET}", oops}}'.encode(), f'{{"t": "{SECRET}"}}'.encode() + b"\xff"):
        assert isinstance(loads(body), Invalid)
        assert sys.exc_info() == (None, None, None)
        gc.collect()
        alive = [obj for obj in gc.get_objects() if isinstance(obj, (json.JSONDecodeError, UnicodeDecodeError))]
        assert not [obj for obj in alive if SECRET in str(getattr(obj, "doc", "")) or SECRET.encode() in getattr(obj, "object", b"")]


def test_an_error_raised_after_a_failed_decode_has_no_context() -> None:
    def parse(body: bytes) -> object:
        data = loads(body)
        problem = data if isinstance(data, Invalid) else None
        if problem is not None:
            raise LookupError(f"the body is {problem}")
        return data

    with pytest.raises(LookupError, match="not JSON") as info:
        parse(f'{{"access_token": "{SECRET}"'.encode())
    assert info.value.__context__ is None and info.value.__cause__ is None


def test_the_module_says_why_once() -> None:
    assert _safejson.__doc__ is not None and "__context__" in _safejson.__doc__


def test_deep_nesting_is_refused_before_the_parser_recurses(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_DEPTH the body is refused by a scan: json.loads (and the recursion limit) never runs."""
    def must_not_parse(text: str) -> object:
        raise AssertionError("json.loads ran on a body nested too deeply")

    monkeypatch.setattr(_safejson.json, "loads", must_not_parse)
    assert _safejson.loads(b"[" * 100_000) is _safejson.TOO_DEEP
    assert _safejson.loads("[" * (_safejson.MAX_DEPTH + 1) + "]" * (_safejson.MAX_DEPTH + 1)) is _safejson.TOO_DEEP


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    text = '{"a": "' + "[{" * 500 + '\\\\", "b": "\\"[[[["}'
    assert _safejson.loads(text) == {"a": "[{" * 500 + "\\", "b": '"[[[['}
    depth = _safejson.MAX_DEPTH
    assert _safejson.loads("[" * depth + "]" * depth) is not _safejson.TOO_DEEP  # at the limit: parsed
