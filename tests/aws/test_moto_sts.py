"""moto's STS as an independent peer with IAM authorisation enforced: success and a real AccessDenied.

tests/test_bedrock_sts_moto.py already shows moto accepting our request and its answer
parsing. This module adds what that cannot: an error answer from a real, independent
implementation, mapped to the right `error_code`.

moto has no trust policies: it issues credentials for any role ARN, well-formed or not, so
a "bad role ARN" cannot be refused by it as STS would. With authorisation enforced it does
refuse callers instead, with its own AccessDenied document (nested `<Errors>`, no
namespace, `text/html` content type, the request id only in a header) — the answer STS
gives for a role the identity may not assume. moto checks a SigV4 signature on every
action (STS does not on this one), so the provider's session signs its requests with
botocore as an IAM user: one allowed to call AssumeRoleWithWebIdentity, one with no policy.
Malformed role ARNs never reach the wire: the provider refuses them at construction.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from botocore.auth import SigV4Auth as BotocoreSigV4
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from literauth import AwsCredentials, ConfigurationError, TokenEndpointError
from literauth.aws import WebIdentityCredentialProvider

from .._moto import moto_marks, moto_server
from ..conftest import FakeSleep

REGION = "us-east-1"
ROLE_ARN = "arn:aws:iam::123456789012:role/bedrock-invoker"
SESSION = "literauth-moto-sts"
ALLOW = json.dumps({
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["sts:AssumeRoleWithWebIdentity", "sts:GetCallerIdentity"],
                   "Resource": "*"}],
})
SETUP_ACTIONS = 5  # CreateUser, PutUserPolicy, CreateAccessKey, CreateUser, CreateAccessKey
WEB_IDENTITY_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YWk6d29ya2VyIn0.c2ln"

pytestmark = moto_marks


def _signed_post(url: str, service: str, form: dict[str, str], keys: Credentials) -> requests.Response:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    request = AWSRequest("POST", url + "/", data=form, headers=headers)
    BotocoreSigV4(keys, service, REGION).add_auth(request)
    with requests.Session() as session:
        session.trust_env = False
        return session.post(url + "/", data=request.body, headers=dict(request.headers), timeout=10)


class SignedSession(requests.Session):
    """Signs each request with botocore as an IAM user (moto wants it) and counts what it sends."""

    def __init__(self, keys: Credentials) -> None:
        super().__init__()
        self.trust_env = False
        self.keys = keys
        self.sent = 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        body = request.body.encode() if isinstance(request.body, str) else (request.body or b"")
        content_type = request.headers.get("Content-Type", "application/x-www-form-urlencoded")
        signed = AWSRequest("POST", request.url, data=body, headers={"Content-Type": content_type})
        BotocoreSigV4(self.keys, "sts", REGION).add_auth(signed)
        for name in ("Authorization", "X-Amz-Date"):
            request.headers[name] = signed.headers[name]
        self.sent += 1
        return super().send(request, **kwargs)


class Moto:
    """moto_server enforcing IAM after the set-up, with two users' keys."""

    def __init__(self, url: str, allowed: Credentials, stranger: Credentials) -> None:
        self.url, self.allowed, self.stranger = url, allowed, stranger


def _create_keys(url: str, user: str, admin: Credentials) -> Credentials:
    form = {"Action": "CreateAccessKey", "UserName": user, "Version": "2010-05-08"}
    answer = _signed_post(url, "iam", form, admin)
    assert answer.status_code == 200, answer.text
    key_id = re.search(r"<AccessKeyId>([^<]+)</AccessKeyId>", answer.text)
    secret = re.search(r"<SecretAccessKey>([^<]+)</SecretAccessKey>", answer.text)
    assert key_id and secret
    return Credentials(key_id.group(1), secret.group(1))


@pytest.fixture(scope="module")
def moto() -> Iterator[Moto]:
    with moto_server(unchecked_actions=SETUP_ACTIONS) as url:
        admin = Credentials("AKIAADMINSETUP000000", "set-up-is-not-checked")
        for form in (
            {"Action": "CreateUser", "UserName": "federation"},
            {"Action": "PutUserPolicy", "UserName": "federation", "PolicyName": "sts",
             "PolicyDocument": ALLOW},
            {"Action": "CreateUser", "UserName": "stranger"},  # no policy: denied everything
        ):
            answer = _signed_post(url, "iam", {**form, "Version": "2010-05-08"}, admin)
            assert answer.status_code == 200, answer.text
        allowed = _create_keys(url, "federation", admin)
        stranger = _create_keys(url, "stranger", admin)  # the last unchecked action
        yield Moto(url, allowed, stranger)


