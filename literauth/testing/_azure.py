"""Where `AzureAdEndpoint` used to live; the registry's ``fake`` string still names this module."""

from __future__ import annotations

from .azure.client_secret import AzureAdEndpoint

__all__ = ["AzureAdEndpoint"]
