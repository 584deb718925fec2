"""An independent peer for the STS readers: moto's AssumeRole answers, read per action."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from literauth import AwsCredentials, SecretString
from literauth._http import TokenResponse
from literauth.aws._sts import (
    STS_API_VERSION,
    parse_credentials_response,
    parse_sts_error,
)
from literauth.client import Client, ClientConfig

from .._moto import moto_marks, moto_server

ROLE_ARN = "arn:aws:iam::123456789012:role/literauth-chained"
SOURCE = AwsCredentials(SecretString("AKIASOURCEKEY0000001"), SecretString("source-secret-not-checked"))

pytestmark = moto_marks


class Source:
    """The source identity whose keys sign the AssumeRole call."""

    credential_type = AwsCredentials

    def resolve(self) -> AwsCredentials:
        return SOURCE


@pytest.fixture(scope="module")
def sts() -> Iterator[Client]:
    with moto_server() as url, Client(ClientConfig(url, Source(), aws_region="us-east-1", aws_service="sts")) as client:
        yield client


def _token_response(response: requests.Response, sent_at: float) -> TokenResponse:
    return TokenResponse(response.status_code, response.headers, response.content, sent_at, 0.0)


def test_moto_assume_role_answer_is_read(sts: Client) -> None:
    sent_at = time.time()
    response = sts.post("/", data={
        "Action": "AssumeRole", "Version": STS_API_VERSION, "RoleArn": ROLE_ARN,
        "RoleSessionName": "literauth-test", "DurationSeconds": "900",
    })
    assert response.status_code == 200, response.text
    credentials = parse_credentials_response(_token_response(response, sent_at), "AssumeRole", "test", "moto")
    assert credentials.access_key_id.expose_secret() in response.text
    assert credentials.session_token is not None
    assert credentials.expires_at is not None
    assert 800 < credentials.expires_at.timestamp() - sent_at < 1000


def test_moto_assume_role_error_is_read_with_the_assume_role_hint() -> None:
    """moto with authentication on does not know the source key: InvalidClientTokenId."""
    with moto_server(unchecked_actions=0) as url, \
            Client(ClientConfig(url, Source(), aws_region="us-east-1", aws_service="sts")) as client:
        response = client.post("/", data={
            "Action": "AssumeRole", "Version": STS_API_VERSION, "RoleArn": ROLE_ARN,
            "RoleSessionName": "literauth-test",
        })
    assert response.status_code == 403, response.text
    error = parse_sts_error(_token_response(response, time.time()), "AssumeRole")
    assert error.error_code == "InvalidClientTokenId"
    assert f"<Code>{error.error_code}</Code>" in response.text
    assert error.hint is not None and "source access key" in error.hint
    assert error.retryable is False
