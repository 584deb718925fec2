"""Fake Google OAuth 2.0 JWT-bearer token endpoint (placeholder until the Vertex provider lands)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._server import Endpoint, RecordedRequest, Reply


class GoogleOAuthEndpoint(Endpoint):
    """Google OAuth 2.0 token endpoint for service-account assertions."""

    name = "google"

    def matches(self, method: str, path: str, form: Mapping[str, str]) -> bool:
        return False

    def respond(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        raise NotImplementedError

    def make_provider(self, **options: Any) -> Any:
        raise NotImplementedError
