"""`literauth check FILE` on `config.inspect()`: no value of a variable printed, files refused before reading."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from literauth import cli
from literauth.config import _document
from literauth.testing import FakeIdentityServer

from ..conftest import METADATA_OVERRIDES, assert_no_secret
from .conftest import CLEARED

NAME_VALUE = "name-from-a-variable-7f3a9c1e5b"
MODEL_VALUE = "deployment-from-a-variable-0d8e"
URL_VALUE = "https://private-gateway-4c2b9a.example.com"
KEY_VALUE = "api-key-from-a-variable-91ab27cd"
VALUES = (NAME_VALUE, MODEL_VALUE, URL_VALUE, KEY_VALUE)


def _use(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for name in list(os.environ):
        if name.startswith(CLEARED):
            monkeypatch.delenv(name)
    for name, value in {**METADATA_OVERRIDES, **env}.items():  # metadata refused unless env says otherwise
        monkeypatch.setenv(name, value)


def _interpolated_config(tmp_path: Path) -> Path:
    """A file whose names, model ids, URL and key all come from variables."""
    path = tmp_path / "models.toml"
    path.write_text(textwrap.dedent("""
        [[models]]
        name = "${MODEL_NAME}"
        provider_model = "azure/${DEPLOYMENT}"
        base_url = "${GATEWAY_URL}"

        [[models]]
        name = "${MODEL_NAME}-keyed"
        provider_model = "openai/${DEPLOYMENT}"
        api_key = "${GATEWAY_KEY}"
    """))
    return path


def _variables() -> dict[str, str]:
    return {"MODEL_NAME": NAME_VALUE, "DEPLOYMENT": MODEL_VALUE, "GATEWAY_URL": URL_VALUE, "GATEWAY_KEY": KEY_VALUE}


@pytest.mark.parametrize("fetch", [False, True])
def test_check_never_prints_the_value_of_a_variable(
    fetch: bool, server: FakeIdentityServer, env: dict[str, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    _use(monkeypatch, dict(env, **_variables()))
    argv = ["check", "--fetch", str(_interpolated_config(tmp_path))] if fetch else ["check", str(_interpolated_config(tmp_path))]
    assert cli.main(argv) == 0
    out, err = capsys.readouterr()
    assert "${MODEL_NAME}" in out and "${MODEL_NAME}-keyed" in out  # the names as written
    assert "MODEL_NAME=set" in out and "GATEWAY_KEY=set" in out
    if fetch:
        assert out.count("ok, expires 20") == 1 and "ok, never expires" in out
        assert server.azure.request_count == 1
    else:
        assert server.azure.request_count == 0
    assert_no_secret([out, err], [*VALUES, server.azure.client_secret.expose_secret()])
    for value in VALUES:
        assert value not in out + err


def test_check_of_a_broken_file_never_prints_the_value_of_a_variable(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """Problems name entries and fields as written, also next to a problem the value causes."""
    _use(monkeypatch, {**env, **_variables(), "DEPLOYMENT": " spaced out value "})
    path = tmp_path / "models.toml"
    path.write_text('[[models]]\nname = "${MODEL_NAME}"\nprovider_model = "${DEPLOYMENT}"\n'
                    '[[models]]\nname = "${MODEL_NAME}"\nprovider_model = "openai/x"\napi_key = "${GATEWAY_KEY}"\n')
    assert cli.main(["check", "--fetch", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "not usable" in out and "--fetch was skipped" in out
    for value in (*VALUES, "spaced out value"):
        assert value not in out + err


def test_a_file_above_the_cap_is_refused_without_parsing(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    _use(monkeypatch, env)
    path = tmp_path / "huge.toml"
    path.write_bytes(b'[[models]]\nname = "x"\nprovider_model = "openai/x"\napi_key = "k"\n' + b"#" * (5 * 1024 * 1024))

    def no_parsing(*args: object, **kwargs: object) -> object:
        raise AssertionError("a file above the cap was parsed")

    monkeypatch.setattr(_document.tomllib, "loads", no_parsing)
    started = time.perf_counter()
    assert cli.main(["check", str(path)]) == 1
    assert time.perf_counter() - started < 2.0
    out, err = capsys.readouterr()
    assert f"{path}: is larger than {_document.MAX_FILE_BYTES} bytes" in err and "Traceback" not in err
    assert "MODEL" not in out  # no table: nothing of the file was read as a configuration


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
def test_a_fifo_is_refused_at_once(env: dict[str, str], tmp_path: Path) -> None:
    fifo = tmp_path / "models.toml"
    os.mkfifo(fifo)  # no writer: opening it for reading in blocking mode would wait forever
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "literauth", "check", str(fifo)], check=False, env=env,
                          capture_output=True, text=True, timeout=30)
    assert time.perf_counter() - started < 20.0
    assert done.returncode == 1
    assert f"{fifo}: is not a regular file" in done.stderr and "Traceback" not in done.stderr


def test_a_directory_gets_the_loaders_message(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    _use(monkeypatch, env)
    assert cli.main(["check", str(tmp_path)]) == 1
    assert f"{tmp_path}: is a directory, not a model configuration file" in capsys.readouterr().err


def test_required_variables_of_the_spec_are_listed(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    _use(monkeypatch, {k: v for k, v in env.items() if not k.startswith("AWS_")})
    path = tmp_path / "models.toml"
    path.write_text('[[models]]\nname = "claude"\nprovider_model = "bedrock/anthropic.claude"\n')
    assert cli.main(["check", str(path)]) == 1
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("claude "))
    assert "bedrock (from env)" in row and "AWS_ROLE_ARN=MISSING" in row and "AWS_WEB_IDENTITY_TOKEN_FILE=MISSING" in row
    assert row.endswith("not usable")
    assert "  claude: " in out  # the note says why
