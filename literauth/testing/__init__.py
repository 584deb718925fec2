"""Test helpers: `FakeIdentityServer`, a real loopback identity provider for tests.

Run providers against it the way `moto` serves AWS tests::

    with FakeIdentityServer() as server:
        provider = server.azure_provider()
        provider.resolve()
        assert server.azure.request_count == 1

Its endpoints come from the provider registry: `server.endpoint("aws.web_identity")`,
`server.provider(name)`, `server.environ(directory)`. New fakes subclass `Endpoint` (routing
with `Route`, errors with `Refusal`) or `OAuthTokenEndpoint`; `FakeClock`, `FakeSleep` and
`SyncedClock` move time instead of sleeping; `NetworkGuard` keeps a test process on loopback.
"""

from __future__ import annotations

import importlib
import os
import weakref
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import requests

from .._registry import SPECS, ProviderSpec
from ._clock import FakeClock, FakeSleep, SyncedClock
from ._guard import NetworkBlocked, NetworkGuard
from ._llm import FakeLlmServer
from ._oauth import FormField, OAuthTokenEndpoint, b64url
from ._server import (
    Endpoint,
    Endpoints,
    FakeUnavailable,
    Fault,
    RecordedRequest,
    Refusal,
    Reply,
    Route,
    ServerCore,
)
from ._sockets import BlackHole, refused_port
from .aws.assume_role import AssumeRoleEndpoint
from .aws.container import ContainerCredentialsEndpoint
from .aws.instance_metadata import InstanceMetadataEndpoint
from .aws.sts import StsEndpoint
from .azure.client_certificate import AzureCertificateEndpoint
from .azure.client_secret import AzureAdEndpoint
from .azure.managed_identity import AppServiceIdentityEndpoint, ImdsEndpoint
from .azure.workload_identity import AzureFederatedEndpoint
from .google.metadata import GoogleMetadataEndpoint
from .google.oauth import GoogleOAuthEndpoint
from .google.user import GoogleUserEndpoint

if TYPE_CHECKING:
    from typing_extensions import Self  # noqa: UP035 - Python 3.10 has no typing.Self

    from ..aws.web_identity import WebIdentityCredentialProvider
    from ..azure.client_secret import AzureAdCredentialProvider
    from ..azure.managed_identity import ManagedIdentityCredentialProvider
    from ..google.service_account import VertexOAuthCredentialProvider
    from ..provider import RefreshingCredentialProvider

__all__ = [
    "AppServiceIdentityEndpoint",
    "AssumeRoleEndpoint",
    "AzureAdEndpoint",
    "BlackHole",
    "ContainerCredentialsEndpoint",
    "Endpoint",
    "Endpoints",
    "FakeClock",
    "FakeIdentityServer",
    "FakeLlmServer",
    "FakeSleep",
    "FakeUnavailable",
    "Fault",
    "FormField",
    "GoogleMetadataEndpoint",
    "GoogleOAuthEndpoint",
    "GoogleUserEndpoint",
    "ImdsEndpoint",
    "InstanceMetadataEndpoint",
    "NetworkBlocked",
    "NetworkGuard",
    "OAuthTokenEndpoint",
    "RecordedRequest",
    "Refusal",
    "Reply",
    "Route",
    "ServerCore",
    "StsEndpoint",
    "SyncedClock",
    "b64url",
    "load_fake",
    "refused_port",
]

E = TypeVar("E", bound=Endpoint)
LOOPBACK = "127.0.0.1,localhost,::1"  # added to NO_PROXY by `environ()`

_sessions: weakref.WeakSet[requests.Session] = weakref.WeakSet()  # handed out by `session()`, for fork


def load_fake(spec: ProviderSpec) -> type[Endpoint]:
    """The endpoint class a spec's ``fake`` (``module:Class``) names."""
    if spec.fake is None:
        raise ValueError(f"{spec.name} has no fake endpoint")
    module, _, name = spec.fake.partition(":")
    cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, Endpoint)):
        raise TypeError(f"{spec.fake} is not an Endpoint subclass")
    return cls


