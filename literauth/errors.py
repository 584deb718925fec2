"""Exceptions raised by literauth.

The hierarchy::

    LiterAuthError
    ├── ConfigurationError              bad arguments, environment or files (at construction)
    │   ├── SourceNotConfigured         a chain source's variables or files are absent here
    │   ├── ModelConfigError            a [[models]] file has problems (all listed at once)
    │   └── TokenTextError              a token that is empty or holds whitespace or control
    │                                   characters (also a MalformedResponseError, below)
    └── CredentialError                 obtaining a credential failed (at resolve() time)
        ├── TokenEndpointError          the endpoint answered with an error
        ├── TransportError              connection failure, timeout, TLS, proxy (see `reason`)
        ├── MalformedResponseError      a 2xx body that cannot be used
        │   └── TokenTextError          ... when the endpoint answered with such a token
        └── CredentialSourceError       a local source (token file, process) could not be read

What to catch:

- around a constructor or `from_env()`: `ConfigurationError`;
- around `resolve()` (and every call that resolves: the requests auths, `Client`):
  `CredentialError` catches every runtime failure; each carries `retryable` (whether trying
  again later can help) and `retry_after` (seconds the endpoint asked us to wait, or None);
- `load_models()` / `loads_models()`: `ModelConfigError`, with every problem in `problems`.

Messages name the provider and the endpoint host, never a secret.
"""

from __future__ import annotations

import dataclasses
import enum

__all__ = [
    "ConfigProblem",
    "ConfigurationError",
    "CredentialError",
    "CredentialSourceError",
    "LiterAuthError",
    "MalformedResponseError",
    "ModelConfigError",
    "SourceNotConfigured",
    "TokenEndpointError",
    "TokenTextError",
    "TransportError",
    "TransportReason",
]

_SHOWN = 80  # characters of a non-secret value quoted in a message


class LiterAuthError(Exception):
    """Base class of every error literauth raises on purpose."""


class ConfigurationError(LiterAuthError):
    """Raised for bad arguments, missing environment variables or unusable files."""


class SourceNotConfigured(ConfigurationError):
    """Raised by a chain source whose variables or files are absent here: the chain skips it."""


class CredentialError(LiterAuthError):
    """Raised when a credential could not be obtained.

    `retryable` says whether another attempt later can help (a timeout, a 503) or not (a
    wrong secret); `retry_after` is the wait in seconds the endpoint asked for, if any.
    """

    #: The default for each subclass; an instance may say otherwise.
    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        host: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.host = host
        self.retryable = self.default_retryable if retryable is None else retryable
        self.retry_after = retry_after


class TokenEndpointError(CredentialError):
    """Raised when the token endpoint answered with an error (4xx, 5xx or a 3xx)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_code: str | None = None,
        description: str | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        provider: str | None = None,
        host: str | None = None,
    ) -> None:
        super().__init__(message, provider=provider, host=host, retryable=retryable, retry_after=retry_after)
        self.status_code = status_code
        self.error_code = error_code
        self.description = description


class TransportReason(str, enum.Enum):
    """Why an endpoint could not be reached; `TransportError.reason`."""

    TIMEOUT = "timeout"
    CONNECTION_REFUSED = "connection refused"
    DNS = "name resolution failed"
    TLS_UNTRUSTED = "TLS certificate not trusted"
    TLS = "TLS handshake failed"
    PROXY = "proxy failed"
    RESET = "connection reset"
    OTHER = "connection failed"


class TransportError(CredentialError):
    """Raised when the endpoint could not be reached: connection, timeout, TLS or proxy failure.

    `reason` is a `TransportReason`; every reason but an untrusted certificate is retryable.
    """

    default_retryable = True

    def __init__(
        self,
        message: str,
        *,
        reason: TransportReason = TransportReason.OTHER,
        provider: str | None = None,
        host: str | None = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
    ) -> None:
        if retryable is None:
            retryable = reason is not TransportReason.TLS_UNTRUSTED
        super().__init__(message, provider=provider, host=host, retryable=retryable, retry_after=retry_after)
        self.reason = reason


class MalformedResponseError(CredentialError):
    """Raised when a 2xx answer cannot be parsed or lacks a required field."""


class TokenTextError(ConfigurationError, MalformedResponseError):
    """Raised for a token that is empty or holds whitespace or a control character.

    Catchable as either parent: a `ConfigurationError` when the token came from configuration
    (a static token, an environment variable, a file), a `MalformedResponseError` when an
    endpoint answered with it (raised inside `resolve()`, and not retryable).
    """


class CredentialSourceError(CredentialError):
    """Raised when a local source (a token file, later a process or a socket) cannot be read now.

    Retryable: a file that is missing or empty for a moment (a non-atomic rewrite, a volume
    still mounting) is usually back a few seconds later.
    """

    default_retryable = True


@dataclasses.dataclass(frozen=True)
class ConfigProblem:
    """One problem found in a configuration; `index` is the entry's position in `[[models]]`."""

    source: str
    message: str
    index: int | None = None
    name: str | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = [self.source]
        if self.index is not None:
            where.append(f"models[{self.index}]" + ("" if self.name is None else f" {_shown(self.name)}"))
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return ": ".join([*where, self.message])


class ModelConfigError(ConfigurationError):
    """Raised by `load_models()` / `loads_models()` with every problem in the file at once (`problems`)."""

    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        lines = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"{source}: {count} in the model configuration:\n{lines}")
        self.source = source
        self.problems = tuple(problems)

    def __reduce__(self) -> tuple[type[ModelConfigError], tuple[str, list[ConfigProblem]]]:
        # copy and pickle rebuild from the constructor's arguments, not from the message
        return type(self), (self.source, list(self.problems))


def _shown(value: str) -> str:
    """A non-secret value, quoted and cut short for a message."""
    return repr(value if len(value) <= _SHOWN else value[: _SHOWN - 1] + "…")
