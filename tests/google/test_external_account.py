"""Workload identity federation over real HTTP to the fake STS and IAM Credentials endpoints."""

from __future__ import annotations

import base64
import json
import pathlib
import re
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import unquote

import pytest

from literauth import (
    BearerToken,
    ConfigurationError,
    CredentialSourceError,
    ExternalAccountCredentialProvider,
    MalformedResponseError,
    TokenEndpointError,
)
from literauth.credentials import AwsCredentials
from literauth.provider import StaticTokenProvider
from literauth.secret import SecretString
from literauth.testing import (
    Endpoint,
    FakeIdentityServer,
    RecordedRequest,
    Reply,
    Route,
    ServerCore,
    SyncedClock,
)
from literauth.testing.google.iam import TARGET, GoogleIamEndpoint
from literauth.testing.google.sts import (
    AWS_AUDIENCE,
    OIDC_AUDIENCE,
    VERIFICATION_URL,
    WORKFORCE_AUDIENCE,
    GoogleStsEndpoint,
)

from ..conftest import FakeSleep, assert_no_secret

IAM_SCOPE = "https://www.googleapis.com/auth/iam"
CLOUD = "https://www.googleapis.com/auth/cloud-platform"


def build(server: FakeIdentityServer, info: dict[str, Any], **kwargs: Any) -> ExternalAccountCredentialProvider:
    kwargs.setdefault("session", server.session())
    kwargs.setdefault("sleep", FakeSleep())
    return ExternalAccountCredentialProvider.from_info(info, **kwargs)


# -- the file source and the exchange ---------------------------------------------------------------


