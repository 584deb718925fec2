"""Secrets never leak from workload identity federation and impersonation (part of the leak campaign).

Subject tokens (OIDC JWTs, signed AWS requests), the AWS keys that sign them, a URL
source's secret header, a workforce client secret, federated STS tokens and impersonated
IAM tokens go through every success and error path of `ExternalAccountCredentialProvider`
and `ImpersonatedCredentialProvider`, with servers echoing what they were sent. Nothing a
person or a log could see may hold any of them, or a 16-character piece of one.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import pytest

from literauth import (
    ConfigurationError,
    CredentialSourceError,
    ExternalAccountCredentialProvider,
    ImpersonatedCredentialProvider,
    MalformedResponseError,
    StaticTokenProvider,
    TokenEndpointError,
)
from literauth.secret import SecretString
from literauth.testing import FakeIdentityServer, RecordedRequest, Reply
from literauth.testing.google.iam import TARGET, GoogleIamEndpoint
from literauth.testing.google.sts import WORKFORCE_AUDIENCE, GoogleStsEndpoint

from ..conftest import FakeSleep
from .test_no_leaks import BODY_TOKEN, CHOSEN, CLIENT_SECRET, Evidence, evidence  # noqa: F401 - the fixture

HEADER_SECRET = "Bearer leakcheck-subject-url-header-4f3e2d1c0b9a"


def _secret(value: object) -> str:
    return value.expose_secret() if isinstance(value, SecretString) else str(value)


def _sent_subject_tokens(requests: list[RecordedRequest]) -> dict[str, str]:
    """Each OIDC subject token whole; of a signed AWS request, its signature (the rest is public)."""
    found = {}
    for index, request in enumerate(requests):
        token = _secret(request.form.get("subject_token", ""))
        if token.startswith("%7B"):
            headers = {h["key"]: h["value"] for h in json.loads(unquote(token))["headers"]}
            found[f"aws signature {index}"] = headers["Authorization"].rpartition("Signature=")[2]
        elif token:
            found[f"subject token {index}"] = token
    return found


def test_federation_paths_leak_nothing(
    server: FakeIdentityServer, evidence: Evidence, debug_logs: pytest.LogCaptureFixture,  # noqa: F811
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path,
) -> None:
    sts = server.endpoint("google.external_account")
    iam = server.endpoint("google.impersonated")
    assert isinstance(sts, GoogleStsEndpoint) and isinstance(iam, GoogleIamEndpoint)
    options: dict[str, Any] = {"sleep": FakeSleep(), "background_refresh": False, "session": server.session(), "cache": False}
    aws_env = {**sts.aws_keys.environ(), "AWS_REGION": "us-east-1"}
    sts.register_client("wf-client", CLIENT_SECRET)

    # success: a file with impersonation, AWS, a URL with a secret header, a workforce client; forced refreshes
    imds = server.endpoint("azure.managed_identity")
    imds.fail_with_reply(Reply(200, json.dumps({"access_token": sts.issue_subject_token()}).encode()))
    workforce = sts.config(audience=WORKFORCE_AUDIENCE, client_id="wf-client", client_secret=CLIENT_SECRET)
    sts.write_subject_token(workforce["credential_source"]["file"], audience=WORKFORCE_AUDIENCE)
    providers = [
        ExternalAccountCredentialProvider.from_info(
            sts.config(service_account_impersonation_url=iam.generate_url()), **options),
        ExternalAccountCredentialProvider.from_info(sts.aws_config(), environ=aws_env, **options),
        ExternalAccountCredentialProvider.from_info(sts.config({
            "url": f"{server.url}/metadata/identity/oauth2/token", "headers": {"Authorization": HEADER_SECRET},
            "format": {"type": "json", "subject_token_field_name": "access_token"}}), **options),
        ExternalAccountCredentialProvider.from_info(workforce, **options),
        ImpersonatedCredentialProvider(StaticTokenProvider(iam.issue_source_token()), TARGET,
                                       iam_endpoint=iam.base_url, **options),
    ]
    tokens = [provider.resolve() for provider in providers]
    tokens.append(providers[0].resolve(force_refresh=True))
    evidence.objects("after fetches", *providers, *tokens, *(p.stats() for p in providers), sts.exchanges)
    identities = [p._cache_identity() for p in providers]  # the secret half is the cache's to encrypt
    evidence.objects("identity fields", *(identity[0] for identity in identities if identity is not None))
    for provider in providers:
        provider.close()

    # refusals and misbehaviour, with servers echoing the subject token and the bearer
    def echo_subject(request: Any, form: Mapping[str, str]) -> Reply:
        body = {"error": "invalid_grant", "error_description": f"bad subject {form.get('subject_token', '')}"}
        return Reply(400, json.dumps(body).encode())

    def echo_bearer(request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        body = {"error": {"code": 403, "message": f"denied for {request.header('Authorization')}",
                          "status": "PERMISSION_DENIED"}}
        return Reply(403, json.dumps(body).encode())

    failing: list[tuple[str, Any, type[Exception], dict[str, Any]]] = [
        ("wrong aws secret", sts.aws_config(), TokenEndpointError,
         {"environ": {**aws_env, "AWS_SECRET_ACCESS_KEY": "wrong-aws-secret-leakcheck-0123456789"}}),
        ("wrong client secret", {**workforce, "client_secret": "wrong-client-secret-leakcheck-98765"},
         TokenEndpointError, {}),
        ("iam answers without a token", sts.config(service_account_impersonation_url=iam.generate_url()),
         MalformedResponseError, {}),
        ("missing token file", sts.config({"file": str(tmp_path / "absent")}), CredentialSourceError, {}),
    ]
    iam.fail(200, json.dumps({"accessToken": f"{BODY_TOKEN} with spaces", "expireTime": "2030-01-01T00:00:00Z"}))
    for name, info, kind, extra in failing:
        with ExternalAccountCredentialProvider.from_info(info, **{**options, **extra}) as provider:
            evidence.expect(name, kind, provider.resolve)
            evidence.objects(name, provider)
    monkeypatch.setattr(sts, "respond", echo_subject)
    with ExternalAccountCredentialProvider.from_info(sts.config(), **options) as provider:
        evidence.expect("sts echoing the subject token", TokenEndpointError, provider.resolve)
    with ExternalAccountCredentialProvider.from_info(sts.aws_config(), environ=aws_env, **options) as provider:
        evidence.expect("sts echoing the signed aws request", TokenEndpointError, provider.resolve)
    monkeypatch.undo()
    monkeypatch.setattr(iam, "respond", echo_bearer)
    with ExternalAccountCredentialProvider.from_info(
        sts.config(service_account_impersonation_url=iam.generate_url()), **options
    ) as provider:
        evidence.expect("iam echoing the federated token", TokenEndpointError, provider.resolve)
    monkeypatch.undo()
    evidence.expect("a configuration with a client secret but no id", ConfigurationError,
                    lambda: ExternalAccountCredentialProvider.from_info({**sts.config(), "client_secret": CLIENT_SECRET}))

    evidence.logs(debug_logs)
    evidence.text("stderr", capfd.readouterr().err)
    assert len(evidence.errors) == len(failing) + 4
    secrets = {
        **CHOSEN,
        "url header": HEADER_SECRET.removeprefix("Bearer "),
        "aws secret key": sts.aws_keys.secret_access_key,
        "aws session token": sts.aws_keys.session_token or "",
        "wrong aws secret": "wrong-aws-secret-leakcheck-0123456789",
        "wrong client secret": "wrong-client-secret-leakcheck-98765",
        **_sent_subject_tokens(sts.requests),
        **{f"sts token {i}": t for i, t in enumerate(sts.issued_tokens)},
        **{f"iam token {i}": t for i, t in enumerate(iam.issued_tokens)},
    }
    assert len(sts.issued_tokens) >= 5 and len(iam.issued_tokens) >= 2
    evidence.assert_clean(secrets)
