"""AssumeRoleProvider against the fake STS AssumeRole, which verifies every SigV4 signature.

Signing, role chaining, a source refreshed before it signs, ExternalId and role checks,
STS's error codes mapped with `retryable` and a hint, configuration checks, and botocore's
own AssumeRole fetcher obtaining keys from the same fake.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import threading
import traceback
from typing import Any

import pytest

import literauth
from literauth import (
    AwsCredentials,
    BearerToken,
    ConfigurationError,
    CredentialSourceError,
    SecretString,
    TokenEndpointError,
)
from literauth.aws import AssumeRoleProvider, WebIdentityCredentialProvider
from literauth.provider import CredentialProvider
from literauth.testing import FakeIdentityServer, FakeSleep, SyncedClock
from literauth.testing.aws.assume_role import (
    DEFAULT_ASSUMED_ROLE_ARN,
    StaticKeysProvider,
)

from ..conftest import assert_no_secret

ROLE_B = "arn:aws:iam::333333333333:role/literauth-second-hop"
ROLE_X = "arn:aws:iam::444444444444:role/literauth-with-external-id"


def _key_id(request: Any) -> str:
    authorization = request.header("Authorization") or ""
    return authorization.split("Credential=", 1)[1].split("/", 1)[0]


def _secrets_of(*credentials: Any) -> list[str]:
    found = []
    for item in credentials:
        for name in ("access_key_id", "secret_access_key", "session_token"):
            value = getattr(item, name, None)
            if isinstance(value, SecretString):
                found.append(value.expose_secret())
    return found


def _texts(exc: BaseException) -> list[str]:
    texts = []
    link: BaseException | None = exc
    while link is not None:
        texts += [str(link), repr(link), repr(vars(link)), "".join(traceback.format_exception(link))]
        link = link.__cause__ or link.__context__
    return texts


# -- signing ----------------------------------------------------------------------------------


def test_the_call_is_signed_with_the_source_keys_and_the_fake_verifies_it(server: FakeIdentityServer) -> None:
    endpoint = server.assume_role
    with server.provider("aws.assume_role", session_name="literauth-test") as provider:
        keys = provider.resolve()
        assert isinstance(keys, AwsCredentials) and keys.session_token is not None
        issued = endpoint.issued_credentials[-1]
        assert keys.access_key_id.expose_secret() == issued.access_key_id.expose_secret()
        assert issued.subject == "arn:aws:iam::111111111111:user/literauth-source"  # the signer, as the fake saw it
    (request,) = endpoint.requests
    assert _key_id(request) == endpoint.source_keys.access_key_id.expose_secret()
    authorization = request.header("Authorization") or ""
    assert "/us-east-1/sts/aws4_request" in authorization
    assert "SignedHeaders=content-type;host;x-amz-date," in authorization
    assert request.header("X-Amz-Security-Token") is None  # long-term source keys carry no token
    assert dict(request.form) == {
        "Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": DEFAULT_ASSUMED_ROLE_ARN,
        "RoleSessionName": "literauth-test", "DurationSeconds": "3600",
    }


def test_a_wrong_source_secret_fails_the_signature(server: FakeIdentityServer) -> None:
    real = server.assume_role.source_keys
    forged = StaticKeysProvider(AwsCredentials(real.access_key_id, SecretString("not-the-secret-" + "x" * 25)))
    with server.provider("aws.assume_role", source=forged) as provider, pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    error = caught.value
    assert error.error_code == "SignatureDoesNotMatch" and error.status_code == 403
    assert error.retryable is False and server.assume_role.request_count == 1
    assert "secret access key does not match" in str(error)


def test_an_unknown_source_key_is_invalid_client_token_id(server: FakeIdentityServer) -> None:
    unknown = StaticKeysProvider(AwsCredentials(SecretString("AKIAUNKNOWN000000000"), SecretString("s" * 40)))
    with server.provider("aws.assume_role", source=unknown) as provider, pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert caught.value.error_code == "InvalidClientTokenId" and caught.value.retryable is False
    assert "source access key is unknown to AWS" in str(caught.value)


def test_every_retry_is_signed_afresh(server: FakeIdentityServer) -> None:
    server.assume_role.fail(503, times=1)
    clock = SyncedClock(server)
    with server.provider("aws.assume_role", clock=clock, sleep=lambda _: clock.advance(2)) as provider:
        provider.resolve()  # the pause between the attempts moves the clock two seconds
    first, second = server.assume_role.requests
    assert first.header("X-Amz-Date") != second.header("X-Amz-Date")
    assert first.header("Authorization") != second.header("Authorization")  # both verified by the fake


# -- chaining and the source's cache ------------------------------------------------------


def test_two_hops_chain_roles(server: FakeIdentityServer) -> None:
    endpoint = server.assume_role
    endpoint.add_role(ROLE_B, trusted={DEFAULT_ASSUMED_ROLE_ARN})
    with server.provider("aws.assume_role") as first_hop, AssumeRoleProvider(
        first_hop, ROLE_B, sts_endpoint=server.url, session=server.session(), environ={}
    ) as second_hop:
        keys = second_hop.resolve()
        first_keys = first_hop.resolve()  # cached: the second hop resolved it through its cache
        assert endpoint.request_count == 2
    first, second = endpoint.requests
    assert _key_id(first) == endpoint.source_keys.access_key_id.expose_secret()
    assert _key_id(second) == first_keys.access_key_id.expose_secret()  # signed with hop one's keys
    assert second.header("X-Amz-Security-Token") == (first_keys.session_token or SecretString("")).expose_secret()
    issued = endpoint.issued_credentials[-1]
    assert issued.role_arn == ROLE_B and issued.subject == DEFAULT_ASSUMED_ROLE_ARN
    assert keys.access_key_id.expose_secret() == issued.access_key_id.expose_secret()


def test_a_role_not_trusting_the_first_hop_is_denied(server: FakeIdentityServer) -> None:
    server.assume_role.add_role(ROLE_B, trusted={"arn:aws:iam::999999999999:role/someone-else"})
    with server.provider("aws.assume_role") as first_hop, AssumeRoleProvider(
        first_hop, ROLE_B, sts_endpoint=server.url, session=server.session(), environ={}
    ) as second_hop, pytest.raises(TokenEndpointError) as caught:
        second_hop.resolve()
    assert caught.value.error_code == "AccessDenied" and caught.value.status_code == 403
    assert caught.value.retryable is False
    assert "trust policy allows sts:AssumeRole" in str(caught.value)


def test_a_chained_role_gets_at_most_an_hour(server: FakeIdentityServer) -> None:
    server.assume_role.add_role(ROLE_B)
    with server.provider("aws.assume_role") as first_hop, AssumeRoleProvider(
        first_hop, ROLE_B, duration_seconds=7200, sts_endpoint=server.url, session=server.session(), environ={}
    ) as second_hop, pytest.raises(TokenEndpointError) as caught:
        second_hop.resolve()
    assert caught.value.error_code == "ValidationError"
    assert "role chaining" in str(caught.value) and "3600" in str(caught.value)


def test_an_expired_source_refreshes_before_it_signs(server: FakeIdentityServer) -> None:
    clock = SyncedClock(server)
    with server.sts_provider(clock=clock, background_refresh=False) as source, server.provider(
        "aws.assume_role", source=source, clock=clock, background_refresh=False
    ) as provider:
        provider.resolve()
        first_source = server.sts.issued_credentials[-1]
        clock.advance(3601)  # both expired: the web identity keys and the role's
        provider.resolve()
        assert server.sts.request_count == 2  # the source fetched anew first...
        second_source = server.sts.issued_credentials[-1]
    first, second = server.assume_role.requests
    assert _key_id(first) == first_source.access_key_id.expose_secret()
    assert _key_id(second) == second_source.access_key_id.expose_secret()  # ...and its new keys signed


def test_keys_sts_calls_expired_make_the_source_refresh_once(server: FakeIdentityServer) -> None:
    with server.sts_provider() as source, server.provider("aws.assume_role", source=source) as provider:
        source.resolve()
        server.assume_role.fail_with("ExpiredToken", "The security token included in the request is expired")
        provider.resolve()
        assert server.sts.request_count == 2  # forced to refresh by the ExpiredToken answer
        assert server.assume_role.request_count == 2
        assert _key_id(server.assume_role.requests[-1]) == server.sts.issued_credentials[-1].access_key_id.expose_secret()


def test_expired_keys_from_a_static_source_are_not_retried_forever(server: FakeIdentityServer) -> None:
    server.assume_role.fail_with("ExpiredToken", times=5)
    with server.provider("aws.assume_role") as provider, pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert caught.value.error_code == "ExpiredToken"
    assert "source credentials that signed the call have expired" in str(caught.value)
    assert server.assume_role.request_count == 1  # the source had nothing newer: not asked again


def test_concurrent_callers_share_one_call(server: FakeIdentityServer) -> None:
    server.assume_role.latency = 0.05
    with server.provider("aws.assume_role") as provider:
        barrier = threading.Barrier(8)
        results: list[AwsCredentials] = []

        def call() -> None:
            barrier.wait()
            results.append(provider.resolve())

        threads = [threading.Thread(target=call) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert len(results) == 8 and all(r is results[0] for r in results)
    assert server.assume_role.request_count == 1


# -- roles and ExternalId --------------------------------------------------------------------


@pytest.mark.parametrize(("external_id", "accepted"), [("ext-123", True), ("ext-124", False), (None, False)])
def test_external_id_is_checked(server: FakeIdentityServer, external_id: str | None, accepted: bool) -> None:
    server.assume_role.add_role(ROLE_X, external_id="ext-123")
    with server.provider("aws.assume_role", role_arn=ROLE_X, external_id=external_id) as provider:
        if accepted:
            provider.resolve()
        else:
            with pytest.raises(TokenEndpointError) as caught:
                provider.resolve()
            assert caught.value.error_code == "AccessDenied"
            assert "external_id matches" in str(caught.value)
    form = server.assume_role.requests[-1].form
    assert form.get("ExternalId") == external_id


def test_an_unknown_role_is_denied(server: FakeIdentityServer) -> None:
    with server.provider("aws.assume_role", role_arn="arn:aws:iam::222222222222:role/no-such-role") as provider, \
            pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert caught.value.error_code == "AccessDenied"


def test_a_session_policy_is_sent_compact(server: FakeIdentityServer) -> None:
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "bedrock:*", "Resource": "*"}]}
    with server.provider("aws.assume_role", policy=policy) as provider:
        provider.resolve()
    sent = server.assume_role.requests[-1].form["Policy"]
    assert isinstance(sent, str) and json.loads(sent) == policy and " " not in sent


# -- STS's error codes -------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "retryable", "hint"), [
    ("AccessDenied", False, "trust policy allows sts:AssumeRole"),
    ("RegionDisabledException", False, "STS is not activated in this region"),
    ("InvalidClientTokenId", False, "source access key is unknown"),
    ("MalformedPolicyDocument", False, "not valid IAM policy JSON"),
    ("PackedPolicyTooLarge", False, "too large"),
    ("Throttling", True, None),
    ("ThrottlingException", True, None),
    ("RequestLimitExceeded", True, None),
])
def test_sts_error_codes_are_mapped(server: FakeIdentityServer, code: str, retryable: bool, hint: str | None) -> None:
    server.assume_role.fail_with(code, times=5)
    with server.provider("aws.assume_role", sleep=FakeSleep()) as provider, \
            pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    error = caught.value
    assert error.error_code == code and error.retryable is retryable
    assert server.assume_role.request_count == (3 if retryable else 1)  # retried only when it can help
    if hint is not None:
        assert hint in str(error)


# -- configuration ---------------------------------------------------------------------------------


class _Bearer:
    credential_type = BearerToken

    def resolve(self) -> BearerToken:
        return BearerToken(SecretString("t" * 20))


class _WrongKind:
    def resolve(self) -> object:
        return BearerToken(SecretString("t" * 20))


@pytest.mark.parametrize(("arguments", "match"), [
    ({"source": object()}, "source must be a provider of AwsCredentials"),
    ({"source": _Bearer()}, "provides BearerToken, not AwsCredentials"),
    ({"role_arn": "arn:aws:iam::12345:role/x"}, "role_arn must look like"),
    ({"role_arn": "arn:aws:iam::123456789012:user/x"}, "role_arn must look like"),
    ({"session_name": "a"}, "session_name must be 2-64"),
    ({"session_name": "has space"}, "session_name must be 2-64"),
    ({"external_id": "x"}, "external_id must be 2-1224"),
    ({"external_id": "bad id"}, "external_id must be 2-1224"),
    ({"duration_seconds": 899}, "duration_seconds must be a whole number from 900"),
    ({"duration_seconds": 3600.0}, "duration_seconds must be a whole number"),
    ({"policy": "not json"}, "policy must be an IAM policy document"),
    ({"policy": "[1]"}, "policy must be an IAM policy document"),
    ({"policy": {"Statement": "x" * 3000}}, "STS accepts at most 2048"),
    ({"region": "moon-1"}, "region must look like"),
    ({"region": "cn-north-1", "sts_endpoint": None}, "partition aws but region cn-north-1"),
    ({"sts_endpoint": "ftp://sts.example"}, "sts_endpoint"),
])
def test_bad_configuration_is_refused_at_construction(arguments: dict[str, Any], match: str) -> None:
    options: dict[str, Any] = {
        "source": StaticKeysProvider(AwsCredentials(SecretString("AKIAEXAMPLE000000000"), SecretString("s" * 40))),
        "role_arn": DEFAULT_ASSUMED_ROLE_ARN, "sts_endpoint": "http://127.0.0.1:1", "environ": {},
    }
    options.update(arguments)
    source, role_arn = options.pop("source"), options.pop("role_arn")
    with pytest.raises(ConfigurationError, match=match):
        AssumeRoleProvider(source, role_arn, **options)


def test_a_source_returning_something_else_fails_the_fetch(server: FakeIdentityServer) -> None:
    with server.provider("aws.assume_role", source=_WrongKind()) as provider, \
            pytest.raises(CredentialSourceError, match="returned a BearerToken, not AwsCredentials"):
        provider.resolve()
    assert server.assume_role.request_count == 0


def _static(region: str = "us-east-1") -> StaticKeysProvider:
    return StaticKeysProvider(AwsCredentials(SecretString("AKIAEXAMPLE000000000"), SecretString("s" * 40)), region=region)


def test_defaults_like_botocore() -> None:
    with AssumeRoleProvider(_static(), DEFAULT_ASSUMED_ROLE_ARN, environ={}, clock=lambda: 1796000000.0) as p:
        assert p.session_name == "literauth-session-1796000000"  # botocore: botocore-session-<epoch>
        assert p.duration_seconds == 3600 and p.external_id is None
        assert p.region == "us-east-1" and p.endpoint == "https://sts.us-east-1.amazonaws.com"


def test_the_region_comes_from_the_source_and_picks_the_partition_endpoint() -> None:
    with AssumeRoleProvider(_static("eu-west-1"), DEFAULT_ASSUMED_ROLE_ARN, environ={}) as p:
        assert p.region == "eu-west-1" and p.endpoint == "https://sts.eu-west-1.amazonaws.com"
    china = "arn:aws-cn:iam::123456789012:role/bedrock"
    with AssumeRoleProvider(_static(), china, region="cn-north-1", environ={}) as p:
        assert p.endpoint == "https://sts.cn-north-1.amazonaws.com.cn"


def test_aws_endpoint_url_sts_is_honoured_and_an_explicit_endpoint_wins() -> None:
    environ = {"AWS_ENDPOINT_URL_STS": "http://127.0.0.1:4566"}
    with AssumeRoleProvider(_static(), DEFAULT_ASSUMED_ROLE_ARN, environ=environ) as p:
        assert p.endpoint == "http://127.0.0.1:4566"
    with AssumeRoleProvider(_static(), DEFAULT_ASSUMED_ROLE_ARN, environ=environ,
                            sts_endpoint="http://127.0.0.1:9") as p:
        assert p.endpoint == "http://127.0.0.1:9"


def test_from_env_assumes_the_role_with_web_identity_keys(server: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    environ = server.environ(tmp_path)
    with AssumeRoleProvider.from_env(environ, session=server.session()) as provider:
        assert isinstance(provider.source, WebIdentityCredentialProvider)
        assert provider.session_name == "literauth-test" and provider.endpoint == server.url
        provider.resolve()
        source = provider.source
    assert _key_id(server.assume_role.requests[-1]) == server.sts.issued_credentials[-1].access_key_id.expose_secret()
    with pytest.raises(ConfigurationError, match="closed"):
        source.resolve()  # the source from_env() built is closed with the provider
    with pytest.raises(ConfigurationError, match="LITERAUTH_ASSUME_ROLE_ARN"):
        AssumeRoleProvider.from_env({})


def test_a_given_source_is_not_closed(server: FakeIdentityServer) -> None:
    source = server.sts_provider()
    with AssumeRoleProvider.from_env({"LITERAUTH_ASSUME_ROLE_ARN": DEFAULT_ASSUMED_ROLE_ARN,
                                      "AWS_ENDPOINT_URL_STS": server.url}, source=source) as provider:
        provider.resolve()
    assert isinstance(source.resolve(), AwsCredentials)
    source.close()


def test_exported_from_literauth_and_its_cloud() -> None:
    assert literauth.AssumeRoleProvider is AssumeRoleProvider


# -- the shared-cache identity -------------------------------------------------------------------


class _Identified(CredentialProvider):
    credential_type = AwsCredentials

    def __init__(self, fields: dict[str, str], secret: bytes | None) -> None:
        self.identity = (fields, secret)

    def resolve(self, *, force_refresh: bool = False) -> AwsCredentials:
        raise AssertionError("not resolved here")

    def _cache_identity(self) -> tuple[dict[str, str], bytes | None]:
        return self.identity


def test_cache_identity_fields_differ_between_identities() -> None:
    source = _Identified({"access_key_id": "AKIA1"}, b"static secret")

    def identity(src: Any = source, **extra: Any) -> tuple[dict[str, str], bytes | None] | None:
        with AssumeRoleProvider(src, extra.pop("role_arn", DEFAULT_ASSUMED_ROLE_ARN), environ={},
                                session_name="s1", **extra) as provider:
            return provider._cache_identity()

    base = identity()
    assert base is not None and base[1] == b"static secret"  # the source's own secret, passed through
    assert base[0]["source.access_key_id"] == "AKIA1" and base[0]["role_arn"] == DEFAULT_ASSUMED_ROLE_ARN
    assert identity(role_arn=ROLE_B)[0] != base[0]  # type: ignore[index]
    assert identity(external_id="ext-1")[0] != identity(external_id="ext-2")[0]  # type: ignore[index]
    assert "ext-1" not in json.dumps(identity(external_id="ext-1")[0])  # type: ignore[index]  # a digest
    assert identity(_Identified({"access_key_id": "AKIA2"}, b"other"))[0] != base[0]  # type: ignore[index]
    assert identity(_static()) is None  # a source without the hook: not shareable


# -- secrets -----------------------------------------------------------------------------------------


def test_no_key_leaks_into_errors_logs_or_reprs(server: FakeIdentityServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    endpoint = server.assume_role
    texts: list[str] = []
    with server.provider("aws.assume_role", sleep=FakeSleep()) as provider:
        keys = provider.resolve()
        texts += [repr(provider), str(provider), repr(keys), repr(provider.stats())]
        signed = endpoint.requests[-1].header("Authorization")
        endpoint.fail_with("AccessDenied", f"denied, you sent {signed}")  # a proxy echoing what it got
        provider.invalidate()
        with pytest.raises(TokenEndpointError) as caught:
            provider.resolve()
        texts += _texts(caught.value)
    texts.append(caplog.text)
    assert_no_secret(texts, [*_secrets_of(keys, endpoint.source_keys), *_secrets_of(*endpoint.issued_credentials)])


def test_an_echoed_source_key_id_is_masked(server: FakeIdentityServer, monkeypatch: pytest.MonkeyPatch) -> None:
    key_id = server.assume_role.source_keys.access_key_id.expose_secret()

    def echo(request: Any, form: Any) -> Any:
        return server.assume_role.error_reply("InvalidClientTokenId", f"The key {key_id} is not valid")

    monkeypatch.setattr(server.assume_role, "respond", echo)
    with server.provider("aws.assume_role") as provider, pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert key_id not in str(caught.value) and "**" in str(caught.value)


# -- fidelity: botocore's AssumeRole against the same fake ----------------------------------------


def test_botocore_assume_role_obtains_keys_from_the_same_fake(
    server: FakeIdentityServer, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    botocore_session = pytest.importorskip("botocore.session")
    endpoint = server.assume_role
    endpoint.add_role(ROLE_X, external_id="ext-123")
    source = endpoint.source_keys
    config = tmp_path / "config"
    config.write_text(
        "[profile src]\n"
        f"aws_access_key_id = {source.access_key_id.expose_secret()}\n"
        f"aws_secret_access_key = {source.secret_access_key.expose_secret()}\n"
        "[profile bedrock]\n"
        f"role_arn = {ROLE_X}\nsource_profile = src\nexternal_id = ext-123\n"
        "role_session_name = literauth-peer\nduration_seconds = 900\nregion = us-east-1\n"
    )
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", server.url)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    theirs = botocore_session.Session(profile="bedrock").get_credentials().get_frozen_credentials()
    issued = endpoint.issued_credentials[-1]
    assert theirs.access_key == issued.access_key_id.expose_secret()  # the fake verified botocore's signature
    assert theirs.token == issued.session_token.expose_secret()
    with AssumeRoleProvider(endpoint.source(), ROLE_X, external_id="ext-123", session_name="literauth-peer",
                            duration_seconds=900, session=server.session()) as ours:  # AWS_ENDPOINT_URL_STS, too
        assert ours.endpoint == server.url
        ours.resolve()
    peer, mine = endpoint.requests
    assert dict(peer.form) == dict(mine.form)  # the same parameters as botocore's profile path
    signed = {r.header("Authorization").split("SignedHeaders=")[1].split(",")[0] for r in (peer, mine)}  # type: ignore[union-attr]
    assert all(set(s.split(";")) >= {"content-type", "host", "x-amz-date"} for s in signed)
