"""Fakes of AWS identity endpoints, one module per endpoint (mirroring `literauth.aws`)."""

from __future__ import annotations

from .sts import IssuedCredentials, StsEndpoint

__all__ = ["IssuedCredentials", "StsEndpoint"]
