"""The provider registry: one `ProviderSpec` per provider, the one list everything else reads.

`literauth/__init__.py`'s lazy names, the demo, `FakeIdentityServer`, the pytest plugin and
the test campaigns all iterate over `SPECS`, so adding a provider is its module, its fake and
one entry here. `CHAINS` holds one `ChainSpec` per cloud's default chain: `[[models]]`
prefixes and the CLI's `token` kinds select a chain (or, for a kind no chain claims, a spec).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from .errors import ConfigurationError

if TYPE_CHECKING:
    from .provider import CredentialProvider

__all__ = [
    "CHAINS", "SPECS", "AnySpec", "ChainSpec", "ProviderSpec", "by_command", "by_name", "by_prefix", "commands",
    "config_prefixes",
]

CredentialKind = Literal["bearer", "aws"]


class ProviderSpec(NamedTuple):
    """What the rest of literauth needs to know about one provider, without importing it.

    A named tuple, not a dataclass: the registry is read at `import literauth`, and building
    a dataclass costs a millisecond there.
    """

    name: str  #: ``cloud.mechanism``: the name in logs, errors, thread names and stats
    cloud: str  #: ``azure``, ``aws``, ``google`` or ``any``
    class_name: str  #: the public class, re-exported from `literauth` and its cloud package
    module: str  #: the module defining it
    credential: CredentialKind  #: what `resolve()` returns: a bearer token or AWS keys
    required_env: tuple[str, ...]  #: what `from_env()` needs
    optional_env: tuple[str, ...] = ()  #: what `from_env()` reads when set
    command: str | None = None  #: the `literauth token KIND` name
    config_prefixes: tuple[str, ...] = ()  #: `provider_model` prefixes of `[[models]]` using it
    #: ``module:Class`` of its `FakeIdentityServer` endpoint; None for a provider that is not
    #: an HTTP client (``azure.cli`` runs a process), which the server, the demo, the pytest
    #: plugin's fixtures and the HTTP fault and leak campaigns then leave out. Such a
    #: provider's own tests cover the equivalent faults.
    fake: str | None = None
    extra: str | None = None  #: the pip extra its dependencies come with
    scoped: bool = False  #: whether it has `with_scope()`
    #: Whether `from_env()` in the fakes' environment talks to its own fake only. False for
    #: ``aws.assume_role``, whose source is another provider (web identity) on another fake:
    #: the demo, which counts each fake's requests against one provider, leaves it out.
    standalone: bool = True

    def load(self) -> type[CredentialProvider]:
        """The provider class (imports its module)."""
        cls: type[CredentialProvider] = getattr(importlib.import_module(self.module), self.class_name)
        return cls

    def from_env(self, environ: Mapping[str, str] | None = None, **options: Any) -> CredentialProvider:
        """The provider built from environment variables, as its `from_env()` does."""
        provider: CredentialProvider = self.load().from_env(environ, **options)  # type: ignore[attr-defined]
        return provider


class ChainSpec(NamedTuple):
    """One cloud's default chain: what the CLI and `[[models]]` build for that cloud.

    It answers the questions a `ProviderSpec` answers for the CLI and the loader (`name`,
    `credential`, `scoped`, `from_env`), so both take either.
    """

    name: str  #: ``cloud.default``: the name in `check` and in errors
    cloud: str  #: ``azure``, ``aws`` or ``google``
    function: str  #: ``module:function`` building the chain, e.g. ``literauth.azure:default_chain``
    credential: CredentialKind  #: what its sources resolve to
    commands: tuple[str, ...]  #: its `literauth token KIND` names (the first is the main one)
    config_prefixes: tuple[str, ...]  #: `provider_model` prefixes of `[[models]]` using it
    scoped: bool = False  #: whether it has `with_scope()` (every source of the cloud has)
    class_name: str = "ChainProvider"  #: what `from_env` builds
    required_env: tuple[str, ...] = ()  #: nothing: each source needs its own variables
    optional_env: tuple[str, ...] = ()

    def load(self) -> Callable[..., CredentialProvider]:
        """The chain's factory function (imports its module)."""
        module, _, function = self.function.partition(":")
        factory: Callable[..., CredentialProvider] = getattr(importlib.import_module(module), function)
        return factory

    def from_env(self, environ: Mapping[str, str] | None = None, **options: Any) -> CredentialProvider:
        """The chain over `environ` (`os.environ` when None); nothing is read until it chooses."""
        return self.load()(environ=environ, **options)


#: A spec the CLI and the loader build from: one provider, or one cloud's chain.
AnySpec = ProviderSpec | ChainSpec

