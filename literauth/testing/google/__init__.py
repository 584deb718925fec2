"""Fakes of Google identity endpoints, one module per endpoint (mirroring `literauth.google`)."""

from __future__ import annotations

from .iam import GoogleIamEndpoint
from .metadata import BlackHole, GoogleMetadataEndpoint, MetadataAccount, refused_port
from .oauth import GoogleOAuthEndpoint, VerifiedAssertion
from .sts import GoogleStsEndpoint
from .user import GoogleUserEndpoint, UserLogin

__all__ = [
    "BlackHole",
    "GoogleIamEndpoint",
    "GoogleMetadataEndpoint",
    "GoogleOAuthEndpoint",
    "GoogleStsEndpoint",
    "GoogleUserEndpoint",
    "MetadataAccount",
    "UserLogin",
    "VerifiedAssertion",
    "refused_port",
]
