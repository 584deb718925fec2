"""A minimal OAuth-style token endpoint for exercising the fetcher alone (tests/test_http*.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping

from literauth.testing import Endpoint, RecordedRequest, Reply


class TokenEndpoint(Endpoint):
    """Answers every POST to /token with a one-hour token; `client_secret` is a secret field."""

    name = "test"
    secret_fields = frozenset({"client_secret"})

    def matches(self, method: str, path: str, form: Mapping[str, str]) -> bool:
        return path == "/token"

    def respond(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        return Reply(200, json.dumps({"access_token": "at", "expires_in": 3600}).encode())
