"""The `literauth` command at its edges: pipes, encodings, hints, unknown options, terminals,
labels and unsupported Azure flows (findings #9, #15, #16, #22, #24, #25, #26)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from literauth import cli
from literauth.cli import _progress
from literauth.testing import FakeIdentityServer

from .conftest import clean_environ as _clean_environ
from .test_cli import STATIC, _Terminal, _use, _wait_for, run

#: Variables of every Azure source the fakes' union environment sets up (files, the IMDS fake).
NO_AZURE_SOURCE = ("AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_CERTIFICATE_PATH",
                   "AZURE_POD_IDENTITY_AUTHORITY_HOST")
ENV_HINT = "'literauth check' shows which environment variables are set"


# -- #9 broken pipe ------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="a POSIX pipe")
@pytest.mark.parametrize("argv", [["check"], ["--help"], ["token", "static"]])
def test_a_closed_pipe_ends_the_command_quietly(argv: list[str]) -> None:
    env = dict(_clean_environ(), LITERAUTH_TOKEN=STATIC)
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before anything is written: `literauth ... | true`
    done = subprocess.run([sys.executable, "-m", "literauth", *argv], stdout=writer, stderr=subprocess.PIPE,
                          text=True, env=env, check=False, timeout=30)
    os.close(writer)
    # From Python 3.11 argparse swallows the failed write of --help itself (its _print_message),
    # so that exits 0; on 3.10 the write fails in literauth, which exits 141 like the rest.
    assert done.returncode == (141 if argv != ["--help"] or sys.version_info < (3, 11) else 0)
    assert done.stderr == ""


# -- #15 an encoding that cannot show the text -----------------------------------------------------


def test_an_ascii_terminal_gets_escapes(tmp_path: Path) -> None:
    config = tmp_path / "models.toml"
    config.write_text('[[models]]\nname = "modèle-✓"\nprovider_model = "openai/gpt-4o"\napi_key = "k"\n',
                      encoding="utf-8")
    done = run("check", str(config), env=dict(_clean_environ(), PYTHONIOENCODING="ascii"))
    assert done.returncode == 0, done.stderr
    assert "mod\\xe8le-\\u2713" in done.stdout


# -- #16 hints that fit the error --------------------------------------------------------------------


def test_no_environment_hint_for_a_missing_package(tmp_path: Path) -> None:
    key = tmp_path / "key.json"
    key.write_text('{"type": "service_account"}')
    code = ("import sys; sys.modules['cryptography'] = None; sys.modules['jwt'] = None; "
            "from literauth.cli import main; sys.exit(main(['token', 'vertex']))")
    env = dict(_clean_environ(), GOOGLE_APPLICATION_CREDENTIALS=str(key))
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, env=env,
                          timeout=30)
    assert done.returncode == 1
    assert "pip install" in done.stderr and ENV_HINT not in done.stderr


def test_no_environment_hint_for_a_missing_token_file(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _use(monkeypatch, dict(env, AWS_WEB_IDENTITY_TOKEN_FILE=str(tmp_path / "gone")))
    assert cli.main(["token", "bedrock"]) == 1
    err = capsys.readouterr().err
    assert "gone" in err and ENV_HINT not in err


def test_the_environment_hint_for_a_variable_not_set(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # without every other Azure source the fakes' union environment sets (files, the IMDS fake)
    _use(monkeypatch, {k: v for k, v in env.items() if k not in NO_AZURE_SOURCE})
    assert cli.main(["token", "azure"]) == 1
    assert ENV_HINT in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"\xff\xfe not utf-8 \xe9", None, "directory"])
def test_check_never_hints_at_itself(
    content: bytes | str | None, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _use(monkeypatch, env)
    path = tmp_path / "models.toml"
    if content == "directory":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    assert cli.main(["check", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "literauth check" not in out + err
    assert str(path) in out + err
    if content == "directory":
        assert "is a directory" in err


# -- #22 Azure flows of other providers are named--------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "flow", "provider"),
    [("AZURE_FEDERATED_TOKEN_FILE", "workload identity", "WorkloadIdentityCredentialProvider"),
     ("AZURE_CLIENT_CERTIFICATE_PATH", "certificate", "ClientCertificateCredentialProvider")],
)
def test_other_azure_flows_are_chosen_by_the_chain(
    variable: str, flow: str, provider: str, env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without a client secret, `token azure` uses the flow the environment sets up, and names its file."""
    dropped = ("AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_CLIENT_CERTIFICATE_PATH")
    partial = {k: v for k, v in env.items() if k not in dropped}
    _use(monkeypatch, dict(partial, **{variable: str(tmp_path / "file")}))
    assert cli.main(["token", "azure"]) == 1
    err = capsys.readouterr().err
    assert str(tmp_path / "file") in err and "does not exist" in err  # that source's own error


