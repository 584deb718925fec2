"""Fake Azure AD v2.0 token endpoint (placeholder until the Azure provider lands)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._server import Endpoint, RecordedRequest, Reply


class AzureAdEndpoint(Endpoint):
    """Microsoft identity platform v2.0 client-credentials endpoint."""

    name = "azure"

    def matches(self, method: str, path: str, form: Mapping[str, str]) -> bool:
        return False

    def respond(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        raise NotImplementedError

    def make_provider(self, **options: Any) -> Any:
        raise NotImplementedError
