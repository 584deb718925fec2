"""Exceptions raised by literauth.

The hierarchy::

    LiterAuthError
    ├── ConfigurationError          bad arguments, environment or files
    └── CredentialError             obtaining a credential failed
        ├── TokenEndpointError      the endpoint answered with an error
        ├── TransportError          connection failure, timeout, TLS
        └── MalformedResponseError  a 2xx body that cannot be used

Messages name the provider and the endpoint host, never a secret.
"""

from __future__ import annotations

__all__ = [
    "ConfigurationError",
    "CredentialError",
    "LiterAuthError",
    "MalformedResponseError",
    "TokenEndpointError",
    "TransportError",
]


class LiterAuthError(Exception):
    """Base class of every error literauth raises on purpose."""


class ConfigurationError(LiterAuthError):
    """Raised for bad arguments, missing environment variables or unusable files."""


class CredentialError(LiterAuthError):
    """Raised when a credential could not be obtained."""

    def __init__(self, message: str, *, provider: str | None = None, host: str | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.host = host


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
        super().__init__(message, provider=provider, host=host)
        self.status_code = status_code
        self.error_code = error_code
        self.description = description
        self.retryable = retryable
        self.retry_after = retry_after


class TransportError(CredentialError):
    """Raised when the endpoint could not be reached: connection, timeout or TLS failure."""


class MalformedResponseError(CredentialError):
    """Raised when a 2xx answer cannot be parsed or lacks a required field."""
