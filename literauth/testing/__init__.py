"""Test helpers: `FakeIdentityServer`, a real loopback identity provider for tests.

Run providers against it the way `moto` serves AWS tests::

    with FakeIdentityServer() as server:
        provider = server.azure_provider()
        provider.resolve()
        assert server.azure.request_count == 1
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import requests

from ._azure import AzureAdEndpoint
from ._google import GoogleOAuthEndpoint
from ._server import Endpoint, Fault, RecordedRequest, Reply, ServerCore
from ._sts import StsEndpoint

if TYPE_CHECKING:
    from typing_extensions import Self  # noqa: UP035 - Python 3.10 has no typing.Self

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

    `https=True` serves HTTPS with a certificate from a CA generated for this process (needs
    `cryptography`); `ca_bundle` is that CA's PEM file, and `session()` a `requests.Session`
    trusting it. The provider helpers use such a session unless given one.
    """

    def __init__(self, *, host: str = "127.0.0.1", https: bool = False) -> None:
        tls = None
        if https:
            from ._tls import loopback_tls

            tls = loopback_tls()
        super().__init__(
            (AzureAdEndpoint, StsEndpoint, GoogleOAuthEndpoint),
            ssl_context=None if tls is None else tls.context,
            host=host,
        )
        self.https = https
        #: PEM file of the CA that signed the HTTPS certificate; `None` in plain-HTTP mode.
        self.ca_bundle: str | None = None if tls is None else tls.ca_bundle
        self._sessions: list[requests.Session] = []
        self.azure: AzureAdEndpoint = self.endpoints[0]  # type: ignore[assignment]
        self.sts: StsEndpoint = self.endpoints[1]  # type: ignore[assignment]
        self.google: GoogleOAuthEndpoint = self.endpoints[2]  # type: ignore[assignment]

    def stop(self) -> None:
        """Stop serving and close the sessions `session()` handed out."""
        super().stop()
        sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def session(self) -> requests.Session:
        """A `requests.Session` for this server: trusts `ca_bundle`, ignores proxy variables.

        Closed when the server stops.
        """
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE or HTTPS_PROXY must not override the test setup
        if self.ca_bundle is not None:
            session.verify = self.ca_bundle
        self._sessions.append(session)
        return session

    def environ(self, directory: str | os.PathLike[str]) -> dict[str, str]:
        """Environment variables that point every `from_env()` (and the CLI) at this server.

        Writes a web identity token file and, when `cryptography` is installed, a
        service-account key file into `directory`. In HTTPS mode `REQUESTS_CA_BUNDLE` is
        set to `ca_bundle`. The values include test secrets: use them in tests only.
        """
        from ._sts import DEFAULT_ROLE_ARN

        folder = os.fspath(directory)
        env = dict(self.azure.environ())
        env.update({
            "AWS_ROLE_ARN": DEFAULT_ROLE_ARN,
            "AWS_WEB_IDENTITY_TOKEN_FILE": self.sts.write_web_identity_token(
                os.path.join(folder, "web-identity-token")
            ),
            "AWS_ROLE_SESSION_NAME": "literauth-test",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_STS": self.url,
        })
        try:
            import cryptography  # noqa: F401
            import jwt  # noqa: F401
        except ImportError:
            pass
        else:
            key_file = self.google.write_key_file(os.path.join(folder, "service-account.json"))
            env["GOOGLE_APPLICATION_CREDENTIALS"] = os.fspath(key_file)
        if self.ca_bundle is not None:
            env["REQUESTS_CA_BUNDLE"] = self.ca_bundle
        return env

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Reset every endpoint's faults, counters and settings."""
        for endpoint in self.endpoints:
            endpoint.reset()

    def _with_session(self, options: dict[str, Any]) -> dict[str, Any]:
        if self.https and options.get("session") is None:
            options["session"] = self.session()
        return options

    def azure_provider(self, **options: Any) -> Any:
        """An `AzureAdCredentialProvider` pointed at this server."""
        return self.azure.make_provider(**self._with_session(options))

    def sts_provider(self, **options: Any) -> Any:
        """A `WebIdentityCredentialProvider` pointed at this server."""
        return self.sts.make_provider(**self._with_session(options))

    def vertex_provider(self, **options: Any) -> Any:
        """A `VertexOAuthCredentialProvider` pointed at this server."""
        return self.google.make_provider(**self._with_session(options))
