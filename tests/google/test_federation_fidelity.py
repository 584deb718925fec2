"""Fidelity against google-auth: its federation and impersonation credentials and ours, against the same fakes.

google-auth's `identity_pool`, `aws` and `impersonated_credentials` classes get tokens from
`GoogleStsEndpoint` and `GoogleIamEndpoint` (their URLs pointed at them in the files, or
`iam_endpoint_override`), and the requests literauth sends match theirs field for field.
The documented differences: literauth strips the subject token file (google-auth sends its
newline), signs ``x-goog-cloud-target-resource`` in the AWS request (google-auth adds it
unsigned), sends `options` JSON-encoded once (google-auth quotes it first), and leaves
out an empty `delegates` (google-auth sends null).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import pytest
from google.auth import aws as google_aws
from google.auth import identity_pool, impersonated_credentials
from google.auth.transport.requests import Request
from google.oauth2 import credentials as user_credentials

from literauth import (
    ExternalAccountCredentialProvider,
    ImpersonatedCredentialProvider,
    StaticTokenProvider,
)
from literauth.secret import SecretString
from literauth.testing import FakeIdentityServer, RecordedRequest
from literauth.testing.google.iam import TARGET, GoogleIamEndpoint
from literauth.testing.google.sts import WORKFORCE_AUDIENCE, GoogleStsEndpoint

CLOUD = "https://www.googleapis.com/auth/cloud-platform"


@pytest.fixture
def google_request(monkeypatch: pytest.MonkeyPatch) -> Request:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    return Request()


def plain(form: Mapping[str, Any]) -> dict[str, str]:
    return {k: v.expose_secret() if isinstance(v, SecretString) else v for k, v in form.items()}


def ours(server: FakeIdentityServer, info: dict[str, Any], **kwargs: Any) -> ExternalAccountCredentialProvider:
    return ExternalAccountCredentialProvider.from_info(info, session=server.session(), **kwargs)


def test_identity_pool_file_source_sends_what_google_auth_sends(
    server: FakeIdentityServer, sts: GoogleStsEndpoint, google_request: Request
) -> None:
    info = sts.config()
    theirs = identity_pool.Credentials.from_info(info, scopes=[CLOUD])
    theirs.refresh(google_request)
    assert theirs.token in sts.issued_tokens  # the fake accepted google-auth's exchange
    with ours(server, info) as provider:
        provider.resolve()
    google, literauth = (plain(r.form) for r in sts.requests)
    assert google.pop("subject_token").rstrip("\n") == literauth.pop("subject_token")  # google-auth keeps the newline
    assert google == literauth
    assert [sts.requests[0].header("Content-Type"), sts.requests[1].header("Content-Type")] == [
        "application/x-www-form-urlencoded"] * 2


def test_identity_pool_with_impersonation_sends_what_google_auth_sends(
    server: FakeIdentityServer, sts: GoogleStsEndpoint, iam: GoogleIamEndpoint, google_request: Request
) -> None:
    info = sts.config(service_account_impersonation_url=iam.generate_url(),
                      service_account_impersonation={"token_lifetime_seconds": 1800})
    theirs = identity_pool.Credentials.from_info(info, scopes=[CLOUD])
    theirs.refresh(google_request)
    assert theirs.token in iam.issued_tokens
    with ours(server, info) as provider:
        provider.resolve()
    google_sts, literauth_sts = (plain(r.form) for r in sts.requests)
    google_sts.pop("subject_token"), literauth_sts.pop("subject_token")
    assert google_sts == literauth_sts and literauth_sts["scope"] == "https://www.googleapis.com/auth/iam"
    google_iam, literauth_iam = iam.requests
    assert google_iam.path == literauth_iam.path
    for call, token in zip((google_iam, literauth_iam), sts.issued_tokens):
        assert call.header("Authorization") == f"Bearer {token}"
    assert google_iam.json.pop("delegates") is None and "delegates" not in literauth_iam.json
    assert google_iam.json == literauth_iam.json == {"scope": [CLOUD], "lifetime": "1800s"}


def test_workforce_options_mean_the_same(
    server: FakeIdentityServer, sts: GoogleStsEndpoint, google_request: Request
) -> None:
    info = sts.config(audience=WORKFORCE_AUDIENCE, workforce_pool_user_project="wf-project")
    sts.write_subject_token(info["credential_source"]["file"], audience=WORKFORCE_AUDIENCE)
    identity_pool.Credentials.from_info(info, scopes=[CLOUD]).refresh(google_request)
    with ours(server, info) as provider:
        provider.resolve()
    assert [e.options for e in sts.exchanges] == [{"userProject": "wf-project"}] * 2
    google, literauth = (plain(r.form)["options"] for r in sts.requests)
    assert json.loads(unquote(google)) == json.loads(literauth)


def _signed_request(request: RecordedRequest) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(unquote(plain(request.form)["subject_token"]))
    return document


def test_aws_signed_requests_are_both_accepted_and_alike(
    server: FakeIdentityServer, sts: GoogleStsEndpoint, google_request: Request, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**sts.aws_keys.environ(), "AWS_REGION": "us-west-2"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # google-auth reads the process environment
    info = sts.aws_config()
    theirs = google_aws.Credentials.from_info(info, scopes=[CLOUD])
    theirs.refresh(google_request)
    with ours(server, info, environ=env) as provider:
        provider.resolve()
    assert [e.subject for e in sts.exchanges] == [sts.aws_keys.arn] * 2  # both signatures verified
    google_form, literauth_form = (plain(r.form) for r in sts.requests)
    google_form.pop("subject_token"), literauth_form.pop("subject_token")
    assert google_form == literauth_form
    google, literauth = (_signed_request(r) for r in sts.requests)
    assert google["url"] == literauth["url"] and google["method"] == literauth["method"] == "POST"
    assert [h["key"] for h in google["headers"]] == [h["key"] for h in literauth["headers"]]
    google_headers = {h["key"]: h["value"] for h in google["headers"]}
    literauth_headers = {h["key"]: h["value"] for h in literauth["headers"]}
    for name in ("host", "x-amz-security-token", "x-goog-cloud-target-resource"):
        assert google_headers[name] == literauth_headers[name]
    assert "SignedHeaders=host;x-amz-date;x-amz-security-token," in google_headers["Authorization"]
    assert "SignedHeaders=host;x-amz-date;x-amz-security-token;x-goog-cloud-target-resource," in (
        literauth_headers["Authorization"]
    )


def test_impersonated_credentials_send_what_google_auth_sends(
    server: FakeIdentityServer, iam: GoogleIamEndpoint, google_request: Request
) -> None:
    source = user_credentials.Credentials(token=iam.issue_source_token())
    theirs = impersonated_credentials.Credentials(
        source_credentials=source, target_principal=TARGET, target_scopes=[CLOUD], lifetime=1800,
        iam_endpoint_override=iam.generate_url(),
    )
    theirs.refresh(google_request)
    assert theirs.token in iam.issued_tokens and theirs.expiry is not None
    mine = ImpersonatedCredentialProvider(
        StaticTokenProvider(iam.issue_source_token()), TARGET, scopes=CLOUD, lifetime=1800,
        iam_endpoint=iam.base_url, session=server.session(),
    )
    with mine:
        token = mine.resolve()
    google, literauth = iam.requests
    assert google.path == literauth.path
    assert google.json.pop("delegates") is None
    assert google.json == literauth.json
    assert token.expires_at is not None
    assert abs(token.expires_at.replace(tzinfo=None).timestamp() - theirs.expiry.timestamp()) < 5


def test_google_auth_reads_the_fakes_expire_time(
    server: FakeIdentityServer, iam: GoogleIamEndpoint, google_request: Request
) -> None:
    """google-auth parses expireTime strictly (no fraction): the fake answers in that form."""
    source = user_credentials.Credentials(token=iam.issue_source_token())
    theirs = impersonated_credentials.Credentials(
        source_credentials=source, target_principal=TARGET, target_scopes=[CLOUD],
        iam_endpoint_override=iam.generate_url(),
    )
    theirs.refresh(google_request)
    assert theirs.valid