def test_a_file_token_is_exchanged_with_every_rfc8693_field(server: FakeIdentityServer, sts: GoogleStsEndpoint) -> None:
    with build(server, sts.config()) as provider:
        token = provider.resolve()
    assert isinstance(token, BearerToken) and token.token.expose_secret() in sts.issued_tokens
    form = sts.requests[-1].form
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:token-exchange"
    assert form["audience"] == OIDC_AUDIENCE
    assert form["subject_token_type"] == "urn:ietf:params:oauth:token-type:jwt"
    assert form["requested_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert form["scope"] == CLOUD
    assert "options" not in form and sts.requests[-1].header("Authorization") is None
    subject = form["subject_token"]
    assert isinstance(subject, SecretString) and not subject.expose_secret().endswith("\n")  # stripped
    assert sts.exchanges[-1].subject == "repo:literauth/literauth:ref:refs/heads/main"


def test_the_token_file_is_read_again_for_every_exchange(server: FakeIdentityServer, sts: GoogleStsEndpoint) -> None:
    info = sts.config()
    path = info["credential_source"]["file"]
    with build(server, info) as provider:
        provider.resolve()
        sts.write_subject_token(path, subject="rotated")
        provider.resolve(force_refresh=True)
    assert [e.subject for e in sts.exchanges][-1] == "rotated"


def test_a_json_token_file_is_read_by_its_field(server: FakeIdentityServer, sts: GoogleStsEndpoint,
                                                  tmp_path: pathlib.Path) -> None:
    path = tmp_path / "token.json"
    path.write_text(json.dumps({"id_token": sts.issue_subject_token(), "other": "x"}))
    info = sts.config({"file": str(path), "format": {"type": "json", "subject_token_field_name": "id_token"}})
    with build(server, info) as provider:
        provider.resolve()
    assert sts.exchanges[-1].audience == OIDC_AUDIENCE


def test_a_json_file_without_the_field_names_the_field(server: FakeIdentityServer, sts: GoogleStsEndpoint,
                                                        tmp_path: pathlib.Path) -> None:
    path = tmp_path / "token.json"
    path.write_text(json.dumps({"access_token": sts.issue_subject_token()}))
    info = sts.config({"file": str(path), "format": {"type": "json", "subject_token_field_name": "id_token"}})
    with build(server, info) as provider, pytest.raises(CredentialSourceError, match="no string field 'id_token'"):
        provider.resolve()
    assert sts.request_count == 0


def test_a_missing_token_file_is_a_source_error_naming_it(server: FakeIdentityServer, sts: GoogleStsEndpoint,
                                                           tmp_path: pathlib.Path) -> None:
    info = sts.config({"file": str(tmp_path / "absent"), "format": {"type": "text"}})
    with build(server, info) as provider, pytest.raises(CredentialSourceError, match="absent does not exist") as info_:
        provider.resolve()
    assert info_.value.retryable and sts.request_count == 0


def test_an_expired_subject_token_is_refused_by_sts(server: FakeIdentityServer, sts: GoogleStsEndpoint,
                                                     tmp_path: pathlib.Path) -> None:
    path = sts.write_subject_token(str(tmp_path / "t"), lifetime=-10)
    with build(server, sts.config({"file": path})) as provider, pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert caught.value.error_code == "invalid_grant" and "expired" in str(caught.value)
    assert not caught.value.retryable


def test_a_token_from_another_issuer_is_refused(server: FakeIdentityServer, sts: GoogleStsEndpoint,
                                                tmp_path: pathlib.Path) -> None:
    path = sts.write_subject_token(str(tmp_path / "t"))
    sts.oidc.rotate()
    with build(server, sts.config({"file": path})) as provider, pytest.raises(TokenEndpointError, match="signature"):
        provider.resolve()


def test_scopes_are_sent_space_separated(server: FakeIdentityServer, sts: GoogleStsEndpoint) -> None:
    scopes = [CLOUD, "https://www.googleapis.com/auth/generative-language"]
    with build(server, sts.config(), scopes=scopes) as provider:
        provider.resolve()
        assert provider.scopes == tuple(scopes)
        other = provider.with_scope("https://www.googleapis.com/auth/devstorage.read_only")
    with other:
        other.resolve()
    assert [r.form["scope"] for r in sts.requests] == [" ".join(scopes), "https://www.googleapis.com/auth/devstorage.read_only"]


def test_one_exchange_for_many_threads(server: FakeIdentityServer, sts: GoogleStsEndpoint) -> None:
    sts.latency = 0.05
    with build(server, sts.config()) as provider:
        barrier = threading.Barrier(8)
        tokens: list[Any] = []

        def call() -> None:
            barrier.wait()
            tokens.append(provider.resolve())

        threads = [threading.Thread(target=call) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert len(tokens) == 8 and len({id(t) for t in tokens}) == 1 and sts.request_count == 1


def test_expires_in_is_honoured_and_refresh_is_ahead_of_it(server: FakeIdentityServer, sts: GoogleStsEndpoint) -> None:
    clock = SyncedClock(server)
    sts.lifetime = 1200
    with build(server, sts.config(), clock=clock, background_refresh=False) as provider:
        first = provider.resolve()
        assert first.expires_at_epoch == pytest.approx(clock.now + 1200, abs=2)
        clock.advance(1200 - 300 + 60)  # past the refresh point (jitter is at most 60 s)
        provider.resolve()  # due: refreshed by this caller
        assert sts.request_count == 2 and provider.resolve() is not first


# -- workforce pools and client authentication ------------------------------------------------------


def test_workforce_user_project_goes_in_options(server: FakeIdentityServer, sts: GoogleStsEndpoint) -> None:
    info = sts.config(audience=WORKFORCE_AUDIENCE, workforce_pool_user_project="my-project",
                      subject_token_type="urn:ietf:params:oauth:token-type:id_token")
    path = info["credential_source"]["file"]
    sts.write_subject_token(path, audience=WORKFORCE_AUDIENCE)
    with build(server, info) as provider:
        provider.resolve()
    assert json.loads(sts.requests[-1].form["options"]) == {"userProject": "my-project"}
    assert sts.exchanges[-1].options == {"userProject": "my-project"}


def test_client_credentials_use_basic_auth_and_replace_the_user_project(
    server: FakeIdentityServer, sts: GoogleStsEndpoint
) -> None:
    sts.register_client("wf-client", "wf-secret-value-1234567890")
    info = sts.config(audience=WORKFORCE_AUDIENCE, workforce_pool_user_project="my-project",
                      client_id="wf-client", client_secret="wf-secret-value-1234567890")
    sts.write_subject_token(info["credential_source"]["file"], audience=WORKFORCE_AUDIENCE)
    with build(server, info) as provider:
        provider.resolve()
        fields, secret = provider._cache_identity() or ({}, None)
    header = sts.requests[-1].header("Authorization") or ""
    assert base64.b64decode(header.removeprefix("Basic ")) == b"wf-client:wf-secret-value-1234567890"
    assert "options" not in sts.requests[-1].form  # the client names the project, as in google-auth
    assert secret == b"wf-secret-value-1234567890" and fields["client"] == "wf-client"


def test_a_wrong_client_secret_is_refused_and_never_shown(server: FakeIdentityServer, sts: GoogleStsEndpoint) -> None:
    sts.register_client("wf-client", "the-right-secret-0123456789")
    info = sts.config(audience=WORKFORCE_AUDIENCE, client_id="wf-client", client_secret="wrong-secret-abcdefghijklmn")
    sts.write_subject_token(info["credential_source"]["file"], audience=WORKFORCE_AUDIENCE)
    with build(server, info) as provider, pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
        assert "wrong-secret" not in repr(provider)
    assert caught.value.status_code == 401 and caught.value.error_code == "invalid_client"
    assert_no_secret([str(caught.value), repr(caught.value)], ["wrong-secret-abcdefghijklmn"])


def test_user_project_on_a_workload_pool_is_a_configuration_error(sts: GoogleStsEndpoint) -> None:
    with pytest.raises(ConfigurationError, match="only for workforce pools"):
        ExternalAccountCredentialProvider.from_info(sts.config(workforce_pool_user_project="p"))


# -- the URL source ---------------------------------------------------------------------------------


def test_a_url_token_is_fetched_with_the_files_headers(server: FakeIdentityServer, sts: GoogleStsEndpoint) -> None:
    imds = server.endpoint("azure.managed_identity")
    token = sts.issue_subject_token()
    imds.fail_with_reply(Reply(200, json.dumps({"access_token": token}).encode()), times=2)
    source = {"url": f"{server.url}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://x",
              "headers": {"Metadata": "True"},
              "format": {"type": "json", "subject_token_field_name": "access_token"}}
    with build(server, sts.config(source)) as provider:
        provider.resolve()
        assert provider.subject_source == "url"
    got = imds.requests[-1]
    assert got.method == "GET" and got.header("Metadata") == "True"
    assert got.query["resource"] == "api://x"
    assert sts.request_count == 1


def test_a_url_source_on_a_plain_http_foreign_host_is_refused(sts: GoogleStsEndpoint) -> None:
    with pytest.raises(ConfigurationError, match="must use https"):
        ExternalAccountCredentialProvider.from_info(sts.config({"url": "http://tokens.example.com/token"}))


def test_a_url_source_may_be_the_azure_metadata_host(sts: GoogleStsEndpoint) -> None:
    source = {"url": "http://169.254.169.254/metadata/identity/oauth2/token", "headers": {"Metadata": "True"}}
    with ExternalAccountCredentialProvider.from_info(sts.config(source)) as provider:
        assert provider.subject_source == "url"  # built, never asked: no request in this test


# -- URLs in the file ---------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["token_url", "service_account_impersonation_url"])
def test_plain_http_to_a_foreign_host_is_refused(sts: GoogleStsEndpoint, field: str) -> None:
    url = "http://sts.example.com/v1/projects/-/serviceAccounts/a@b.iam.gserviceaccount.com:generateAccessToken"
    with pytest.raises(ConfigurationError, match=f"field '{field}' must use https"):
        ExternalAccountCredentialProvider.from_info(sts.config(**{field: url}))


def test_the_default_token_url_follows_the_universe(sts: GoogleStsEndpoint) -> None:
    info = sts.config(universe_domain="example-universe.test")
    del info["token_url"]
    with ExternalAccountCredentialProvider.from_info(info) as provider:
        assert provider.token_url == "https://sts.example-universe.test/v1/token"


@pytest.mark.parametrize(("change", "message"), [
    ({"type": "service_account"}, "not 'external_account'"),
    ({"audience": ""}, "'audience' is missing"),
    ({"subject_token_type": None}, "'subject_token_type' is missing"),
    ({"credential_source": None}, "credential_source is missing"),
    ({"credential_source": {"file": "a", "url": "https://b"}}, "exactly one of file, url"),
    ({"credential_source": {"certificate": {"use_default_certificate_config": True}}}, "not supported"),
    ({"credential_source": {"file": "a", "format": {"type": "xml"}}}, "'text' or 'json'"),
    ({"credential_source": {"environment_id": "azure1"}}, "not supported"),
    ({"service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/x"}, "generateAccessToken"),
    ({"service_account_impersonation": {"token_lifetime_seconds": 0}}, "token_lifetime_seconds"),
    ({"client_secret": "s"}, "without client_id"),
])
def test_bad_configurations_name_the_problem(sts: GoogleStsEndpoint, change: dict[str, Any], message: str) -> None:
    info = {**sts.config(), **change}
    with pytest.raises(ConfigurationError, match=message):
        ExternalAccountCredentialProvider.from_info(info)


def test_from_file_and_from_env(server: FakeIdentityServer, sts: GoogleStsEndpoint, tmp_path: pathlib.Path) -> None:
    env = sts.environ(tmp_path)
    with ExternalAccountCredentialProvider.from_env(env, session=server.session()) as provider:
        provider.resolve()
    with pytest.raises(ConfigurationError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        ExternalAccountCredentialProvider.from_env({})
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigurationError, match="bad.json is not JSON"):
        ExternalAccountCredentialProvider.from_file(tmp_path / "bad.json")


def test_cache_identity_differs_between_identities(sts: GoogleStsEndpoint) -> None:
    one = ExternalAccountCredentialProvider.from_info(sts.config())
    two = ExternalAccountCredentialProvider.from_info(sts.config(audience=AWS_AUDIENCE))
    first, second = one._cache_identity(), two._cache_identity()
    assert first is not None and second is not None
    assert first[0] != second[0] and first[1] is None  # no local secret: a federated identity
    one.close()
    two.close()


# -- impersonation --------------------------------------------------------------------------------------


def test_impersonation_asks_sts_for_the_iam_scope_then_generate_access_token(
    server: FakeIdentityServer, sts: GoogleStsEndpoint, iam: GoogleIamEndpoint
) -> None:
    info = sts.config(service_account_impersonation_url=iam.generate_url(),
                      service_account_impersonation={"token_lifetime_seconds": 1800})
    clock = SyncedClock(server)
    with build(server, info, clock=clock) as provider:
        token = provider.resolve()
        assert provider.service_account_email == TARGET
    assert sts.requests[-1].form["scope"] == IAM_SCOPE  # google-auth's choice, checked in the fidelity tests
    call = iam.requests[-1]
    assert call.header("Authorization") == f"Bearer {sts.issued_tokens[-1]}"
    assert call.json == {"scope": [CLOUD], "lifetime": "1800s"}
    assert token.token.expose_secret() == iam.issued_tokens[-1]
    assert token.expires_at_epoch == pytest.approx(clock.now + 1800, abs=2)


def test_an_impersonation_refusal_says_what_permission_is_missing(
    server: FakeIdentityServer, sts: GoogleStsEndpoint, iam: GoogleIamEndpoint
) -> None:
    body = {"error": {"code": 403, "message": "Permission 'iam.serviceAccounts.getAccessToken' denied on resource "
                      "(or it may not exist).", "status": "PERMISSION_DENIED"}}
    iam.fail(403, json.dumps(body), headers={"Content-Type": "application/json"})
    info = sts.config(service_account_impersonation_url=iam.generate_url())
    with build(server, info) as provider, pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert caught.value.error_code == "PERMISSION_DENIED" and not caught.value.retryable
    assert "roles/iam.serviceAccountTokenCreator" in str(caught.value)
    assert sts.issued_tokens[-1] not in str(caught.value)


@pytest.mark.parametrize("stamp", ["2030-01-01T00:00:00Z", "2030-01-01T00:00:00.123456789Z", "2030-01-01T01:00:00+01:00"])
def test_expire_time_is_read_with_or_without_fractions(
    server: FakeIdentityServer, sts: GoogleStsEndpoint, iam: GoogleIamEndpoint, stamp: str
) -> None:
    iam.fail(200, json.dumps({"accessToken": "ya29.fixed-token", "expireTime": stamp}),
             headers={"Content-Type": "application/json"})
    info = sts.config(service_account_impersonation_url=iam.generate_url())
    with build(server, info) as provider:
        token = provider.resolve()
    assert token.expires_at is not None and token.expires_at.isoformat().startswith("2030-01-01T00:00:00")


def test_an_unreadable_expire_time_is_malformed(server: FakeIdentityServer, sts: GoogleStsEndpoint,
                                                 iam: GoogleIamEndpoint) -> None:
    iam.fail(200, json.dumps({"accessToken": "ya29.fixed-token", "expireTime": "tomorrow"}))
    info = sts.config(service_account_impersonation_url=iam.generate_url())
    with build(server, info) as provider, pytest.raises(MalformedResponseError, match="expireTime"):
        provider.resolve()


# -- AWS ---------------------------------------------------------------------------------------------


def aws_env(sts: GoogleStsEndpoint, **extra: str) -> dict[str, str]:
    return {**sts.aws_keys.environ(), "AWS_REGION": "eu-west-1", **extra}


def decoded(subject: str | SecretString) -> dict[str, Any]:
    text = subject.expose_secret() if isinstance(subject, SecretString) else subject
    document: dict[str, Any] = json.loads(unquote(text))
    return document


def test_aws_keys_from_the_environment_sign_get_caller_identity(server: FakeIdentityServer, sts: GoogleStsEndpoint) -> None:
    with build(server, sts.aws_config(), environ=aws_env(sts)) as provider:
        provider.resolve()
        assert provider.subject_source == "aws"
    assert sts.exchanges[-1].subject == sts.aws_keys.arn
    document = decoded(sts.requests[-1].form["subject_token"])
    assert document["url"] == VERIFICATION_URL.replace("{region}", "eu-west-1")
    assert document["method"] == "POST"
    keys = [h["key"] for h in document["headers"]]
    assert keys == ["Authorization", "host", "x-amz-date", "x-amz-security-token", "x-goog-cloud-target-resource"]
    headers = {h["key"]: h["value"] for h in document["headers"]}
    assert headers["host"] == "sts.eu-west-1.amazonaws.com"
    assert headers["x-goog-cloud-target-resource"] == AWS_AUDIENCE
    assert "SignedHeaders=host;x-amz-date;x-amz-security-token;x-goog-cloud-target-resource" in headers["Authorization"]


def test_any_literauth_aws_provider_can_sign(server: FakeIdentityServer, sts: GoogleStsEndpoint) -> None:
    keys = sts.add_aws_keys(session_token=False)

    class Keys(StaticTokenProvider):
        region = "ap-south-1"

        def resolve(self, *, force_refresh: bool = False) -> AwsCredentials:  # type: ignore[override]
            return AwsCredentials(SecretString(keys.access_key_id), SecretString(keys.secret_access_key))

    with build(server, sts.aws_config(), environ={}, aws_source=Keys("unused")) as provider:
        provider.resolve()
    assert sts.exchanges[-1].subject == keys.arn
    assert "ap-south-1" in decoded(sts.requests[-1].form["subject_token"])["url"]


def test_a_signature_by_unknown_keys_is_refused(server: FakeIdentityServer, sts: GoogleStsEndpoint) -> None:
    env = aws_env(sts, AWS_SECRET_ACCESS_KEY="not-the-secret-the-fake-issued-0000")
    with build(server, sts.aws_config(), environ=env) as provider, pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert caught.value.error_code == "invalid_grant" and "signature" in str(caught.value)
    assert_no_secret([str(caught.value)], ["not-the-secret-the-fake-issued-0000", sts.aws_keys.session_token or ""])


def test_aws_web_identity_from_the_environment_is_used(
    server: FakeIdentityServer, sts: GoogleStsEndpoint, tmp_path: pathlib.Path
) -> None:
    """EKS with IRSA: the role's keys come from AssumeRoleWithWebIdentity, then sign for Google."""
    aws = server.sts
    web_env = aws.environ(tmp_path)
    env = {**web_env, "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL_STS": server.url}
    with build(server, sts.aws_config(), environ=env) as provider:
        provider.resolve()
    issued = aws.issued_credentials[-1]
    assert sts.exchanges[-1].subject == f"arn:aws:sts::123456789012:assumed-role/literauth-test/{issued.session_name}"
    headers = {h["key"]: h["value"] for h in decoded(sts.requests[-1].form["subject_token"])["headers"]}
    assert f"Credential={issued.access_key_id.expose_secret()}/" in headers["Authorization"]
    assert headers["x-amz-security-token"] == issued.session_token.expose_secret()


def test_the_region_comes_from_the_metadata_url_when_not_in_the_environment(
    server: FakeIdentityServer, sts: GoogleStsEndpoint
) -> None:
    zone = server.endpoint("azure.managed_identity")
    zone.fail_with_reply(Reply(200, b"eu-central-1b", content_type="text/plain"))
    info = sts.aws_config()
    info["credential_source"]["region_url"] = f"{server.url}/metadata/identity/oauth2/token"
    with build(server, info, environ=sts.aws_keys.environ()) as provider:
        provider.resolve()
        provider.resolve(force_refresh=True)
    assert "sts.eu-central-1.amazonaws.com" in decoded(sts.requests[-1].form["subject_token"])["url"]
    assert zone.request_count == 1  # asked once


def test_no_aws_keys_and_no_region_are_configuration_errors(sts: GoogleStsEndpoint) -> None:
    with pytest.raises(ConfigurationError, match="no AWS credentials"):
        ExternalAccountCredentialProvider.from_info(sts.aws_config(), environ={"AWS_REGION": "us-east-1"})
    with pytest.raises(ConfigurationError, match="no AWS region"):
        ExternalAccountCredentialProvider.from_info(sts.aws_config(), environ=sts.aws_keys.environ())
    info = sts.aws_config()
    info["credential_source"]["environment_id"] = "aws2"
    with pytest.raises(ConfigurationError, match="only aws1"):
        ExternalAccountCredentialProvider.from_info(info, environ=aws_env(sts))


# -- executables -----------------------------------------------------------------------------------------


@pytest.fixture
def executable(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    script = tmp_path / "token.py"
    yield script


def _script(path: pathlib.Path, response: dict[str, Any] | None, *, sleep: float = 0, code: int = 0) -> str:
    body = f"import json, os, sys, time\ntime.sleep({sleep})\n"
    body += "assert os.environ['GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE']\n"
    if response is not None:
        body += f"print(json.dumps({response!r}))\n"
    body += f"sys.exit({code})\n"
    path.write_text(body)
    return f"{sys.executable} {path}"


def test_executables_need_the_opt_in(sts: GoogleStsEndpoint, executable: pathlib.Path) -> None:
    info = sts.config({"executable": {"command": _script(executable, None)}})
    with pytest.raises(ConfigurationError, match="GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1"):
        ExternalAccountCredentialProvider.from_info(info, environ={})


def test_an_executables_oidc_token_is_exchanged(server: FakeIdentityServer, sts: GoogleStsEndpoint,
                                                executable: pathlib.Path) -> None:
    response = {"version": 1, "success": True, "token_type": "urn:ietf:params:oauth:token-type:jwt",
                "id_token": sts.issue_subject_token(), "expiration_time": int(time.time()) + 3600}
    info = sts.config({"executable": {"command": _script(executable, response), "timeout_millis": 10000}})
    env = {"GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES": "1"}
    with build(server, info, environ=env) as provider:
        provider.resolve()
        assert provider.subject_source == "executable"
    assert sts.exchanges[-1].subject.startswith("repo:")


@pytest.mark.parametrize(("response", "code", "message"), [
    ({"version": 1, "success": False, "code": "401", "message": "login required"}, 0, "reports a failure: 401"),
    ({"version": 2, "success": True}, 0, "supported version"),
    (None, 3, "exited with status 3"),
    ({"version": 1, "success": True, "token_type": "urn:ietf:params:oauth:token-type:jwt", "id_token": "x",
      "expiration_time": 1}, 0, "expired"),
])
def test_executable_failures_are_source_errors(
    server: FakeIdentityServer, sts: GoogleStsEndpoint, executable: pathlib.Path,
    response: dict[str, Any] | None, code: int, message: str,
) -> None:
    info = sts.config({"executable": {"command": _script(executable, response, code=code)}})
    env = {"GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES": "1"}
    with build(server, info, environ=env) as provider, pytest.raises(CredentialSourceError, match=message):
        provider.resolve()
    assert sts.request_count == 0


def test_a_hanging_executable_is_stopped_at_its_timeout(server: FakeIdentityServer, sts: GoogleStsEndpoint,
                                                         executable: pathlib.Path) -> None:
    info = sts.config({"executable": {"command": _script(executable, None, sleep=30), "timeout_millis": 5000}})
    env = {"GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES": "1"}
    started = time.monotonic()
    with build(server, info, environ=env) as provider, pytest.raises(CredentialSourceError, match="longer than 5 s"):
        provider.resolve()
    assert time.monotonic() - started < 15


def test_executable_timeouts_out_of_range_are_refused(sts: GoogleStsEndpoint) -> None:
    info = sts.config({"executable": {"command": "x", "timeout_millis": 500}})
    with pytest.raises(ConfigurationError, match="5000-120000"):
        ExternalAccountCredentialProvider.from_info(info, environ={"GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES": "1"})


class _Ec2Metadata(Endpoint):
    """Just enough EC2 instance metadata (IMDSv2) for the file's `url`, `region_url` and token URL."""

    name = "ec2"
    routes = (Route(frozenset({"PUT"}), "/latest/api/token"),
              Route(frozenset({"GET"}), re.compile(r"/latest/meta-data/.*")))
    keys: Any = None

    def respond(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        if request.method == "PUT":
            assert request.header("X-aws-ec2-metadata-token-ttl-seconds") == "300"
            return Reply(200, b"imds-session-token-0123456789", content_type="text/plain")
        assert request.header("X-aws-ec2-metadata-token") == "imds-session-token-0123456789"
        if request.path.endswith("/availability-zone"):
            return Reply(200, b"sa-east-1a", content_type="text/plain")
        if request.path.endswith("/security-credentials"):
            return Reply(200, b"eks-node-role\n", content_type="text/plain")
        assert request.path.endswith("/security-credentials/eks-node-role")
        body = {"Code": "Success", "AccessKeyId": self.keys.access_key_id,
                "SecretAccessKey": self.keys.secret_access_key, "Token": self.keys.session_token}
        return Reply(200, json.dumps(body).encode())


def test_aws_keys_and_region_from_the_files_ec2_metadata_urls(server: FakeIdentityServer, sts: GoogleStsEndpoint) -> None:
    metadata = ServerCore((_Ec2Metadata,))
    metadata.start()
    try:
        ec2 = metadata.endpoints["ec2"]
        assert isinstance(ec2, _Ec2Metadata)
        ec2.keys = sts.aws_keys
        info = sts.aws_config()
        info["credential_source"].update(
            url=f"{metadata.url}/latest/meta-data/iam/security-credentials",
            region_url=f"{metadata.url}/latest/meta-data/placement/availability-zone",
            imdsv2_session_token_url=f"{metadata.url}/latest/api/token",
        )
        with build(server, info, environ={}) as provider:
            provider.resolve()
        assert sts.exchanges[-1].subject == sts.aws_keys.arn
        assert "sts.sa-east-1.amazonaws.com" in decoded(sts.requests[-1].form["subject_token"])["url"]
        assert [r.method for r in ec2.requests] == ["PUT", "GET", "PUT", "GET", "GET"]
    finally:
        metadata.stop()