def _provider(
    moto: Moto, keys: Credentials, tmp_path: Any, **options: Any
) -> tuple[WebIdentityCredentialProvider, SignedSession]:
    token_file = tmp_path / "token"
    token_file.write_text(WEB_IDENTITY_TOKEN + "\n")
    session = SignedSession(keys)
    provider = WebIdentityCredentialProvider(
        ROLE_ARN, token_file, SESSION, duration_seconds=900, sts_endpoint=moto.url, session=session, **options
    )
    return provider, session


def test_web_identity_flow_end_to_end_with_iam_enforced(moto: Moto, tmp_path: Any) -> None:
    """Keys from moto's STS, which then accepts them: moto checks every signature from here on."""
    provider, session = _provider(moto, moto.allowed, tmp_path)
    with provider:
        before = time.time()
        first = provider.resolve()
        assert isinstance(first, AwsCredentials) and first.session_token is not None
        assert first.access_key_id.expose_secret().startswith("ASIA")
        assert first.expires_at_epoch is not None
        assert before + 900 - 5 <= first.expires_at_epoch <= time.time() + 900 + 5
        assert provider.resolve() is first and session.sent == 1
        second = provider.resolve(force_refresh=True)
    assert session.sent == 2
    assert isinstance(second, AwsCredentials)
    assert second.access_key_id.expose_secret() != first.access_key_id.expose_secret()

    keys = Credentials(
        second.access_key_id.expose_secret(), second.secret_access_key.expose_secret(),
        second.session_token.expose_secret() if second.session_token is not None else None,
    )
    answer = _signed_post(moto.url, "sts", {"Action": "GetCallerIdentity", "Version": "2011-06-15"}, keys)
    assert answer.status_code == 200, answer.text
    assert f"assumed-role/bedrock-invoker/{SESSION}" in answer.text


def test_moto_access_denied_maps_to_its_error_code(moto: Moto, tmp_path: Any) -> None:
    """moto's own AccessDenied document: the code, status and request id, one request, remembered."""
    sleep = FakeSleep()
    provider, session = _provider(moto, moto.stranger, tmp_path, sleep=sleep)
    with provider:
        with pytest.raises(TokenEndpointError) as caught:
            provider.resolve()
        error = caught.value
        assert type(error) is TokenEndpointError
        assert error.error_code == "AccessDenied"
        assert error.status_code == 403 and not error.retryable
        assert "not authorized to perform: sts:AssumeRoleWithWebIdentity" in (error.description or "")
        assert "trust policy" in str(error)  # the hint for this code
        assert re.search(r"RequestId \w{20,}", str(error))  # moto sends it only as x-amzn-RequestId
        assert session.sent == 1 and sleep.calls == []  # a refusal is not retried
        with pytest.raises(TokenEndpointError) as again:  # remembered through the cool-down
            provider.resolve()
        assert again.value.error_code == "AccessDenied"
        assert session.sent == 1
        assert WEB_IDENTITY_TOKEN not in str(error) and WEB_IDENTITY_TOKEN not in repr(error)


@pytest.mark.parametrize("role_arn", [
    "arn:aws:iam::123456789012:user/bedrock-invoker",  # a user, not a role
    "arn:aws:iam::12345:role/bedrock-invoker",  # a short account id
    "bedrock-invoker",
])
def test_a_malformed_role_arn_never_reaches_sts(moto: Moto, tmp_path: Any, role_arn: str) -> None:
    """What moto would accept is refused here, before a request: STS would answer ValidationError."""
    session = SignedSession(moto.allowed)
    token_file = tmp_path / "token"
    token_file.write_text(WEB_IDENTITY_TOKEN)
    with pytest.raises(ConfigurationError, match="role_arn"):
        WebIdentityCredentialProvider(role_arn, token_file, sts_endpoint=moto.url, session=session)
    assert session.sent == 0
    session.close()
