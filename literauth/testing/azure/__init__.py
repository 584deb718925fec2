"""Fakes of Azure identity endpoints, one module per endpoint (mirroring `literauth.azure`)."""

from __future__ import annotations

from .cli import FakeAzureCli
from .client_secret import AzureAdEndpoint

__all__ = ["AzureAdEndpoint", "FakeAzureCli"]
