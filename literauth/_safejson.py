"""UTF-8 and JSON decoding that never leaves the decoded text inside an exception.

Why this module exists: `json.JSONDecodeError` keeps the whole document in `.doc` and
`UnicodeDecodeError` keeps the bytes in `.object`. Any exception raised while one of them is
being handled gets it as `__context__`, so a token answer (which holds the token) or an error
answer echoing a secret would ride along in every traceback, `logging.exception` record and
error reporter. The idiom, written once here: decode inside `try`, remember only *why* it
failed, and return after the handler is gone, so no exception of ours can chain to it.
Callers get a value or an `Invalid` carrying that reason, and nothing is ever raised.
"""

from __future__ import annotations

import dataclasses
import json

__all__ = ["INVALID_UTF8", "NOT_JSON", "TOO_DEEP", "TOO_LARGE", "Invalid", "decode_utf8", "loads"]


@dataclasses.dataclass(frozen=True)
class Invalid:
    """Why a body could not be decoded; `reason` reads after "a body that is …"."""

    reason: str

    def __str__(self) -> str:
        return self.reason


INVALID_UTF8 = Invalid("not valid UTF-8")
NOT_JSON = Invalid("not JSON")
TOO_DEEP = Invalid("JSON nested too deeply")  # the parser recursed past the stack limit
TOO_LARGE = Invalid("JSON with a number too long to read")  # ints past sys.get_int_max_str_digits()


def decode_utf8(data: bytes | str) -> str | Invalid:
    """`data` as text, strictly UTF-8 (RFC 8259 §8.1); a `str` is returned as it is."""
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass  # the error holds `data`: return outside the handler
    return INVALID_UTF8


#: Deeper nesting is refused before parsing: no credential document nests like this, and
#: letting the parser hit the recursion limit runs garbage collection (and finalizers) at the
#: bottom of a full stack.
MAX_DEPTH = 200


def _too_deep(text: str) -> bool:
    """Whether arrays and objects nest past `MAX_DEPTH` (brackets inside strings do not count).

    Only a body with that many opening brackets at all is scanned, so a token answer pays two
    C-level counts.
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    depth, in_string, escaped = 0, False, False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif char in "]}":
            depth -= 1
    return False


def loads(data: bytes | str) -> object:
    """The JSON value in `data`, or an `Invalid` saying why there is none (never raises)."""
    text = decode_utf8(data)
    if isinstance(text, Invalid):
        return text
    if _too_deep(text):
        return TOO_DEEP
    problem = NOT_JSON
    try:
        return json.loads(text)
    except RecursionError:  # a deep stack already: the limit came before MAX_DEPTH
        problem = TOO_DEEP
    except ValueError as exc:  # JSONDecodeError is a ValueError; so is an over-long integer
        problem = NOT_JSON if isinstance(exc, json.JSONDecodeError) else TOO_LARGE
    return problem
