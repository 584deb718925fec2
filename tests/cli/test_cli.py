"""The `literauth` command, driven as a subprocess with its environment pointed at FakeIdentityServer."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from literauth import cli
from literauth.credentials import UTC
from literauth.testing import FakeIdentityServer

from ..conftest import assert_no_secret

STATIC = "static-token-for-the-cli-0123456789abcdef"
CONFIG_KEY = "config-api-key-0123456789abcdefghij"


from ..conftest import METADATA_OVERRIDES
from .conftest import CLEARED


def run(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "literauth", *args],
        check=False, env={**METADATA_OVERRIDES, **env}, capture_output=True, text=True, timeout=timeout,
    )


def secrets_of(server: FakeIdentityServer, env: dict[str, str]) -> list[str]:
    """Every secret the server or the environment holds: none may reach stderr or `check` output."""
    found = [server.azure.client_secret.expose_secret()]
    found += [Path(env["AWS_WEB_IDENTITY_TOKEN_FILE"]).read_text().strip()]
    for issued in server.sts.issued_credentials:
        found += [s.expose_secret() for s in (issued.access_key_id, issued.secret_access_key, issued.session_token)]
    found += server.google.issued_tokens
    if "GOOGLE_APPLICATION_CREDENTIALS" in env:
        key = json.loads(Path(env["GOOGLE_APPLICATION_CREDENTIALS"]).read_text())["private_key"]
        found += [line for line in key.splitlines() if "PRIVATE KEY" not in line and line]
    return found


def _epoch(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


# -- token ------------------------------------------------------------------------------------------


def test_token_azure_prints_the_bare_token(server: FakeIdentityServer, env: dict[str, str]) -> None:
    done = run("token", "azure", env=env)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert done.stdout == token + "\n"
    assert server.azure.check_token(token, audience="https://cognitiveservices.azure.com")
    assert "requesting a credential" in done.stderr  # progress as a plain line: stderr is no TTY
    assert_no_secret([done.stderr], [token, *secrets_of(server, env)])


def test_token_azure_json_and_scope(server: FakeIdentityServer, env: dict[str, str]) -> None:
    done = run("token", "azure", "--scope", "https://management.azure.com/.default", "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["token_type"] == "Bearer"
    assert server.azure.check_token(data["access_token"], audience="https://management.azure.com")
    assert abs(_epoch(data["expires_at"]) - (time.time() + server.azure.lifetime)) < 120
    assert server.azure.requests[-1].form["scope"] == "https://management.azure.com/.default"


def test_token_env_format_for_a_bearer_token(server: FakeIdentityServer, env: dict[str, str]) -> None:
    done = run("token", "azure", "--format", "env", env=env)
    assert done.returncode == 0, done.stderr
    words = shlex.split(done.stdout)
    assert words[0] == "export" and words[1].startswith("LITERAUTH_TOKEN=")
    assert server.azure.check_token(words[1].split("=", 1)[1])


def test_token_static_reads_literauth_token(env: dict[str, str]) -> None:
    env = dict(env, LITERAUTH_TOKEN=f"  {STATIC}\n")
    done = run("token", "static", env=env)
    assert (done.returncode, done.stdout) == (0, STATIC + "\n")
    as_json = json.loads(run("token", "static", "--format", "json", env=env).stdout)
    assert as_json == {"token_type": "Bearer", "access_token": STATIC, "expires_at": None}


def test_token_static_without_the_variable_fails(env: dict[str, str]) -> None:
    done = run("token", "static", env=env)
    assert done.returncode == 1
    assert "LITERAUTH_TOKEN is not set" in done.stderr
    assert "Traceback" not in done.stderr


def test_token_bedrock_json_by_default(server: FakeIdentityServer, env: dict[str, str]) -> None:
    done = run("token", "bedrock", env=env)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    issued = server.sts.issued_credentials[-1]
    assert data["access_key_id"] == issued.access_key_id.expose_secret()
    assert data["secret_access_key"] == issued.secret_access_key.expose_secret()
    assert data["session_token"] == issued.session_token.expose_secret()
    assert 0 <= issued.expiration.timestamp() - _epoch(data["expires_at"]) <= 5
    assert_no_secret([done.stderr], secrets_of(server, env))


def test_token_bedrock_env_format(server: FakeIdentityServer, env: dict[str, str]) -> None:
    done = run("token", "bedrock", "--format", "env", env=env)
    assert done.returncode == 0, done.stderr
    exported = dict(line.split(" ", 1)[1].split("=", 1) for line in done.stdout.splitlines())
    exported = {k: shlex.split(v)[0] for k, v in exported.items()}
    issued = server.sts.issued_credentials[-1]
    assert exported["AWS_ACCESS_KEY_ID"] == issued.access_key_id.expose_secret()
    assert exported["AWS_SECRET_ACCESS_KEY"] == issued.secret_access_key.expose_secret()
    assert exported["AWS_SESSION_TOKEN"] == issued.session_token.expose_secret()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", exported["AWS_CREDENTIAL_EXPIRATION"])


def test_token_bedrock_credential_process(server: FakeIdentityServer, env: dict[str, str]) -> None:
    done = run("token", "bedrock", "--format", "credential-process", env=env)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    issued = server.sts.issued_credentials[-1]
    expiration = data.pop("Expiration")
    assert data == {
        "Version": 1,
        "AccessKeyId": issued.access_key_id.expose_secret(),
        "SecretAccessKey": issued.secret_access_key.expose_secret(),
        "SessionToken": issued.session_token.expose_secret(),
    }
    # the provider's expiry is conservative: timed from when the request was sent
    assert 0 <= issued.expiration.timestamp() - _epoch(expiration) <= 5


@pytest.mark.skipif(sys.platform == "win32", reason="the command line uses the POSIX env tool")
def test_botocore_reads_the_credential_process_output(
    server: FakeIdentityServer, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    botocore_session = pytest.importorskip("botocore.session")
    # botocore itself must not see the web identity variables (it would call STS on its own),
    # so the command sets them for literauth only.
    assignments = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items() if k.startswith("AWS_"))
    command = f"env {assignments} {shlex.quote(sys.executable)} -m literauth -q token bedrock --format credential-process"
    config = tmp_path / "aws-config"
    config.write_text(f"[profile literauth]\ncredential_process = {command}\n")
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    session = botocore_session.Session(profile="literauth")
    frozen = session.get_credentials().get_frozen_credentials()
    issued = server.sts.issued_credentials[-1]
    assert frozen.access_key == issued.access_key_id.expose_secret()
    assert frozen.secret_key == issued.secret_access_key.expose_secret()
    assert frozen.token == issued.session_token.expose_secret()


def test_token_vertex_with_scope(server: FakeIdentityServer, env: dict[str, str]) -> None:
    if "GOOGLE_APPLICATION_CREDENTIALS" not in env:
        pytest.skip("the Vertex provider needs cryptography and pyjwt")
    scope = "https://www.googleapis.com/auth/devstorage.read_only"
    done = run("token", "vertex", "--scope", scope, env=env)
    assert done.returncode == 0, done.stderr
    assert server.google.issued_tokens == [done.stdout.strip()]
    assert server.google.accepted[-1].claims["scope"] == scope
    assert_no_secret([done.stderr], secrets_of(server, env))


def test_token_failure_is_one_line_and_a_hint(server: FakeIdentityServer, env: dict[str, str]) -> None:
    wrong = "wrong-secret-0123456789abcdefghijkl"
    done = run("token", "azure", env=dict(env, AZURE_CLIENT_SECRET=wrong))
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if not line.startswith("literauth: azure: requesting")]
    assert len(lines) == 2 and lines[0].startswith("literauth: error: ") and lines[1].startswith("  hint: ")
    assert "AADSTS7000215" in lines[0]
    assert done.stdout == ""
    assert_no_secret([done.stderr], [wrong, *secrets_of(server, env)])


def test_token_unreachable_endpoint_fails_with_a_hint(env: dict[str, str]) -> None:
    done = run("token", "azure", "--quiet", env=dict(env, AZURE_AUTHORITY_HOST="http://127.0.0.1:9"))
    assert done.returncode == 1
    assert "connection failed" in done.stderr and "hint:" in done.stderr
    assert "Traceback" not in done.stderr


def test_verbose_logs_debug_without_secrets(server: FakeIdentityServer, env: dict[str, str]) -> None:
    done = run("--verbose", "token", "azure", env=env)
    assert done.returncode == 0, done.stderr
    assert "DEBUG literauth" in done.stderr
    assert_no_secret([done.stderr], [done.stdout.strip(), *secrets_of(server, env)])
    failing = run("token", "azure", "-v", env=dict(env, AZURE_AUTHORITY_HOST="http://127.0.0.1:9"))
    assert failing.returncode == 1 and "Traceback" in failing.stderr


def test_quiet_writes_nothing_to_stderr_on_success(env: dict[str, str]) -> None:
    done = run("token", "azure", "-q", env=env)
    assert done.returncode == 0
    assert done.stderr == ""


# -- usage errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["token"],
        ["token", "gcp"],
        ["token", "bedrock", "--format", "token"],
        ["token", "azure", "--format", "credential-process"],
        ["token", "static", "--scope", "x"],
        ["token", "bedrock", "--scope", "x"],
        ["token", "azure", "--format", "yaml"],
        ["--quiet", "--verbose", "check"],
        ["demo", "--threads", "0"],
        ["check", "a.toml", "b.toml"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 2 and lines[0].startswith("literauth: error: ") and lines[1].startswith("  hint: ")


def test_usage_error_as_a_subprocess(env: dict[str, str]) -> None:
    done = run("token", "bedrock", "--format", "token", env=env)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "hint:" in done.stderr


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    assert "token" in capsys.readouterr().out
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("literauth ")


# -- check -----------------------------------------------------------------------------------------


def test_check_environment_without_fetching(server: FakeIdentityServer, env: dict[str, str]) -> None:
    done = run("check", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[1:4]}
    assert set(rows) == {"azure", "bedrock", "vertex"}
    assert "AZURE_CLIENT_SECRET=set" in rows["azure"] and rows["azure"].endswith("ok")
    assert "AWS_WEB_IDENTITY_TOKEN_FILE=set" in rows["bedrock"]
    assert server.azure.request_count == server.sts.request_count == server.google.request_count == 0
    assert_no_secret([done.stdout, done.stderr], secrets_of(server, env))


def test_check_environment_with_fetch(server: FakeIdentityServer, env: dict[str, str]) -> None:
    done = run("check", "--fetch", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok, expires 20") == 3
    assert server.azure.request_count == server.sts.request_count == server.google.request_count == 1
    assert_no_secret([done.stdout, done.stderr], secrets_of(server, env))


def test_check_environment_reports_what_is_missing(env: dict[str, str]) -> None:
    partial = {k: v for k, v in env.items() if k not in ("AZURE_CLIENT_SECRET", "AWS_ROLE_ARN")}
    done = run("check", env=partial)
    assert done.returncode == 1
    assert "client secret: skipped (AZURE_CLIENT_SECRET is not set)" in done.stdout  # the chain moved on
    assert "AWS_ROLE_ARN=MISSING" in done.stdout
    assert re.search(r"^vertex .* ok$", done.stdout, re.MULTILINE)
    assert "not usable" in done.stdout


def test_check_fetch_failure_is_shown(server: FakeIdentityServer, env: dict[str, str]) -> None:
    server.sts.fail_with("AccessDenied")
    done = run("check", "--fetch", env=env)
    assert done.returncode == 1
    assert re.search(r"^bedrock .* FAILED$", done.stdout, re.MULTILINE)
    assert "AccessDenied" in done.stdout


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "models.toml"
    path.write_text(textwrap.dedent("""
        [[models]]
        name = "gpt-4o"
        provider_model = "azure/gpt-4o"

        [[models]]
        name = "claude"
        provider_model = "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0"

        [[models]]
        name = "gemini"
        provider_model = "vertex_ai/gemini-1.5-pro"

        [[models]]
        name = "local"
        provider_model = "openai/gpt-4o-mini"
        api_key = "${MY_API_KEY}"
        base_url = "${MY_BASE_URL:-http://127.0.0.1:8000}"
    """))
    return path


def test_check_config(server: FakeIdentityServer, env: dict[str, str], tmp_path: Path) -> None:
    if "GOOGLE_APPLICATION_CREDENTIALS" not in env:
        pytest.skip("the Vertex provider needs cryptography and pyjwt")
    done = run("check", str(_config(tmp_path)), env=dict(env, MY_API_KEY=CONFIG_KEY))
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["MODEL", "PROVIDER", "ENVIRONMENT", "STATUS"]
    rows = {line.split()[0]: line for line in lines[1:5]}
    assert "AZURE_TENANT_ID=set" in rows["gpt-4o"]
    assert "AWS_ROLE_ARN=set" in rows["claude"]
    assert "GOOGLE_APPLICATION_CREDENTIALS=set" in rows["gemini"]
    assert "MY_API_KEY=set" in rows["local"] and "MY_BASE_URL=default" in rows["local"]
    assert all(row.endswith("ok") for row in rows.values())
    assert server.azure.request_count == server.sts.request_count == server.google.request_count == 0
    assert_no_secret([done.stdout, done.stderr], [CONFIG_KEY, *secrets_of(server, env)])


def test_check_config_with_fetch_resolves_each_provider_once(
    server: FakeIdentityServer, env: dict[str, str], tmp_path: Path
) -> None:
    if "GOOGLE_APPLICATION_CREDENTIALS" not in env:
        pytest.skip("the Vertex provider needs cryptography and pyjwt")
    done = run("check", "--fetch", str(_config(tmp_path)), env=dict(env, MY_API_KEY=CONFIG_KEY))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("ok, expires 20") == 3
    assert "ok, never expires" in done.stdout  # the static api_key
    assert server.azure.request_count == server.sts.request_count == server.google.request_count == 1
    assert_no_secret([done.stdout, done.stderr], [CONFIG_KEY, *secrets_of(server, env)])


def test_check_config_reports_unusable_models(env: dict[str, str], tmp_path: Path) -> None:
    partial = {k: v for k, v in env.items() if not k.startswith("AZURE_")}
    done = run("check", "--fetch", str(_config(tmp_path)), env=partial)
    assert done.returncode == 1
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[1:5]}
    assert "not usable" in rows["gpt-4o"]
    assert "  client secret: skipped (AZURE_CLIENT_SECRET is not set)" in done.stdout.splitlines()  # the chain's describe()
    assert "MY_API_KEY=MISSING" in rows["local"] and "not usable" in rows["local"]
    assert "gpt-4o: " in done.stdout and "local: " in done.stdout  # the notes say why


def test_check_missing_config_file_fails(env: dict[str, str], tmp_path: Path) -> None:
    done = run("check", str(tmp_path / "nope.toml"), env=env)
    assert done.returncode == 1
    assert "does not exist" in done.stderr and "Traceback" not in done.stderr


# -- progress ----------------------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_spinner_on_a_terminal_is_erased(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "SPINNER_DELAY", 0.0)
    stream = _Terminal()
    progress = cli.Progress(stream)
    with progress.task("working") as update:
        _wait_for(lambda: "working" in stream.getvalue())
        update("still working")
        _wait_for(lambda: "still working" in stream.getvalue())
    text = stream.getvalue()
    assert text.startswith("\r") and text.endswith("\r\x1b[K")
    assert "\n" not in text


def test_plain_lines_when_not_a_terminal_and_nothing_when_quiet() -> None:
    stream = io.StringIO()
    with cli.Progress(stream).task("working") as update:
        update("half way")
    assert stream.getvalue() == "literauth: working\nliterauth: half way\n"
    quiet = io.StringIO()
    with cli.Progress(quiet, quiet=True).task("working") as update:
        update("half way")
    assert quiet.getvalue() == ""


def test_a_short_task_shows_no_spinner() -> None:
    stream = _Terminal()
    with cli.Progress(stream).task("quick"):
        pass
    assert stream.getvalue() == ""


@pytest.fixture(autouse=True)
def _no_leftover_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    spinners = [t for t in set(threading.enumerate()) - before if t.name == "literauth-spinner"]
    assert not spinners


# -- in-process: details that need no subprocess -----------------------------------------------------


def _use(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """`env` as this process's environment; metadata services refused unless `env` points them elsewhere."""
    for name in list(os.environ):
        if name.startswith(CLEARED):
            monkeypatch.delenv(name)
    for name, value in {**METADATA_OVERRIDES, **env}.items():
        monkeypatch.setenv(name, value)


