"""boto3/botocore sessions fed by a provider: real boto3 `converse` calls to a SigV4-checking stand-in."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime

import boto3
import botocore.exceptions
import botocore.session
import pytest

from literauth import AwsCredentials, BearerToken, SecretString, StaticTokenProvider
from literauth.adapters.aws import METHOD, _KeySource, boto3_session, botocore_session
from literauth.errors import ConfigurationError
from literauth.testing import FakeIdentityServer, SyncedClock

from ..conftest import assert_no_secret
from ._aws_server import MODEL, AwsServer, sts_keys
from ._helpers import in_threads

ENV_KEYS = {
    "AWS_ACCESS_KEY_ID": "AKIAENVIRONMENTKEY00",
    "AWS_SECRET_ACCESS_KEY": "environment-secret-that-must-never-sign-0123",
}


@pytest.fixture
def api(server: FakeIdentityServer) -> Iterator[AwsServer]:
    with AwsServer(sts_keys(server)) as bedrock:
        yield bedrock


@pytest.fixture(autouse=True)
def _no_ambient_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    """No profile, config file or IMDS of the machine running the tests; env keys set on purpose."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", f"{tmp_path}/config")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", f"{tmp_path}/credentials")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name, value in ENV_KEYS.items():  # present, so a silent fall-through would use them
        monkeypatch.setenv(name, value)


def converse(client: object, text: str = "hi") -> str:
    answer = client.converse(  # type: ignore[attr-defined]
        modelId=MODEL, messages=[{"role": "user", "content": [{"text": text}]}]
    )
    return str(answer["output"]["message"]["content"][0]["text"])


def issued_keys(server: FakeIdentityServer) -> list[str]:
    return [c.access_key_id.expose_secret() for c in server.sts.issued_credentials]


def bedrock(session: boto3.Session, api: AwsServer) -> object:
    return session.client("bedrock-runtime", endpoint_url=api.url)


def test_converse_is_signed_with_the_providers_keys(server: FakeIdentityServer, api: AwsServer) -> None:
    with server.sts_provider() as provider:
        session = boto3_session(provider)
        client = bedrock(session, api)
        assert converse(client, "one") == "echo: one"
        assert converse(client, "two") == "echo: two"
    assert api.sigv4_failures == []
    assert api.access_keys() == issued_keys(server) * 2
    assert server.sts.request_count == 1
    seen = api.seen[0]
    assert seen.path == f"/model/{MODEL.replace(':', '%3A')}/converse"
    assert "/us-east-1/bedrock/aws4_request" in (seen.header("Authorization") or "")
    assert seen.header("X-Amz-Security-Token") == server.sts.issued_credentials[0].session_token.expose_secret()
    assert session.get_credentials().method == METHOD == "literauth"
    assert session.region_name == provider.region


def test_the_chain_starts_with_literauth_and_keeps_the_rest(server: FakeIdentityServer) -> None:
    with server.sts_provider() as provider:
        session = botocore_session(provider, region="eu-west-1")
        methods = [p.METHOD for p in session.get_component("credential_provider").providers]
        default = [p.METHOD for p in botocore.session.Session().get_component("credential_provider").providers]
    assert methods == ["literauth", *default]
    assert default[0] == "env"
    assert session.get_config_variable("region") == "eu-west-1"
    assert isinstance(session, botocore.session.Session)


def test_after_invalidate_the_next_call_signs_with_new_keys(server: FakeIdentityServer, api: AwsServer) -> None:
    with server.sts_provider() as provider:
        client = bedrock(boto3_session(provider), api)
        converse(client)
        provider.invalidate()
        converse(client)
        converse(client)
    assert api.sigv4_failures == []
    first, second = issued_keys(server)
    assert api.access_keys() == [first, second, second]


def test_a_rotation_reaches_botocore_at_the_next_call(server: FakeIdentityServer, api: AwsServer) -> None:
    clock = SyncedClock(server)
    with server.sts_provider(clock=clock, background_refresh=False) as provider:
        client = bedrock(boto3_session(provider), api)
        converse(client)
        clock.advance(3600 - 10)  # past literauth's expiry skew: the keys rotate at the next resolve
        server.sts.renew(provider)
        converse(client)
        converse(client)
    assert server.sts.request_count == 2
    first, second = issued_keys(server)
    assert api.access_keys() == [first, second, second]
    assert api.sigv4_failures == []


def test_sixteen_threads_on_one_client_cost_one_token_request(server: FakeIdentityServer, api: AwsServer) -> None:
    with server.sts_provider() as provider:
        client = bedrock(boto3_session(provider), api)
        answers: list[str] = []
        in_threads(16, lambda: answers.extend(converse(client, f"call {i}") for i in range(3)))
    assert len(answers) == 48
    assert server.sts.request_count == 1
    assert set(api.access_keys()) == set(issued_keys(server))
    assert api.sigv4_failures == []


