"""Test helpers: `FakeIdentityServer`, a real loopback identity provider for tests.

Run providers against it the way `moto` serves AWS tests::

    with FakeIdentityServer() as server:
        provider = server.azure_provider()
        provider.resolve()
        assert server.azure.request_count == 1
"""

from __future__ import annotations

from typing import Any

from ._azure import AzureAdEndpoint
from ._google import GoogleOAuthEndpoint
from ._server import Endpoint, Fault, RecordedRequest, Reply, ServerCore
from ._sts import StsEndpoint

__all__ = [
    "AzureAdEndpoint",
    "Endpoint",
    "FakeIdentityServer",
    "Fault",
    "GoogleOAuthEndpoint",
    "RecordedRequest",
    "Reply",
    "StsEndpoint",
]


class FakeIdentityServer(ServerCore):
    """Azure AD, AWS STS and Google OAuth token endpoints on 127.0.0.1, in one server.

    `server.azure`, `server.sts` and `server.google` are the endpoints' controls
    (lifetime, latency, faults, counters, recorded requests).
    """

    def __init__(self, *, host: str = "127.0.0.1") -> None:
        super().__init__((AzureAdEndpoint, StsEndpoint, GoogleOAuthEndpoint), host=host)
        self.azure: AzureAdEndpoint = self.endpoints[0]  # type: ignore[assignment]
        self.sts: StsEndpoint = self.endpoints[1]  # type: ignore[assignment]
        self.google: GoogleOAuthEndpoint = self.endpoints[2]  # type: ignore[assignment]

    def __enter__(self) -> FakeIdentityServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Reset every endpoint's faults, counters and settings."""
        for endpoint in self.endpoints:
            endpoint.reset()

    def azure_provider(self, **options: Any) -> Any:
        """An `AzureAdCredentialProvider` pointed at this server."""
        return self.azure.make_provider(**options)

    def sts_provider(self, **options: Any) -> Any:
        """A `WebIdentityCredentialProvider` pointed at this server."""
        return self.sts.make_provider(**options)

    def vertex_provider(self, **options: Any) -> Any:
        """A `VertexOAuthCredentialProvider` pointed at this server."""
        return self.google.make_provider(**options)