CHAINS: tuple[ChainSpec, ...] = (
    ChainSpec(
        name="azure.default",
        cloud="azure",
        function="literauth.azure:default_chain",
        credential="bearer",
        commands=("azure",),
        config_prefixes=("azure",),
        scoped=True,
    ),
    ChainSpec(
        name="google.default",
        cloud="google",
        function="literauth.google:default",
        credential="bearer",
        commands=("vertex", "google"),
        config_prefixes=("vertex", "vertex_ai"),
        scoped=True,
    ),
)

SPECS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        name="azure.client_secret",
        cloud="azure",
        class_name="AzureAdCredentialProvider",
        module="literauth.azure.client_secret",
        credential="bearer",
        required_env=("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"),
        optional_env=("AZURE_AD_TOKEN", "AZURE_AD_SCOPE", "AZURE_AUTHORITY_HOST"),
        fake="literauth.testing.azure.client_secret:AzureAdEndpoint",
        extra="azure-auth",
        scoped=True,
    ),
    ProviderSpec(
        name="azure.cli",
        cloud="azure",
        class_name="AzureCliCredentialProvider",
        module="literauth.azure.cli",
        credential="bearer",
        required_env=(),  # only the az executable on PATH
        fake=None,  # a process, not HTTP: literauth.testing.azure.cli.FakeAzureCli fakes it
        scoped=True,
    ),
    ProviderSpec(
        name="azure.managed_identity",
        cloud="azure",
        class_name="ManagedIdentityCredentialProvider",
        module="literauth.azure.managed_identity",
        credential="bearer",
        required_env=(),  # none: without variables it asks IMDS
        optional_env=("AZURE_CLIENT_ID", "AZURE_AD_SCOPE", "IDENTITY_ENDPOINT", "IDENTITY_HEADER",
                      "AZURE_POD_IDENTITY_AUTHORITY_HOST", "IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT"),
        fake="literauth.testing.azure.managed_identity:ImdsEndpoint",
        extra="azure-auth",
        scoped=True,
    ),
    ProviderSpec(
        name="azure.workload_identity",
        cloud="azure",
        class_name="WorkloadIdentityCredentialProvider",
        module="literauth.azure.workload_identity",
        credential="bearer",
        required_env=("AZURE_FEDERATED_TOKEN_FILE", "AZURE_TENANT_ID", "AZURE_CLIENT_ID"),
        optional_env=("AZURE_AUTHORITY_HOST",),
        fake="literauth.testing.azure.workload_identity:AzureFederatedEndpoint",
        extra="azure-auth",
        scoped=True,
    ),
    ProviderSpec(
        name="azure.client_certificate",
        cloud="azure",
        class_name="ClientCertificateCredentialProvider",
        module="literauth.azure.client_certificate",
        credential="bearer",
        required_env=("AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_TENANT_ID", "AZURE_CLIENT_ID"),
        optional_env=("AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN",
                      "AZURE_AUTHORITY_HOST"),
        fake="literauth.testing.azure.client_certificate:AzureCertificateEndpoint",
        extra="azure-auth",
        scoped=True,
    ),
    ProviderSpec(
        name="aws.web_identity",
        cloud="aws",
        class_name="WebIdentityCredentialProvider",
        module="literauth.aws.web_identity",
        credential="aws",
        required_env=("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"),
        optional_env=("AWS_ROLE_SESSION_NAME", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_STS"),
        command="bedrock",
        config_prefixes=("bedrock",),
        fake="literauth.testing.aws.sts:StsEndpoint",
        extra="bedrock-auth",
    ),
    ProviderSpec(
        name="aws.environment",
        cloud="aws",
        class_name="EnvironmentCredentialsProvider",
        module="literauth.aws.environment",
        credential="aws",
        required_env=("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
        optional_env=("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CREDENTIAL_EXPIRATION"),
        fake=None,  # no endpoint: the keys are in the environment
        extra="bedrock-auth",
    ),
    ProviderSpec(
        name="aws.container",
        cloud="aws",
        class_name="ContainerCredentialsProvider",
        module="literauth.aws.container",
        credential="aws",
        required_env=(),  # one of the two URIs
        optional_env=("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                      "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
        fake="literauth.testing.aws.container:ContainerCredentialsEndpoint",
        extra="bedrock-auth",
    ),
    ProviderSpec(
        name="aws.instance_metadata",
        cloud="aws",
        class_name="InstanceMetadataCredentialsProvider",
        module="literauth.aws.instance_metadata",
        credential="aws",
        required_env=(),  # none: without variables it asks IMDS
        optional_env=("AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_SERVICE_ENDPOINT",
                      "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"),
        fake="literauth.testing.aws.instance_metadata:InstanceMetadataEndpoint",
        extra="bedrock-auth",
    ),
    ProviderSpec(
        name="aws.assume_role",
        cloud="aws",
        class_name="AssumeRoleProvider",
        module="literauth.aws.assume_role",
        credential="aws",
        required_env=("LITERAUTH_ASSUME_ROLE_ARN",),  # plus the source's own variables
        optional_env=("LITERAUTH_ASSUME_ROLE_SESSION_NAME", "LITERAUTH_ASSUME_ROLE_EXTERNAL_ID",
                      "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_STS"),
        fake="literauth.testing.aws.assume_role:AssumeRoleEndpoint",
        extra="bedrock-auth",
        standalone=False,
    ),
    ProviderSpec(
        name="aws.process",
        cloud="aws",
        class_name="ProcessCredentialsProvider",
        module="literauth.aws.process",
        credential="aws",
        required_env=("LITERAUTH_AWS_CREDENTIAL_PROCESS",),
        fake=None,  # a process, not HTTP: literauth.testing.aws.credential_process fakes it
    ),
    ProviderSpec(
        name="google.service_account",
        cloud="google",
        class_name="VertexOAuthCredentialProvider",
        module="literauth.google.service_account",
        credential="bearer",
        required_env=("GOOGLE_APPLICATION_CREDENTIALS",),
        optional_env=("VERTEX_AI_SCOPE",),
        fake="literauth.testing.google.oauth:GoogleOAuthEndpoint",
        extra="vertex-auth",
        scoped=True,
    ),
    ProviderSpec(
        name="google.compute_engine",
        cloud="google",
        class_name="ComputeEngineCredentialProvider",
        module="literauth.google.compute_engine",
        credential="bearer",
        required_env=(),  # none: without variables it asks metadata.google.internal
        optional_env=("GCE_METADATA_HOST", "GCE_METADATA_ROOT", "GCE_METADATA_IP"),
        fake="literauth.testing.google.metadata:GoogleMetadataEndpoint",
        scoped=True,
    ),
    ProviderSpec(
        name="google.authorized_user",
        cloud="google",
        class_name="AuthorizedUserCredentialProvider",
        module="literauth.google.authorized_user",
        credential="bearer",
        required_env=(),  # none: it reads gcloud's well-known ADC file
        optional_env=("CLOUDSDK_CONFIG",),
        fake="literauth.testing.google.user:GoogleUserEndpoint",
        scoped=True,
    ),
    ProviderSpec(
        name="google.external_account",
        cloud="google",
        class_name="ExternalAccountCredentialProvider",
        module="literauth.google.external_account",
        credential="bearer",
        required_env=("GOOGLE_APPLICATION_CREDENTIALS",),  # naming an external_account file
        optional_env=("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES", "AWS_REGION", "AWS_DEFAULT_REGION",
                      "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"),
        fake="literauth.testing.google.sts:GoogleStsEndpoint",
        scoped=True,
    ),
    ProviderSpec(
        name="google.impersonated",
        cloud="google",
        class_name="ImpersonatedCredentialProvider",
        module="literauth.google.impersonated",
        credential="bearer",
        required_env=("GOOGLE_APPLICATION_CREDENTIALS",),  # naming an impersonated_service_account file
        fake="literauth.testing.google.iam:GoogleIamEndpoint",
        scoped=True,
    ),
)


def by_name(name: str) -> AnySpec:
    """The spec or chain called `name` (``azure.client_secret``, ``azure.default``).

    `ConfigurationError` naming the known ones otherwise.
    """
    every: tuple[AnySpec, ...] = (*CHAINS, *SPECS)
    for spec in every:
        if spec.name == name:
            return spec
    known = ", ".join(s.name for s in every)
    raise ConfigurationError(f"no provider {name!r}; known: {known}")


def by_command(command: str) -> AnySpec | None:
    """What `literauth token COMMAND` builds: a cloud's chain, else a spec with that command; or None."""
    chain = next((chain for chain in CHAINS if command in chain.commands), None)
    return chain or next((spec for spec in SPECS if spec.command == command), None)


def by_prefix(prefix: str) -> AnySpec | None:
    """What a `[[models]]` `provider_model` prefix selects: a chain, else a spec; or None."""
    chain = next((chain for chain in CHAINS if prefix in chain.config_prefixes), None)
    return chain or next((spec for spec in SPECS if prefix in spec.config_prefixes), None)


def commands() -> tuple[tuple[str, AnySpec], ...]:
    """Every `literauth token` kind with what it builds, chains first, in registry order."""
    kinds: dict[str, AnySpec] = {}
    for chain in CHAINS:
        for command in chain.commands:
            kinds.setdefault(command, chain)
    for spec in SPECS:
        if spec.command is not None:
            kinds.setdefault(spec.command, spec)
    return tuple(kinds.items())


def config_prefixes() -> tuple[str, ...]:
    """Every `[[models]]` prefix with credentials from the environment, chains first."""
    return tuple(dict.fromkeys(
        [p for chain in CHAINS for p in chain.config_prefixes] + [p for spec in SPECS for p in spec.config_prefixes]
    ))
