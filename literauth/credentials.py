"""The credentials providers return: immutable values with an optional expiry."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime, timedelta, timezone
from typing import NoReturn

from .errors import TokenTextError
from .secret import SecretString

__all__ = ["UTC", "AwsCredentials", "BearerToken", "Credential", "check_token_text", "parse_rfc3339"]

UTC = timezone(timedelta(0))  # the very object `timezone.utc` is, spelled so 3.10 lint agrees


def _check_expiry(expires_at: datetime | None) -> datetime | None:
    if expires_at is None:
        return None
    if not isinstance(expires_at, datetime):
        raise TypeError("expires_at must be a datetime or None")
    if expires_at.tzinfo is None or expires_at.utcoffset() is None:
        raise ValueError("expires_at must be timezone-aware")
    return expires_at.astimezone(UTC)


_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})", re.ASCII
)


def parse_rfc3339(value: str) -> datetime | None:
    """An RFC 3339 / ISO-8601 expiry with an explicit zone (``Z`` or an offset), fraction optional.

    The one reader of absolute expiry times (STS `Expiration`, IAM `expireTime`); None when
    the text is not such a time.
    """
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    sign = -1 if zone[0] == "-" else 1
    try:  # an offset of a day or more, an impossible date, or a shift past year 1 or 9999
        tz = UTC if zone == "Z" else timezone(
            sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        )
        stamp = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz)
        return stamp.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


# Whitespace (any Unicode space, line and paragraph separators) and C0/C1 control characters:
# none belongs in a token, and in an HTTP header a CR or LF is a header-injection attempt.
_BAD_TOKEN_CHARACTER = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")


def check_token_text(name: str, value: SecretString) -> None:
    """Refuse an empty secret, or one holding whitespace or a control character.

    The one check every token source goes through (a static token, an environment variable,
    a token file, an endpoint's answer), so a token that would break or smuggle an HTTP header
    fails the same way everywhere. The message names the character class and its position,
    never the value.
    """
    text = value.expose_secret()
    if not text:
        raise TokenTextError(f"{name} is empty")
    found = _BAD_TOKEN_CHARACTER.search(text)
    if found is not None:
        char = found.group()
        what = "whitespace" if char.isspace() else "a control character"
        import unicodedata  # only to name a bad character: not worth its load on every import

        label = unicodedata.name(char, "") or "U+" + format(ord(char), "04X")
        raise TokenTextError(
            f"{name} contains {what} ({label}) at position {found.start()} of {len(text)}; "
            "tokens are single words: check for a stray newline or a pasted-in space"
        )


def _check_secret(name: str, value: object) -> None:
    if not isinstance(value, SecretString):
        raise TypeError(f"{name} must be a SecretString")
    check_token_text(name, value)


@dataclasses.dataclass(frozen=True, repr=False, eq=True)
class Credential:
    """Base class of every credential; `expires_at` is UTC, `None` means it never expires."""

    expires_at: datetime | None = dataclasses.field(default=None, kw_only=True)

    def __post_init__(self) -> None:
        object.__setattr__(self, "expires_at", _check_expiry(self.expires_at))

    @property
    def expires_at_epoch(self) -> float | None:
        """Expiry as seconds since the epoch, `None` when it never expires."""
        return None if self.expires_at is None else self.expires_at.timestamp()

    def __repr__(self) -> str:
        expiry = "never" if self.expires_at is None else self.expires_at.isoformat()
        return f"{type(self).__name__}(expires_at={expiry})"

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError(f"{type(self).__name__} holds secrets and cannot be pickled")


@dataclasses.dataclass(frozen=True, repr=False, eq=True, init=False)
class BearerToken(Credential):
    """An OAuth 2.0 bearer token (Azure AD, Google, a static token).

    The token must be non-empty and hold no whitespace or control character
    (`check_token_text`); anything else raises `TokenTextError`, a `ConfigurationError`.
    """

    token: SecretString

    def __init__(self, token: SecretString, expires_at: datetime | None = None) -> None:
        _check_secret("token", token)
        object.__setattr__(self, "token", token)
        object.__setattr__(self, "expires_at", expires_at)
        self.__post_init__()

    __hash__ = None  # type: ignore[assignment]


@dataclasses.dataclass(frozen=True, repr=False, eq=True, init=False)
class AwsCredentials(Credential):
    """Temporary (or long-term) AWS keys used to sign requests with SigV4.

    Every field is checked like a bearer token (`check_token_text`): non-empty, with no
    whitespace or control character.
    """

    access_key_id: SecretString
    secret_access_key: SecretString
    session_token: SecretString | None

    def __init__(
        self,
        access_key_id: SecretString,
        secret_access_key: SecretString,
        session_token: SecretString | None = None,
        expires_at: datetime | None = None,
    ) -> None:
        _check_secret("access_key_id", access_key_id)
        _check_secret("secret_access_key", secret_access_key)
        if session_token is not None:
            _check_secret("session_token", session_token)
        object.__setattr__(self, "access_key_id", access_key_id)
        object.__setattr__(self, "secret_access_key", secret_access_key)
        object.__setattr__(self, "session_token", session_token)
        object.__setattr__(self, "expires_at", expires_at)
        self.__post_init__()

    __hash__ = None  # type: ignore[assignment]
