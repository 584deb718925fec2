"""Fakes of Google identity endpoints, one module per endpoint (mirroring `literauth.google`)."""

from __future__ import annotations

from .iam import GoogleIamEndpoint
from .oauth import GoogleOAuthEndpoint, VerifiedAssertion
from .sts import GoogleStsEndpoint

__all__ = ["GoogleIamEndpoint", "GoogleOAuthEndpoint", "GoogleStsEndpoint", "VerifiedAssertion"]
