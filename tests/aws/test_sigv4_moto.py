"""An independent verifier: moto's standalone server, with request authentication enforced,
accepts what `Client` signs with keys from its own STS and rejects a wrong secret."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
import requests

from literauth import AwsCredentials, SecretString
from literauth.aws import WebIdentityCredentialProvider
from literauth.client import Client, ClientConfig

from .._moto import moto_marks, moto_server

ROLE = "literauth-bedrock"
ROLE_ARN = f"arn:aws:iam::123456789012:role/{ROLE}"
SESSION = "literauth-moto"
# moto checks no signature for its first N actions, then checks every one. Ours are the
# set-up an administrator would do (CreateRole, PutRolePolicy) and AssumeRoleWithWebIdentity,
# which real AWS never asks to be signed but moto would.
UNCHECKED_SETUP_ACTIONS = 3
TRUST = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":'
    '"arn:aws:iam::123456789012:oidc-provider/oidc.example"},"Action":"sts:AssumeRoleWithWebIdentity"}]}'
)
POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'

pytestmark = moto_marks


class Fixed:
    """A provider of fixed keys that moves to the next pair on invalidate()."""

    def __init__(self, *credentials: AwsCredentials) -> None:
        self.credentials = list(credentials)
        self.invalidations = 0

    def resolve(self) -> AwsCredentials:
        return self.credentials[min(self.invalidations, len(self.credentials) - 1)]

    def invalidate(self) -> None:
        self.invalidations += 1


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with moto_server(unchecked_actions=UNCHECKED_SETUP_ACTIONS) as url:
        yield url


@pytest.fixture(scope="module")
def provider(moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebIdentityCredentialProvider]:
    """The role set up by an 'administrator', then keys for it from moto's STS."""
    admin = Fixed(AwsCredentials(SecretString("AKIAADMINSETUP000000"), SecretString("set-up-is-not-checked")))
    with Client(ClientConfig(moto_url, admin, aws_region="us-east-1", aws_service="iam")) as iam:
        for form in (
            {"Action": "CreateRole", "RoleName": ROLE, "AssumeRolePolicyDocument": TRUST},
            {"Action": "PutRolePolicy", "RoleName": ROLE, "PolicyName": "s3", "PolicyDocument": POLICY},
        ):
            response = iam.post("/", data={**form, "Version": "2010-05-08"})
            assert response.status_code == 200, response.text
    token_file = tmp_path_factory.mktemp("irsa") / "token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6YWk6d29ya2VyIn0.c2ln\n")
    with WebIdentityCredentialProvider(ROLE_ARN, token_file, SESSION, sts_endpoint=moto_url) as sts_provider:
        sts_provider.resolve()  # the last unchecked action; from here on moto checks every signature
        yield sts_provider


def _sts(moto_url: str, provider: object) -> Client:
    return Client(ClientConfig(moto_url, provider, aws_region="us-east-1", aws_service="sts"))  # type: ignore[arg-type]


def _caller_identity(client: Client) -> requests.Response:
    return client.post("/", data={"Action": "GetCallerIdentity", "Version": "2011-06-15"})


def test_get_caller_identity_signed_with_sts_keys_is_accepted(
    moto_url: str, provider: WebIdentityCredentialProvider
) -> None:
    with _sts(moto_url, provider) as client:
        response = _caller_identity(client)
    assert response.status_code == 200, response.text
    assert f"assumed-role/{ROLE}/{SESSION}" in response.text
    assert response.history == []


def test_s3_calls_signed_with_sts_keys_are_accepted(moto_url: str, provider: WebIdentityCredentialProvider) -> None:
    # moto re-reads the path from werkzeug's decoded (IRI) URL, so it can only check keys and
    # query values without reserved or non-ASCII characters; our encoding of those is checked
    # against botocore in test_sigv4 and by the verifying server in test_client.
    key = "reports/2027-q1/data_v1.bin"
    data = bytes(range(256)) * 8
    with Client(ClientConfig(moto_url, provider, aws_region="us-east-1", aws_service="s3")) as s3:
        created = s3.put("/literauth-bucket")
        stored = s3.put(f"/literauth-bucket/{key}", data=data, headers={"Content-Type": "application/octet-stream"})
        listed = s3.get("/")
        objects = s3.get("/literauth-bucket", params={"list-type": "2", "prefix": "reports"})
        fetched = s3.get(f"/literauth-bucket/{key}")
        deleted = s3.delete(f"/literauth-bucket/{key}")
    assert [r.status_code for r in (created, stored, listed, objects, fetched)] == [200] * 5, objects.text
    assert deleted.status_code == 204
    assert "<Name>literauth-bucket</Name>" in listed.text
    assert f"<Key>{key}</Key>" in objects.text
    assert fetched.content == data
    assert stored.request.headers["X-Amz-Content-SHA256"] == hashlib.sha256(data).hexdigest()


def test_a_wrong_secret_is_rejected(moto_url: str, provider: WebIdentityCredentialProvider) -> None:
    good = provider.resolve()
    assert isinstance(good, AwsCredentials)
    wrong = Fixed(AwsCredentials(good.access_key_id, SecretString("not-the-secret-moto-issued"), good.session_token))
    with _sts(moto_url, wrong) as client:
        response = _caller_identity(client)
    assert response.status_code == 403
    assert "<Code>SignatureDoesNotMatch</Code>" in response.text
    assert wrong.invalidations == 0  # a bad signature is not a stale credential: no retry
    assert response.history == []


def test_an_unknown_key_heals_by_invalidating_and_resigning(
    moto_url: str, provider: WebIdentityCredentialProvider
) -> None:
    good = provider.resolve()
    assert isinstance(good, AwsCredentials)
    revoked = AwsCredentials(SecretString("ASIAREVOKEDKEY000000"), SecretString("gone"), good.session_token)
    healing = Fixed(revoked, good)
    with _sts(moto_url, healing) as client:
        response = _caller_identity(client)
    assert response.status_code == 200, response.text
    assert healing.invalidations == 1
    assert [r.status_code for r in response.history] == [403]
    assert "InvalidClientTokenId" in response.history[0].text


def test_enforcement_is_on(moto_url: str, provider: WebIdentityCredentialProvider) -> None:
    """Keys moto never issued are refused: the server really checks (no silent pass-through)."""
    stranger = Fixed(AwsCredentials(SecretString("AKIASTRANGER00000000"), SecretString("x" * 40)))
    with _sts(moto_url, stranger) as client:
        response = _caller_identity(client)
    assert response.status_code == 403
    assert "InvalidClientTokenId" in response.text

