"""One real peer: moto's standalone server accepts our AssumeRoleWithWebIdentity and its answer parses."""

from __future__ import annotations

import pathlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
import requests

from literauth.bedrock_sts import WebIdentityCredentialProvider
from literauth.credentials import AwsCredentials

MOTO_SERVER = shutil.which("moto_server")
STARTUP_TIMEOUT = 30.0  # moto imports every service backend before it listens

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(MOTO_SERVER is None, reason="moto_server (moto[server]) is not installed"),
]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    assert MOTO_SERVER is not None
    port = _free_port()
    process = subprocess.Popen(
        [MOTO_SERVER, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
                pytest.fail(f"moto_server exited with {process.returncode}: {stderr[-2000:]}")
            try:
                requests.get(url + "/moto-api/", timeout=1).close()
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    pytest.fail("moto_server did not answer within 30 s")
                time.sleep(0.1)  # polling a starting subprocess, not waiting for an expiry
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        if process.stderr is not None:
            process.stderr.close()


@pytest.fixture
def token_file(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "token"
    # moto does not verify web identity tokens; any JWT-shaped value stands in for the kubelet's.
    path.write_text(
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGVmYXVsdDp3b3JrZXIifQ.c2ln\n"
    )
    return path


def test_moto_accepts_our_request_and_its_credentials_parse(moto_url: str, token_file: pathlib.Path) -> None:
    with WebIdentityCredentialProvider(
        "arn:aws:iam::123456789012:role/bedrock-worker",
        token_file,
        "moto-check",
        duration_seconds=900,
        sts_endpoint=moto_url,
    ) as provider:
        before = time.time()
        credentials = provider.resolve()
        after = time.time()

    assert isinstance(credentials, AwsCredentials)
    assert credentials.access_key_id.expose_secret().startswith("ASIA")
    assert len(credentials.secret_access_key.expose_secret()) >= 20
    assert credentials.session_token is not None and len(credentials.session_token) > 20
    # moto writes Expiration with microseconds and sends a Date header: both must be understood.
    assert credentials.expires_at_epoch is not None
    assert before + 900 - 2 <= credentials.expires_at_epoch <= after + 900 + 2


def test_moto_credentials_are_served_from_cache(moto_url: str, token_file: pathlib.Path) -> None:
    with WebIdentityCredentialProvider(
        "arn:aws:iam::123456789012:role/bedrock-worker", token_file, sts_endpoint=moto_url
    ) as provider:
        first = provider.resolve()
        assert provider.resolve() is first
        assert provider.stats().token_requests == 1