def test_check_with_azure_ad_token_shows_only_that_variable(
    server: FakeIdentityServer, env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _use(monkeypatch, dict(env, AZURE_AD_TOKEN=STATIC))
    assert cli.main(["check"]) == 0
    out, err = capsys.readouterr()
    azure = next(line for line in out.splitlines() if line.startswith("azure "))
    assert "StaticTokenProvider" in azure and "AZURE_TENANT_ID" not in azure
    assert "  environment token (AZURE_AD_TOKEN): chosen" in out.splitlines()  # the chain says why
    assert_no_secret([out, err], [STATIC, *secrets_of(server, env)])


def test_a_ready_made_token_is_served_as_it_is_for_any_scope(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], server: FakeIdentityServer
) -> None:
    """AZURE_AD_TOKEN wins (the seed's contract) and a static token serves every scope unchanged."""
    _use(monkeypatch, dict(env, AZURE_AD_TOKEN=STATIC))
    assert cli.main(["token", "azure", "--scope", "https://management.azure.com/.default"]) == 0
    out, err = capsys.readouterr()
    assert out == STATIC + "\n" and STATIC not in err
    assert server.azure.request_count == 0  # nothing was requested


def test_check_invalid_toml_fails_with_the_parser_message(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _use(monkeypatch, env)
    broken = tmp_path / "broken.toml"
    broken.write_text('[[models]]\nname = "x\n')
    assert cli.main(["check", str(broken)]) == 1
    out, _ = capsys.readouterr()
    assert "invalid TOML" in out and "not usable" in out


def test_verbose_leaves_no_log_handler_behind(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    import logging

    _use(monkeypatch, dict(env, LITERAUTH_TOKEN=STATIC))
    logger = logging.getLogger("literauth")
    handlers, level = list(logger.handlers), logger.level
    assert cli.main(["-v", "token", "static"]) == 0
    assert logger.handlers == handlers and logger.level == level
