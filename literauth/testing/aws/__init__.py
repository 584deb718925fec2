"""Fakes of AWS identity endpoints, one module per endpoint (mirroring `literauth.aws`)."""

from __future__ import annotations

from .assume_role import AssumeRoleEndpoint, StaticKeysProvider
from .sts import IssuedCredentials, StsEndpoint

__all__ = ["AssumeRoleEndpoint", "IssuedCredentials", "StaticKeysProvider", "StsEndpoint"]
