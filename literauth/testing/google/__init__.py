"""Fakes of Google identity endpoints, one module per endpoint (mirroring `literauth.google`)."""

from __future__ import annotations

from .oauth import GoogleOAuthEndpoint, VerifiedAssertion

__all__ = ["GoogleOAuthEndpoint", "VerifiedAssertion"]