def test_expiry_reaches_botocore_as_an_offset_aware_iso_string(server: FakeIdentityServer) -> None:
    with server.sts_provider() as provider:
        metadata = _KeySource(provider).metadata()
        credential = provider.resolve()
    assert isinstance(metadata["expiry_time"], str)
    parsed = datetime.fromisoformat(metadata["expiry_time"])
    assert parsed.tzinfo is not None and parsed.utcoffset() is not None
    assert parsed == credential.expires_at
    assert metadata["access_key"] == credential.access_key_id.expose_secret()


def test_keys_that_never_expire_are_reported_for_a_day_and_still_re_asked() -> None:
    keys = AwsCredentials(SecretString("AKIASTATICSTATIC0001"), SecretString("static-secret-0123456789abcdef"))

    class Static:
        calls = 0

        def resolve(self) -> AwsCredentials:
            Static.calls += 1
            return keys

    session = botocore_session(Static(), region="us-east-1")
    credentials = session.get_credentials()
    for _ in range(3):
        assert credentials.get_frozen_credentials().access_key == "AKIASTATICSTATIC0001"
    assert credentials.get_frozen_credentials().token is None
    assert Static.calls == 5  # load, then once per signing: botocore holds nothing literauth did not say
    assert credentials.refresh_needed() is False  # the same keys: no refresh, no re-parsing
    remaining = (datetime.fromisoformat(str(_KeySource(Static()).metadata()["expiry_time"])) - datetime.now().astimezone())
    assert 86000 < remaining.total_seconds() <= 86400


def test_a_failing_provider_raises_botocores_credential_error_and_never_uses_env_keys(
    server: FakeIdentityServer, api: AwsServer
) -> None:
    server.sts.fail_with("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", times=10)
    with server.sts_provider() as provider:
        session = boto3_session(provider)
        with pytest.raises(botocore.exceptions.CredentialRetrievalError) as info:
            converse(bedrock(session, api))
    message = str(info.value)
    assert message.startswith("Error when retrieving credentials from literauth: ")
    assert "AccessDenied" in message
    assert api.seen == []  # nothing was signed, least of all with the environment's keys
    token = server.sts.requests[0].form["WebIdentityToken"].expose_secret()  # type: ignore[attr-defined]
    assert_no_secret([message, repr(info.value.__cause__)], [token, *ENV_KEYS.values()])


def test_a_failure_after_invalidate_raises_instead_of_signing_with_the_old_keys(
    server: FakeIdentityServer, api: AwsServer
) -> None:
    with server.sts_provider() as provider:
        client = bedrock(boto3_session(provider), api)
        converse(client)
        server.sts.fail_with("AccessDenied", times=10)
        provider.invalidate()
        with pytest.raises(botocore.exceptions.CredentialRetrievalError, match="AccessDenied"):
            converse(client)
    assert len(api.seen) == 1


def test_a_bearer_token_provider_is_a_credential_error_naming_both_types() -> None:
    session = botocore_session(StaticTokenProvider("not-aws-keys-0123456789"), region="us-east-1")
    with pytest.raises(botocore.exceptions.CredentialRetrievalError, match="BearerToken, not AwsCredentials"):
        session.get_credentials()
    assert isinstance(StaticTokenProvider("x-0123456789").resolve(), BearerToken)


def test_a_403_is_not_retried_by_botocore_so_literauth_asks_sts_no_more(
    server: FakeIdentityServer, api: AwsServer
) -> None:
    with server.sts_provider() as provider:
        client = bedrock(boto3_session(provider), api)
        converse(client)
        api.expired_keys = set(issued_keys(server))
        errors: list[str] = []

        def rejected() -> None:
            with pytest.raises(botocore.exceptions.ClientError) as info:
                converse(client)
            errors.append(info.value.response["Error"]["Code"])

        in_threads(8, rejected)
    # botocore has no "credential rejected" signal: no refresh storm, one token request in all
    assert errors == ["ExpiredTokenException"] * 8
    assert server.sts.request_count == 1


def test_bad_arguments_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="resolve"):
        botocore_session("keys")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="region"):
        boto3_session(StaticTokenProvider("token-0123456789"), region="US East")


@pytest.mark.parametrize(("missing", "function"), [("botocore", "botocore_session"), ("boto3", "boto3_session")])
def test_a_missing_package_is_a_configuration_error_naming_it(missing: str, function: str) -> None:
    code = (
        f"import sys; sys.modules[{missing!r}] = None\n"
        "from literauth import StaticTokenProvider, ConfigurationError\n"
        f"from literauth.adapters.aws import {function} as make\n"
        "try:\n    make(StaticTokenProvider('token-0123456789'), region='us-east-1')\n"
        "except ConfigurationError as exc:\n    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert f"pip install {missing}" in done.stdout


def test_importing_the_adapter_loads_neither_boto3_nor_botocore() -> None:
    code = (
        "import sys, literauth, literauth.adapters.aws\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 's3transfer')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"
