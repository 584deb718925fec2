"""One real peer: moto's standalone server accepts our AssumeRoleWithWebIdentity and its answer parses."""

from __future__ import annotations

import pathlib
import time
from collections.abc import Iterator

import pytest

from literauth.aws import WebIdentityCredentialProvider
from literauth.credentials import AwsCredentials

from .._moto import moto_marks, moto_server

pytestmark = moto_marks


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server() as url:
        yield url


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
