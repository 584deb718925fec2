"""The public surface: what `literauth` exports and which way imports flow."""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import literauth

PACKAGE = pathlib.Path(literauth.__file__).parent

# Each module may import only from modules before it (the vocabulary first, the CLI last).
LAYERS = [
    {"_version", "errors", "secret"},
    {"credentials", "_policy"},
    {"_http", "_xml", "_env"},
    {"_oauth", "provider"},
    {"azure_ad", "bedrock_sts", "vertex_oauth"},
    {"sigv4", "auth"},
    {"client", "config"},
    {"cli", "__main__", "_demo", "testing"},
]


def _layer(module: str) -> int:
    for index, names in enumerate(LAYERS):
        if module in names:
            return index
    return len(LAYERS)


def test_all_is_sorted_and_complete() -> None:
    assert list(literauth.__all__) == sorted(literauth.__all__)
    for name in literauth.__all__:
        assert hasattr(literauth, name), name


def test_core_names_are_exported() -> None:
    for name in ("SecretString", "Credential", "BearerToken", "AwsCredentials", "CredentialProvider",
                 "StaticTokenProvider", "LiterAuthError", "ConfigurationError", "CredentialError",
                 "TokenEndpointError", "TransportError", "MalformedResponseError"):
        assert name in literauth.__all__


def test_imports_flow_one_way() -> None:
    for path in PACKAGE.glob("*.py"):
        module = path.stem
        if module == "__init__":
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                target = node.module.split(".")[0]
                assert _layer(target) <= _layer(module), f"{module} imports {target}, which comes later"


def test_import_is_light() -> None:
    code = "import sys, literauth; print(sorted(m for m in ('jwt', 'cryptography', 'requests') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_library_logger_has_a_null_handler() -> None:
    import logging

    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("literauth").handlers)
