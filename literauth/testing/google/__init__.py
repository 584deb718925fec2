"""Fakes of Google identity endpoints, one module per endpoint (mirroring `literauth.google`)."""

from __future__ import annotations

from .metadata import BlackHole, GoogleMetadataEndpoint, MetadataAccount, refused_port
from .oauth import GoogleOAuthEndpoint, VerifiedAssertion
from .user import GoogleUserEndpoint, UserLogin

__all__ = [
    "BlackHole",
    "GoogleMetadataEndpoint",
    "GoogleOAuthEndpoint",
    "GoogleUserEndpoint",
    "MetadataAccount",
    "UserLogin",
    "VerifiedAssertion",
    "refused_port",
]
