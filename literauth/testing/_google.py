"""Where `GoogleOAuthEndpoint` used to live; the registry's ``fake`` string still names this module."""

from __future__ import annotations

from .google.oauth import (
    CLOCK_LEEWAY,
    GOOGLE_TOKEN_URI,
    JWT_BEARER,
    MAX_ASSERTION_LIFETIME,
    SCOPE_PREFIX,
    GoogleOAuthEndpoint,
    VerifiedAssertion,
)

__all__ = [
    "CLOCK_LEEWAY",
    "GOOGLE_TOKEN_URI",
    "JWT_BEARER",
    "MAX_ASSERTION_LIFETIME",
    "SCOPE_PREFIX",
    "GoogleOAuthEndpoint",
    "VerifiedAssertion",
]