# -- #24 unknown options are named -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "named", "hint"),
    [
        (["--bogus"], "unrecognized arguments: --bogus", "'literauth --help'"),
        (["check", "a.toml", "b.toml"], "unrecognized arguments: b.toml", "'literauth check --help'"),
        (["token", "azure", "--bogus"], "unrecognized arguments: --bogus", "'literauth token --help'"),
        ([], "a COMMAND is required", "'literauth --help'"),
    ],
)
def test_unknown_arguments_are_named(
    argv: list[str], named: str, hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    first, second = capsys.readouterr().err.splitlines()
    assert named in first and hint in second


# -- #25 no cursor codes where they do not belong ------------------------------------------------------------


@pytest.mark.parametrize("variables", [{"TERM": "dumb"}, {"NO_COLOR": "1"}])
def test_no_cursor_codes_on_a_dumb_terminal(
    variables: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_progress, "SPINNER_DELAY", 0.0)
    monkeypatch.setenv("TERM", "xterm")
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    stream = _Terminal()
    with cli.Progress(stream).task("working") as update:
        update("still working")
    assert stream.getvalue() == "literauth: working\nliterauth: still working\n"


def test_cursor_codes_on_a_capable_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_progress, "SPINNER_DELAY", 0.0)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.delenv("NO_COLOR", raising=False)
    stream = _Terminal()
    with cli.Progress(stream).task("working"):
        _wait_for(lambda: "working" in stream.getvalue())
    assert "\x1b[K" in stream.getvalue()


# -- #26 accurate progress lines and labels ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "extra"),
    [(["token", "static"], {"LITERAUTH_TOKEN": STATIC}), (["token", "azure"], {"AZURE_AD_TOKEN": STATIC})],
)
def test_nothing_is_said_to_be_requested_when_nothing_is(
    argv: list[str], extra: dict[str, str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], server: FakeIdentityServer,
) -> None:
    _use(monkeypatch, dict(env, **extra))
    assert cli.main(argv) == 0
    out, err = capsys.readouterr()
    assert out == STATIC + "\n" and "requesting" not in err
    assert server.azure.request_count == 0


def test_check_fetch_of_an_api_key_model_requests_nothing(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _use(monkeypatch, env)
    config = tmp_path / "models.toml"
    config.write_text('[[models]]\nname = "mistral"\nprovider_model = "mistral/large"\napi_key = "k"\n')
    assert cli.main(["check", "--fetch", str(config)]) == 0
    out, err = capsys.readouterr()
    assert "ok, never expires" in out and "requesting" not in err


def test_check_lists_every_setup_and_static(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _use(monkeypatch, {k: v for k, v in env.items() if k not in NO_AZURE_SOURCE})
    assert cli.main(["check"]) == 1
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[1:5]}
    assert set(rows) == {"azure", "bedrock", "vertex", "static"}
    assert "LITERAUTH_TOKEN=MISSING" in rows["static"] and rows["static"].endswith("unused")
    assert "  client secret: skipped (AZURE_CLIENT_SECRET is not set)" in out.splitlines()


def test_check_without_api_key_or_known_prefix_shows_no_api_key_label(
    env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _use(monkeypatch, env)
    config = tmp_path / "models.toml"
    config.write_text('[[models]]\nname = "x"\nprovider_model = "nosuch/model"\n')
    cli.main(["check", str(config)])
    out = capsys.readouterr().out
    assert "nosuch (api_key)" not in out and "nosuch" in out

