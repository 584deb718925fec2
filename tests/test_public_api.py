"""The public surface: what `literauth` exports and which way imports flow."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pathlib
import subprocess
import sys

import literauth

PACKAGE = pathlib.Path(literauth.__file__).parent

# Each module may import only from its own layer or one before it (vocabulary first, the CLI
# last). Names are dotted paths inside the package; a package stands for all its modules.
LAYERS = [
    {"_version", "errors", "secret", "_lazy"},
    {"credentials", "_policy"},
    {"_url", "_deadline", "_http", "_xml", "_env", "_files", "_safejson", "aws._sigv4", "cache"},
    {"_oauth", "provider", "_registry", "_process"},
    {"chain"},
    {"azure", "aws", "google"},
    {"integrations", "sigv4"},
    {"client", "config"},
    {"cli", "__main__", "testing"},
]
CLOUDS = {"azure", "aws", "google"}
SHARED_ACROSS_CLOUDS = {"aws._sigv4"}  # pure SigV4: AssumeRole and the SDK adapters use it

PINNED_ALL = [
    "AssumeRoleProvider", "AuthorizedUserCredentialProvider", "AwsCredentials", "AzureAdCredentialProvider",
    "AzureCliCredentialProvider", "BearerAuth", "BearerToken", "ChainProvider",
    "Client", "ClientCertificateCredentialProvider", "ClientConfig", "ComputeEngineCredentialProvider",
    "ConfigurationError", "ContainerCredentialsProvider", "Credential", "CredentialError",
    "CredentialProvider", "CredentialSourceError", "DefaultClient", "EnvironmentCredentialsProvider",
    "ExternalAccountCredentialProvider", "ImpersonatedCredentialProvider", "InstanceMetadataCredentialsProvider", "LiterAuthError",
    "MalformedResponseError", "ManagedIdentityCredentialProvider",
    "ModelConfigError",
    "ModelEntry", "ModelTable", "ProcessCredentialsProvider", "ProviderStats", "RefreshPolicy", "RefreshingCredentialProvider", "RetryPolicy",
    "SecretString", "SharedConfigProvider", "SigV4Auth", "SourceNotConfigured", "SsoCredentialProvider",
    "StaticTokenProvider", "SupportsResolve",
    "TokenEndpointError", "TransportError", "TransportReason", "VertexOAuthCredentialProvider", "WebIdentityCredentialProvider",
    "WorkloadIdentityCredentialProvider",
    "__version__", "bearer_token_callable", "load_models", "loads_models",
]


def _name(path: pathlib.Path) -> str:
    """`literauth/aws/_sts.py` -> ``aws._sts``; a package's `__init__` is the package."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _layer(module: str) -> int:
    """The layer of the longest listed prefix of `module`; unlisted modules come last."""
    parts = module.split(".")
    for size in range(len(parts), 0, -1):
        prefix = ".".join(parts[:size])
        for index, names in enumerate(LAYERS):
            if prefix in names:
                return index
    return len(LAYERS)


def _imports(path: pathlib.Path, module: str) -> list[str]:
    """Every literauth module `path` imports, as dotted names inside the package."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[: len(package) - (node.level - 1)]
            if node.module:
                found.append(".".join([*base, node.module]))
            else:  # `from . import _sts`
                found.extend(".".join([*base, alias.name]) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("literauth."):
            found.append((node.module or "").removeprefix("literauth."))
        elif isinstance(node, ast.Import):
            found.extend(a.name.removeprefix("literauth.") for a in node.names if a.name.startswith("literauth."))
    return [name for name in found if name]


def test_all_is_pinned_and_resolvable() -> None:
    assert list(literauth.__all__) == PINNED_ALL == sorted(PINNED_ALL)
    for name in literauth.__all__:
        assert hasattr(literauth, name), name


def test_dir_is_all_plus_private_names() -> None:
    public = sorted(name for name in dir(literauth) if not name.startswith("_"))
    assert public == sorted(name for name in literauth.__all__ if not name.startswith("_"))


def test_every_registered_provider_is_exported_from_literauth_and_its_cloud() -> None:
    from literauth._registry import SPECS

    for spec in SPECS:
        cls = spec.load()
        assert getattr(literauth, spec.class_name) is cls
        cloud = importlib.import_module(f"literauth.{spec.cloud}")
        assert getattr(cloud, spec.class_name) is cls
        assert cls.provider_name == spec.name  # type: ignore[attr-defined]


def test_old_module_paths_are_gone() -> None:
    for old in ("azure_ad", "bedrock_sts", "vertex_oauth", "auth", "_demo"):
        assert importlib.util.find_spec(f"literauth.{old}") is None, old


def test_core_names_are_exported() -> None:
    for name in ("SecretString", "Credential", "BearerToken", "AwsCredentials", "CredentialProvider",
                 "StaticTokenProvider", "LiterAuthError", "ConfigurationError", "CredentialError",
                 "TokenEndpointError", "TransportError", "MalformedResponseError"):
        assert name in literauth.__all__


def test_imports_flow_one_way_through_every_subpackage() -> None:
    checked = 0
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _name(path)
        if not module:
            continue
        for target in _imports(path, module):
            checked += 1
            own = module.split(".")[0]
            other = target.split(".")[0]
            assert _layer(target) <= _layer(module), f"{module} imports {target}, which comes later"
            if own in CLOUDS and other in CLOUDS and own != other:
                assert target in SHARED_ACROSS_CLOUDS, f"{module} imports {target}: clouds never import each other"
    assert checked > 100  # the walk really saw the subpackages


def test_the_layering_check_catches_an_upward_import() -> None:
    assert _layer("azure.client_secret") > _layer("provider")
    assert _layer("provider") < _layer("aws.web_identity")
    assert _layer("cli._demo") == len(LAYERS) - 1


def test_import_is_light() -> None:
    code = "import sys, literauth; print(sorted(m for m in ('jwt', 'cryptography', 'requests') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_library_logger_has_a_null_handler() -> None:
    import logging

    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("literauth").handlers)
