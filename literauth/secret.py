"""`SecretString`: a string that refuses to show itself."""

from __future__ import annotations

import hmac
from typing import Any, NoReturn

__all__ = ["SecretString"]

_MASK = "**********"


class SecretString:
    """Holds a secret; `repr`, `str` and formatting print a mask, never the value.

    Call `expose_secret()` at the one place the value is really needed. Equality is
    constant-time; instances are unhashable and refuse to be pickled, so a secret is
    not written to disk or a cache key by accident.
    """

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str | SecretString) -> None:
        raw: object = value.expose_secret() if isinstance(value, SecretString) else value
        if not isinstance(raw, str):
            raise TypeError(f"SecretString needs a str, got {type(raw).__name__}")
        object.__setattr__(self, "_value", raw)

    def expose_secret(self) -> str:
        """Return the secret value itself."""
        return self._value

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("SecretString is immutable")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError("SecretString is immutable")

    def __repr__(self) -> str:
        return f"SecretString('{_MASK}')"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, format_spec: str) -> str:
        return format(_MASK, format_spec)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretString):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __ne__(self, other: object) -> bool:
        result = self.__eq__(other)
        return result if result is NotImplemented else not result

    __hash__ = None  # type: ignore[assignment]  # unhashable: a secret is no dict key

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError("SecretString cannot be pickled: secrets are not written out")

    def __copy__(self) -> SecretString:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> SecretString:
        return self
