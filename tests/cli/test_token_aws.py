"""`literauth token aws` (and `bedrock`): the AWS default chain from the command line.

`--format credential-process` makes the whole chain a botocore ``credential_process``: botocore,
pointed at a profile that runs it, gets the very keys the chain found.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from literauth.testing import FakeIdentityServer

from ..conftest import METADATA_OVERRIDES
from .conftest import clean_environ

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYTOKENAWSKEY"


def run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "literauth", *args], check=False, env={**METADATA_OVERRIDES, **env},
                          capture_output=True, text=True, timeout=60)


def profile_env(tmp_path: Path) -> dict[str, str]:
    """Static keys in a credentials file, nothing else (instance metadata refused)."""
    (tmp_path / "credentials").write_text(f"[default]\naws_access_key_id = AKIACLITEST\naws_secret_access_key = {SECRET}\n")
    return {**clean_environ(), "HOME": str(tmp_path), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
            "AWS_CONFIG_FILE": str(tmp_path / "config")}


def test_credential_process_format_prints_the_chains_keys(tmp_path: Path) -> None:
    done = run("token", "aws", "--format", "credential-process", env=profile_env(tmp_path))
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document == {"Version": 1, "AccessKeyId": "AKIACLITEST", "SecretAccessKey": SECRET}
    assert SECRET not in done.stderr


def test_bedrock_and_aws_are_the_same_chain(server: FakeIdentityServer, tmp_path: Path) -> None:
    env = {**clean_environ(), **server.environ(tmp_path)}  # web identity variables win in the chain
    outputs = [json.loads(run("token", kind, env=env).stdout) for kind in ("bedrock", "aws")]
    issued = {c.access_key_id.expose_secret() for c in server.sts.issued_credentials}
    assert {document["access_key_id"] for document in outputs} <= issued and len(issued) == 2


def test_no_credentials_lists_every_source(tmp_path: Path) -> None:
    env = {**clean_environ(), "HOME": str(tmp_path)}
    done = run("token", "aws", env=env)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    for source in ("env", "assume-role", "sso", "shared-credentials-file", "config-file", "container-role", "iam-role"):
        assert f"{source}: skipped" in done.stderr


def test_botocore_reads_the_chain_through_credential_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    botocore_session = pytest.importorskip("botocore.session")
    (tmp_path / "source").mkdir()
    source = profile_env(tmp_path / "source")  # what the chain finds, in the child process
    command = shlex.join([sys.executable, "-m", "literauth", "token", "aws", "--format", "credential-process"])
    (tmp_path / "config").write_text(f"[profile via-literauth]\ncredential_process = {command}\n")
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    for name, value in {**METADATA_OVERRIDES, **source}.items():  # the child inherits these
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))  # botocore's profile runs the chain
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    credentials = botocore_session.Session(profile="via-literauth").get_credentials()
    assert credentials is not None and credentials.method == "custom-process"
    assert credentials.get_frozen_credentials().access_key == "AKIACLITEST"
