"""`require()`: an SDK imported on first use, or one install hint when it is missing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from literauth import ConfigurationError
from literauth.adapters._lazy import require


def test_an_installed_module_is_returned() -> None:
    assert require("json", package="json") is json
    assert require("email.mime.text", package="email").__name__ == "email.mime.text"


@pytest.mark.parametrize("hidden", ["azure", "azure.core", "azure.core.credentials"])
def test_a_missing_module_or_parent_names_the_package(monkeypatch: pytest.MonkeyPatch, hidden: str) -> None:
    for name in [n for n in sys.modules if n == "azure" or n.startswith("azure.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, hidden, None)
    with pytest.raises(ConfigurationError) as caught:
        require("azure.core.credentials", package="azure-core")
    assert str(caught.value) == "azure.core.credentials is not installed: pip install azure-core"
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_a_broken_installation_keeps_its_own_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "literauth_sdk_stub.py").write_text("import literauth_missing_dependency\n", encoding="utf-8")
    monkeypatch.setitem(sys.modules, "literauth_missing_dependency", None)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="literauth_missing_dependency"):
        require("literauth_sdk_stub", package="stub")


def test_importing_the_adapters_package_loads_no_sdk() -> None:
    code = (
        "import sys, literauth, literauth.adapters, literauth.adapters._lazy; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'azure', 'google', 'botocore', 'boto3', 'httpx', 'httpx2', 'openai', 'anthropic'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"
