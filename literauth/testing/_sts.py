"""Fake AWS STS AssumeRoleWithWebIdentity endpoint (placeholder until the STS provider lands)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._server import Endpoint, RecordedRequest, Reply


class StsEndpoint(Endpoint):
    """STS AssumeRoleWithWebIdentity."""

    name = "sts"

    def matches(self, method: str, path: str, form: Mapping[str, str]) -> bool:
        return False

    def respond(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        raise NotImplementedError

    def make_provider(self, **options: Any) -> Any:
        raise NotImplementedError
