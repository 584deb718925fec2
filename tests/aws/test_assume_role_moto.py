"""An independent verifier: moto_server with request authentication enforced accepts
AssumeRoleProvider's signed call, honours the role's trust policy (ExternalId condition
included), and then accepts calls signed with the keys its STS issued."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from literauth import AwsCredentials, SecretString, TokenEndpointError
from literauth.aws import AssumeRoleProvider
from literauth.client import Client, ClientConfig
from literauth.testing.aws.assume_role import StaticKeysProvider

from .._moto import moto_marks, moto_server

pytestmark = [*moto_marks, pytest.mark.integration]

ACCOUNT = "123456789012"  # moto's default account
USER = "literauth-source"
ROLE = "literauth-bedrock-invoker"
UNTRUSTING = "literauth-not-for-you"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{ROLE}"
UNTRUSTING_ARN = f"arn:aws:iam::{ACCOUNT}:role/{UNTRUSTING}"
EXTERNAL_ID = "ext-moto-4711"
SETUP_ACTIONS = 6  # the administrator's set-up below; moto checks every action after these


def _trust(principal: str, external_id: str | None = None) -> str:
    statement: dict[str, object] = {"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"}
    if external_id is not None:
        statement["Condition"] = {"StringEquals": {"sts:ExternalId": external_id}}
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


ALLOW_ASSUME = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": [ROLE_ARN, UNTRUSTING_ARN]},
]})


@pytest.fixture(scope="module")
def moto() -> Iterator[tuple[str, AwsCredentials]]:
    """moto with the source user, its keys and two roles; authentication on from then on."""
    with moto_server(unchecked_actions=SETUP_ACTIONS) as url:
        admin = StaticKeysProvider(AwsCredentials(SecretString("AKIAADMINSETUP000000"), SecretString("unchecked")))
        with Client(ClientConfig(url, admin, aws_region="us-east-1", aws_service="iam")) as iam:
            keys = None
            for form in (
                {"Action": "CreateUser", "UserName": USER},
                {"Action": "PutUserPolicy", "UserName": USER, "PolicyName": "assume", "PolicyDocument": ALLOW_ASSUME},
                {"Action": "CreateRole", "RoleName": ROLE,
                 "AssumeRolePolicyDocument": _trust(f"arn:aws:iam::{ACCOUNT}:user/{USER}", EXTERNAL_ID)},
                {"Action": "CreateRole", "RoleName": UNTRUSTING,
                 "AssumeRolePolicyDocument": _trust(f"arn:aws:iam::{ACCOUNT}:user/somebody-else")},
                {"Action": "CreateAccessKey", "UserName": USER},
            ):
                answer = iam.post("/", data={**form, "Version": "2010-05-08"})
                assert answer.status_code == 200, answer.text
                if form["Action"] == "CreateAccessKey":
                    key_id = re.search(r"<AccessKeyId>([^<]+)</AccessKeyId>", answer.text)
                    secret = re.search(r"<SecretAccessKey>([^<]+)</SecretAccessKey>", answer.text)
                    assert key_id and secret
                    keys = AwsCredentials(SecretString(key_id.group(1)), SecretString(secret.group(1)))
            assert keys is not None
            # the last unchecked action: an unsigned-looking call that moto counts and lets through
            assert iam.post("/", data={"Action": "ListRoles", "Version": "2010-05-08"}).status_code == 200
        yield url, keys


def _provider(url: str, keys: AwsCredentials, role_arn: str = ROLE_ARN, **options: object) -> AssumeRoleProvider:
    return AssumeRoleProvider(StaticKeysProvider(keys), role_arn, sts_endpoint=url, environ={},
                              session_name="literauth-moto", duration_seconds=900, **options)  # type: ignore[arg-type]


def test_moto_accepts_the_signed_call_and_then_the_issued_keys(moto: tuple[str, AwsCredentials]) -> None:
    url, keys = moto
    with _provider(url, keys, external_id=EXTERNAL_ID) as provider:
        issued = provider.resolve()
        assert issued.access_key_id.expose_secret().startswith("ASIA") and issued.session_token is not None
        with Client(ClientConfig(url, provider, aws_region="us-east-1", aws_service="sts")) as sts:
            answer = sts.post("/", data={"Action": "GetCallerIdentity", "Version": "2011-06-15"})
    assert answer.status_code == 200, answer.text  # moto checked the signature made with the issued keys
    assert f"assumed-role/{ROLE}/literauth-moto" in answer.text


def test_moto_refuses_a_wrong_external_id(moto: tuple[str, AwsCredentials]) -> None:
    """(moto 5.2 lets a missing ExternalId through its StringEquals condition; real STS and
    literauth's fake refuse it: tests/aws/test_assume_role.py.)"""
    url, keys = moto
    with _provider(url, keys, external_id="ext-moto-wrong") as provider, pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert caught.value.error_code == "AccessDenied" and caught.value.status_code == 403
    assert caught.value.retryable is False and "trust policy" in str(caught.value)


def test_moto_refuses_a_role_whose_trust_policy_names_someone_else(moto: tuple[str, AwsCredentials]) -> None:
    url, keys = moto
    with _provider(url, keys, UNTRUSTING_ARN) as provider, pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert caught.value.error_code == "AccessDenied"


def test_moto_refuses_a_role_the_source_may_not_assume(moto: tuple[str, AwsCredentials]) -> None:
    url, keys = moto
    with _provider(url, keys, f"arn:aws:iam::{ACCOUNT}:role/not-in-the-policy") as provider, \
            pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert caught.value.error_code == "AccessDenied"


def test_moto_refuses_a_wrong_secret(moto: tuple[str, AwsCredentials]) -> None:
    url, keys = moto
    forged = AwsCredentials(keys.access_key_id, SecretString("x" * 40))
    with _provider(url, forged, external_id=EXTERNAL_ID) as provider, pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert caught.value.error_code == "SignatureDoesNotMatch"
