"""`literauth token` / `check --fetch` share a FileCache; `[cache]` in a models file picks a store."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from literauth.cache import FileCache, RedisCache
from literauth.config import loads_models
from literauth.errors import ModelConfigError
from literauth.testing import FakeIdentityServer

from .conftest import RedisServer

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _literauth(identity: FakeIdentityServer, home: pathlib.Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "LITERAUTH_"))}
    env.update(identity.azure.environ())
    env["XDG_CACHE_HOME"] = str(home)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run([sys.executable, "-m", "literauth", *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.mark.slow
def test_token_in_a_shell_loop_costs_one_request(identity: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    printed = {_literauth(identity, tmp_path, "token", "azure").stdout for _ in range(3)}
    assert len(printed) == 1 and identity.azure.check_token(printed.pop().strip())
    assert identity.azure.request_count == 1
    assert (tmp_path / "literauth").is_dir()
    fresh = _literauth(identity, tmp_path, "token", "azure", "--no-cache")
    assert fresh.returncode == 0 and identity.azure.request_count == 2
    checked = _literauth(identity, tmp_path, "check", "--fetch")
    assert "azure" in checked.stdout and identity.azure.request_count == 2  # read from the cache
    _literauth(identity, tmp_path, "check", "--fetch", "--no-cache")
    assert identity.azure.request_count == 3


_MODELS = """
[[models]]
name = "gpt"
provider_model = "azure/gpt-4o"
"""


def test_models_file_cache_kinds(identity: FakeIdentityServer, tmp_path: pathlib.Path, redis_server: RedisServer) -> None:
    environ = {**identity.azure.environ(), "REDIS_URL": redis_server.url, "CACHE_DIR": str(tmp_path / "c")}

    def store(table: str) -> object:
        with loads_models(_MODELS + table, environ=environ) as models:
            return models["gpt"].credential_provider._settings.cache  # type: ignore[attr-defined]

    redis_link = store('[cache]\nkind = "redis"\nurl = "${REDIS_URL}"\n')
    assert isinstance(redis_link.store, RedisCache)  # type: ignore[attr-defined]
    file_link = store('[cache]\nkind = "file"\ndirectory = "${CACHE_DIR}"\n')
    assert isinstance(file_link.store, FileCache) and file_link.store.directory == str(tmp_path / "c")  # type: ignore[attr-defined]
    assert store('[cache]\nkind = "none"\n') is None
    assert store('[cache]\nkind = "memory"\n').store is store("").store  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('[cache]\nkind = "disk"\n', "kind: must be one of memory, file, redis, none, not 'disk'"),
        ('[cache]\nkind = "file"\nurl = "redis://x"\n', "url: applies to kind redis, not file"),
        ('[cache]\nkind = "redis"\nurl = "${NO_SUCH_VARIABLE}"\n', "environment variable NO_SUCH_VARIABLE is not set"),
        ('[cache]\nkind = "redis"\nkey = "too-short"\n', "at least 32 bytes"),
        ('[cache]\nsize = 3\n', "unknown field 'size'"),
        ('cache = "redis"\n', "[cache] must be a table, not a string"),
    ],
)
def test_a_bad_cache_table_is_a_problem_of_the_file(identity: FakeIdentityServer, table: str, message: str) -> None:
    with pytest.raises(ModelConfigError) as info:
        text = _MODELS + table if table.startswith("[") else table + _MODELS  # a bare key goes before [[models]]
        loads_models(text, environ=identity.azure.environ())
    assert message in str(info.value)
