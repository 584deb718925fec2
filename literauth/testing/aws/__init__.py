"""Fakes of AWS identity endpoints, one module per endpoint (mirroring `literauth.aws`)."""

from __future__ import annotations

from .assume_role import AssumeRoleEndpoint, StaticKeysProvider
from .container import ContainerCredentialsEndpoint
from .instance_metadata import InstanceMetadataEndpoint
from .sts import IssuedCredentials, StsEndpoint

__all__ = [
    "AssumeRoleEndpoint", "ContainerCredentialsEndpoint", "InstanceMetadataEndpoint", "IssuedCredentials",
    "StaticKeysProvider", "StsEndpoint",
]