class FakeIdentityServer(ServerCore):
    """Every registered provider's fake token endpoint on 127.0.0.1, in one server.

    The endpoints come from the provider registry (`SPECS`): `endpoint(name)` and
    `endpoints[name]` by spec name, and `azure`, `imds`, `sts`, `aws_container`, `aws_imds`, `google` as
    typed shortcuts. Each is
    a control panel (lifetime, latency, faults, counters, recorded requests).
    `unavailable` names the fakes that cannot run here and why (a missing optional package).

    Providers built here (`provider()`, `azure_provider()`...) get a `session()`, which
    ignores `HTTP(S)_PROXY` so a corporate proxy never sees loopback traffic. `https=True`
    serves HTTPS with a certificate from a CA generated for this process (needs
    `cryptography`); `ca_bundle` is that CA's PEM file, which `session()` trusts.
    """

    def __init__(
        self, *, host: str = "127.0.0.1", https: bool = False, specs: Iterable[ProviderSpec] | None = None
    ) -> None:
        tls = None
        if https:
            from ._tls import loopback_tls

            tls = loopback_tls()
        chosen = [spec for spec in (SPECS if specs is None else specs) if spec.fake is not None]
        super().__init__(
            {spec.name: load_fake(spec) for spec in chosen},
            ssl_context=None if tls is None else tls.context,
            host=host,
        )
        self.https = https
        #: PEM file of the CA that signed the HTTPS certificate; `None` in plain-HTTP mode.
        self.ca_bundle: str | None = None if tls is None else tls.ca_bundle
        #: The specs served, by name.
        self.specs: Mapping[str, ProviderSpec] = {spec.name: spec for spec in chosen}
        #: Fakes that cannot serve here, by spec name, with the reason and the fix.
        self.unavailable: dict[str, str] = {}
        for spec in chosen:
            missing = self.endpoints[spec.name].missing_packages()
            if missing:
                extra = f"pip install 'literauth[{spec.extra}]'" if spec.extra else "pip install " + " ".join(missing)
                self.unavailable[spec.name] = f"needs {', '.join(missing)}: {extra}"
        self._sessions: list[requests.Session] = []

    # -- endpoints ----------------------------------------------------------------------

    def endpoint(self, name: str) -> Endpoint:
        """The fake endpoint of the provider spec `name` (``azure.client_secret``)."""
        try:
            return self.endpoints[name]
        except KeyError:
            raise KeyError(f"no fake for {name!r}; served: {', '.join(self.endpoints)}") from None

    def _typed(self, name: str, kind: type[E]) -> E:
        endpoint = self.endpoint(name)
        if not isinstance(endpoint, kind):
            raise TypeError(f"the fake for {name} is a {type(endpoint).__name__}, not a {kind.__name__}")
        return endpoint

    @property
    def azure(self) -> AzureAdEndpoint:
        """The Azure AD client-credentials endpoint (`azure.client_secret`)."""
        return self._typed("azure.client_secret", AzureAdEndpoint)

    @property
    def imds(self) -> ImdsEndpoint:
        """The Azure IMDS managed-identity endpoint (`azure.managed_identity`)."""
        return self._typed("azure.managed_identity", ImdsEndpoint)

    @property
    def azure_federated(self) -> AzureFederatedEndpoint:
        """The Azure AD endpoint for federated tokens and their OIDC issuer (`azure.workload_identity`)."""
        return self._typed("azure.workload_identity", AzureFederatedEndpoint)

    @property
    def azure_certificate(self) -> AzureCertificateEndpoint:
        """The Azure AD endpoint for certificate assertions, with the app's test certificate (`azure.client_certificate`)."""
        return self._typed("azure.client_certificate", AzureCertificateEndpoint)

    @property
    def sts(self) -> StsEndpoint:
        """The STS AssumeRoleWithWebIdentity endpoint (`aws.web_identity`)."""
        return self._typed("aws.web_identity", StsEndpoint)

    @property
    def aws_container(self) -> ContainerCredentialsEndpoint:
        """The ECS / EKS Pod Identity container credentials endpoint (`aws.container`)."""
        return self._typed("aws.container", ContainerCredentialsEndpoint)

    @property
    def aws_imds(self) -> InstanceMetadataEndpoint:
        """The EC2 IMDSv2 endpoint (`aws.instance_metadata`)."""
        return self._typed("aws.instance_metadata", InstanceMetadataEndpoint)

    @property
    def assume_role(self) -> AssumeRoleEndpoint:
        """The STS AssumeRole endpoint, verifying SigV4 signatures (`aws.assume_role`)."""
        return self._typed("aws.assume_role", AssumeRoleEndpoint)

    @property
    def google(self) -> GoogleOAuthEndpoint:
        """The Google OAuth token endpoint for service accounts (`google.service_account`)."""
        return self._typed("google.service_account", GoogleOAuthEndpoint)

    @property
    def google_metadata(self) -> GoogleMetadataEndpoint:
        """The Google metadata server (`google.compute_engine`)."""
        return self._typed("google.compute_engine", GoogleMetadataEndpoint)

    @property
    def google_user(self) -> GoogleUserEndpoint:
        """The Google OAuth endpoint for gcloud user logins' refresh tokens (`google.authorized_user`)."""
        return self._typed("google.authorized_user", GoogleUserEndpoint)

    # -- lifecycle -------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop serving and close the sessions `session()` handed out."""
        super().stop()
        sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Reset every endpoint's faults, counters and settings."""
        for endpoint in self.endpoints.values():
            endpoint.reset()

    # -- clients ---------------------------------------------------------------------------

    def session(self) -> requests.Session:
        """A `requests.Session` for this server: trusts `ca_bundle`, ignores proxy variables.

        Safe across `fork()` (the child gets fresh connection pools); closed when the server stops.
        """
        session = requests.Session()
        session.trust_env = False  # REQUESTS_CA_BUNDLE or HTTP(S)_PROXY must not override the test setup
        if self.ca_bundle is not None:
            session.verify = self.ca_bundle
        self._sessions.append(session)
        _sessions.add(session)
        return session

    def environ(self, directory: str | os.PathLike[str], *, spec: str | None = None) -> dict[str, str]:
        """Environment variables that point every `from_env()` (and the CLI) at this server.

        The union of each fake's `environ()`; token and key files are written into `directory`.
        Where two fakes set the same variable (Google's file types all use
        `GOOGLE_APPLICATION_CREDENTIALS`) the first in registry order wins, unless `spec`
        names the provider whose variables should win. Fakes in `unavailable` are left out
        (the reason stays there). `NO_PROXY` gains the loopback names, so a process started
        with these variables bypasses a proxy; in HTTPS mode `REQUESTS_CA_BUNDLE` is
        `ca_bundle`. The values include test secrets.
        """
        env: dict[str, str] = {}
        own: dict[str, str] = {}
        for name, endpoint in self.endpoints.items():
            if name in self.unavailable:
                continue
            try:
                values = endpoint.environ(directory)
            except FakeUnavailable as exc:
                self.unavailable[name] = str(exc)
                continue
            for key, value in values.items():
                env.setdefault(key, value)
            if name == spec:
                own = values
        env.update(own)
        if self.ca_bundle is not None:
            env["REQUESTS_CA_BUNDLE"] = self.ca_bundle
        current = os.environ.get("NO_PROXY") or os.environ.get("no_proxy") or ""
        env["NO_PROXY"] = env["no_proxy"] = ",".join(part for part in (current, LOOPBACK) if part)
        return env

    def provider(self, name: str, **options: Any) -> RefreshingCredentialProvider:
        """The provider of spec `name`, pointed at its fake; keyword arguments go to the provider.

        Without a `session` option it gets `session()`. `FakeUnavailable` for a fake in `unavailable`.
        """
        if name in self.unavailable:
            raise FakeUnavailable(f"{name}: {self.unavailable[name]}")
        return self.endpoint(name).make_provider(**self._with_session(options))

    def _with_session(self, options: dict[str, Any]) -> dict[str, Any]:
        if options.get("session") is None:
            options["session"] = self.session()
        return options

    def azure_provider(self, **options: Any) -> AzureAdCredentialProvider:
        """An `AzureAdCredentialProvider` for the default app, pointed at this server."""
        return self.azure.make_provider(**self._with_session(options))

    def managed_identity_provider(self, **options: Any) -> ManagedIdentityCredentialProvider:
        """A `ManagedIdentityCredentialProvider` for the fake machine's system-assigned identity."""
        return self.imds.make_provider(**self._with_session(options))

    def sts_provider(self, **options: Any) -> WebIdentityCredentialProvider:
        """A `WebIdentityCredentialProvider` reading a token file this server issued."""
        return self.sts.make_provider(**self._with_session(options))

    def vertex_provider(self, **options: Any) -> VertexOAuthCredentialProvider:
        """A `VertexOAuthCredentialProvider` for a service account registered with this server."""
        return self.google.make_provider(**self._with_session(options))


def _fresh_pools_after_fork() -> None:
    """In a forked child, drop the parent's pooled connections (closing them would break the parent's)."""
    for session in list(_sessions):
        for prefix in list(session.adapters):
            session.mount(prefix, requests.adapters.HTTPAdapter())


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_fresh_pools_after_fork)
