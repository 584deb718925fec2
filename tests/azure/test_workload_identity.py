"""WorkloadIdentityCredentialProvider over real HTTP against the fake Entra federated-credential endpoint."""

from __future__ import annotations

import json
import logging
import os
import pathlib
import traceback
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from literauth import ChainProvider, StaticTokenProvider
from literauth.azure import WorkloadIdentityCredentialProvider
from literauth.azure._common import DEFAULT_SCOPE
from literauth.credentials import BearerToken
from literauth.errors import (
    ConfigurationError,
    CredentialSourceError,
    SourceNotConfigured,
    TokenEndpointError,
)
from literauth.provider import RefreshPolicy
from literauth.secret import SecretString
from literauth.testing import FakeIdentityServer
from literauth.testing.azure.workload_identity import AzureFederatedEndpoint

from ..conftest import FakeClock, FakeSleep, assert_no_secret

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MANAGEMENT = "https://management.azure.com/.default"
GUID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301"


@pytest.fixture
def fed(server: FakeIdentityServer) -> AzureFederatedEndpoint:
    return server.azure_federated


@pytest.fixture
def token_file(fed: AzureFederatedEndpoint, tmp_path: pathlib.Path) -> pathlib.Path:
    return pathlib.Path(fed.write_federated_token(tmp_path / "azure-identity-token"))


@pytest.fixture
def provider(
    server: FakeIdentityServer, token_file: pathlib.Path, clock: FakeClock, fake_sleep: FakeSleep
) -> Iterator[WorkloadIdentityCredentialProvider]:
    made = server.provider("azure.workload_identity", token_file=str(token_file), clock=clock, sleep=fake_sleep,
                           background_refresh=False)
    assert isinstance(made, WorkloadIdentityCredentialProvider)
    with made:
        yield made


def exposed(value: object) -> str:
    return value.expose_secret() if isinstance(value, SecretString) else str(value)


# -- the request ---------------------------------------------------------------------------


def test_request_is_the_client_credentials_grant_with_the_file_as_assertion(
    server: FakeIdentityServer, fed: AzureFederatedEndpoint, provider: WorkloadIdentityCredentialProvider,
    token_file: pathlib.Path,
) -> None:
    token = provider.resolve()

    assert isinstance(token, BearerToken)
    (sent,) = fed.requests
    assert (sent.method, sent.path, sent.query) == ("POST", f"/{fed.tenant_id}/oauth2/v2.0/token", {})
    assert set(sent.form) == {"grant_type", "client_id", "scope", "client_assertion_type", "client_assertion"}
    assert sent.form["grant_type"] == "client_credentials"
    assert sent.form["client_id"] == fed.client_id
    assert sent.form["scope"] == DEFAULT_SCOPE
    assert sent.form["client_assertion_type"] == JWT_BEARER
    assertion = sent.form["client_assertion"]
    assert isinstance(assertion, SecretString)
    assert exposed(assertion) == token_file.read_text().strip()  # the file ends with a newline: stripped
    headers = {k.lower(): v for k, v in sent.headers.items()}
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert fed.check_token(token.token, audience="https://cognitiveservices.azure.com")
    assert server.azure.request_count == 0  # the client-secret fake saw nothing


def test_properties_and_repr(provider: WorkloadIdentityCredentialProvider, fed: AzureFederatedEndpoint,
                             token_file: pathlib.Path, server: FakeIdentityServer) -> None:
    assert (provider.tenant_id, provider.client_id) == (fed.tenant_id, fed.client_id)
    assert provider.token_file == str(token_file)
    assert provider.token_url == f"{server.url}/{fed.tenant_id}/oauth2/v2.0/token"
    assert provider.provider_name == "azure.workload_identity"
    assert str(token_file) in repr(provider)


def test_the_file_is_re_read_for_every_fetch(
    fed: AzureFederatedEndpoint, provider: WorkloadIdentityCredentialProvider, token_file: pathlib.Path
) -> None:
    provider.resolve()
    first = exposed(fed.requests[0].form["client_assertion"])
    fed.write_federated_token(token_file, lifetime=7200)  # the kubelet rotates the projected token
    rotated = token_file.read_text().strip()
    assert rotated != first

    provider.resolve(force_refresh=True)
    assert exposed(fed.requests[1].form["client_assertion"]) == rotated


def test_with_scope_keeps_the_token_file(
    fed: AzureFederatedEndpoint, provider: WorkloadIdentityCredentialProvider
) -> None:
    other = provider.with_scope(MANAGEMENT)
    assert isinstance(other, WorkloadIdentityCredentialProvider)
    assert (other.scope, other.token_file) == (MANAGEMENT, provider.token_file)
    token = other.resolve()
    assert fed.check_token(token.token, audience="https://management.azure.com")
    assert fed.requests[0].form["scope"] == MANAGEMENT


# -- the token file --------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "says"), [
    ("missing", "does not exist"), ("empty", "is empty"), ("whitespace", "is empty"), ("directory", "is a directory"),
])
def test_an_unusable_file_is_a_source_error_naming_the_path(
    server: FakeIdentityServer, fed: AzureFederatedEndpoint, tmp_path: pathlib.Path, kind: str, says: str
) -> None:
    path = tmp_path / "azure-identity-token"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "whitespace":
        path.write_bytes(b" \n\t\n")
    elif kind == "directory":
        path.mkdir()
    with server.provider("azure.workload_identity", token_file=str(path)) as p, \
            pytest.raises(CredentialSourceError, match=says) as caught:
        p.resolve()
    assert str(path) in str(caught.value)
    assert caught.value.retryable is True
    assert fed.request_count == 0


def test_an_empty_file_is_transient_a_short_pause_then_the_rewritten_file_is_used(
    server: FakeIdentityServer, fed: AzureFederatedEndpoint, tmp_path: pathlib.Path, clock: FakeClock,
    fake_sleep: FakeSleep,
) -> None:
    path = tmp_path / "azure-identity-token"
    path.write_bytes(b"")  # the kubelet is mid-rotation
    with server.provider("azure.workload_identity", token_file=str(path), clock=clock, sleep=fake_sleep) as p:
        with pytest.raises(CredentialSourceError):
            p.resolve()
        fed.write_federated_token(path)
        with pytest.raises(CredentialSourceError):  # inside the short pause: the failure is remembered
            p.resolve()
        clock.advance(RefreshPolicy().retry_when_unusable + 0.1)
        assert isinstance(p.resolve(), BearerToken)
    assert fed.request_count == 1


# -- what Entra ID refuses -------------------------------------------------------------------


def _refused(server: FakeIdentityServer, path: str, **options: Any) -> TokenEndpointError:
    with server.provider("azure.workload_identity", token_file=path, **options) as p, \
            pytest.raises(TokenEndpointError) as caught:
        p.resolve()
    return caught.value


def test_an_expired_token_is_aadsts700024(server: FakeIdentityServer, fed: AzureFederatedEndpoint) -> None:
    error = _refused(server, fed.write_federated_token(lifetime=-60))
    assert (error.status_code, error.error_code, error.retryable) == (401, "AADSTS700024", False)
    assert "not within its valid time range" in str(error)


@pytest.mark.parametrize("claim", [{"subject": "system:serviceaccount:other:sa"}, {"audience": "api://other"},
                                   {"issuer": "https://elsewhere.example/"}])
def test_a_token_no_federated_credential_trusts_is_aadsts70021(
    server: FakeIdentityServer, fed: AzureFederatedEndpoint, claim: dict[str, str]
) -> None:
    error = _refused(server, fed.write_federated_token(**claim))
    assert (error.status_code, error.error_code) == (400, "AADSTS70021")
    assert "No matching federated identity record" in str(error)


def test_a_credential_added_for_another_subject_is_trusted(
    server: FakeIdentityServer, fed: AzureFederatedEndpoint
) -> None:
    fed.add_federated_credential(fed.client_id, issuer=fed.issuer, subject="system:serviceaccount:jobs:runner")
    path = fed.write_federated_token(subject="system:serviceaccount:jobs:runner")
    with server.provider("azure.workload_identity", token_file=path) as p:
        assert isinstance(p.resolve(), BearerToken)


def test_a_token_signed_with_an_old_key_is_refused(server: FakeIdentityServer, fed: AzureFederatedEndpoint) -> None:
    path = fed.write_federated_token()
    fed.rotate_signing_key()
    assert _refused(server, path).error_code == "AADSTS50027"


def test_an_unknown_app_is_aadsts700016(server: FakeIdentityServer, fed: AzureFederatedEndpoint) -> None:
    error = _refused(server, fed.write_federated_token(), client_id=str(uuid.uuid4()))
    assert error.error_code == "AADSTS700016"


def test_an_app_without_federated_credentials_is_aadsts70021(
    server: FakeIdentityServer, fed: AzureFederatedEndpoint
) -> None:
    fed.remove_federated_credentials()
    assert _refused(server, fed.write_federated_token()).error_code == "AADSTS70021"


# -- from_env ------------------------------------------------------------------------------


def test_from_env_builds_a_working_provider(fed: AzureFederatedEndpoint, tmp_path: pathlib.Path) -> None:
    env = {key: f" {value}\n" for key, value in fed.environ(tmp_path).items()}
    with WorkloadIdentityCredentialProvider.from_env(env) as p:
        assert p.token_file == str(tmp_path / "azure-identity-token")
        assert p.authority_host == fed.server.url
        assert isinstance(p.resolve(), BearerToken)


def test_from_env_reads_os_environ_by_default(
    fed: AzureFederatedEndpoint, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in fed.environ(tmp_path).items():
        monkeypatch.setenv(key, value)
    with WorkloadIdentityCredentialProvider.from_env() as p:
        assert isinstance(p.resolve(), BearerToken)


@pytest.mark.parametrize("value", [None, "", "  \n"])
def test_from_env_without_the_token_file_is_source_not_configured(value: str | None) -> None:
    env = {"AZURE_TENANT_ID": GUID, "AZURE_CLIENT_ID": "app"}
    if value is not None:
        env["AZURE_FEDERATED_TOKEN_FILE"] = value
    with pytest.raises(SourceNotConfigured, match="AZURE_FEDERATED_TOKEN_FILE is not set"):
        WorkloadIdentityCredentialProvider.from_env(env)


def test_from_env_with_the_file_but_no_ids_is_a_configuration_error_naming_them() -> None:
    with pytest.raises(ConfigurationError) as caught:
        WorkloadIdentityCredentialProvider.from_env({"AZURE_FEDERATED_TOKEN_FILE": "/var/run/token"})
    assert not isinstance(caught.value, SourceNotConfigured)  # a chain must not skip a half-configured source
    assert "AZURE_TENANT_ID and AZURE_CLIENT_ID are not set" in str(caught.value)


def test_from_env_authority_host(tmp_path: pathlib.Path) -> None:
    env = {"AZURE_TENANT_ID": GUID, "AZURE_CLIENT_ID": "app", "AZURE_FEDERATED_TOKEN_FILE": str(tmp_path / "t"),
           "AZURE_AUTHORITY_HOST": "login.microsoftonline.us"}
    provider = WorkloadIdentityCredentialProvider.from_env(env)
    assert provider.token_url == f"https://login.microsoftonline.us/{GUID}/oauth2/v2.0/token"


def test_a_chain_skips_it_when_the_webhook_did_not_run() -> None:
    chain = ChainProvider([
        ("workload identity", lambda: WorkloadIdentityCredentialProvider.from_env({})),
        ("static", lambda: StaticTokenProvider("eyJ.static")),
    ])
    token = chain.resolve()
    assert isinstance(token, BearerToken) and token.token.expose_secret() == "eyJ.static"


# -- validation at construction ------------------------------------------------------------


@pytest.mark.parametrize(("args", "match"), [
    (("common", "app", "/t"), "tenant_id"),
    ((GUID, "", "/t"), "client_id"),
    ((GUID, "app", ""), "token_file"),
    ((GUID, "app", None), "token_file"),
    ((GUID, "app", "/t\x00x"), "token_file"),
])
def test_bad_arguments_are_refused(args: tuple[Any, ...], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        WorkloadIdentityCredentialProvider(*args)


def test_bad_scope_and_authority_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="scope"):
        WorkloadIdentityCredentialProvider(GUID, "app", "/t", scope="User.Read")
    with pytest.raises(ConfigurationError, match="authority_host"):
        WorkloadIdentityCredentialProvider(GUID, "app", "/t", authority_host="http://login.example.com")


def test_the_path_may_be_a_pathlike(tmp_path: pathlib.Path) -> None:
    assert WorkloadIdentityCredentialProvider(GUID, "app", tmp_path / "t").token_file == os.fspath(tmp_path / "t")


# -- the federated token never leaks ---------------------------------------------------------


def test_the_federated_token_never_appears_in_reprs_errors_or_logs(
    server: FakeIdentityServer, fed: AzureFederatedEndpoint, clock: FakeClock, fake_sleep: FakeSleep,
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    good_path = fed.write_federated_token()
    expired_path = fed.write_federated_token(lifetime=-60)
    good = server.provider("azure.workload_identity", token_file=good_path, clock=clock, sleep=fake_sleep)
    bad = server.provider("azure.workload_identity", token_file=expired_path, clock=clock, sleep=fake_sleep)
    token = good.resolve()
    with pytest.raises(TokenEndpointError) as caught:
        bad.resolve()
    error = caught.value
    assertions = [pathlib.Path(p).read_text().strip() for p in (good_path, expired_path)]

    texts = [repr(good), str(good), repr(bad), repr(token), str(error), repr(error), repr(error.args),
             "".join(traceback.format_exception(error)), debug_logs.text, repr(fed.requests), repr(good.stats())]
    assert any(record.levelno == logging.DEBUG for record in debug_logs.records)
    assert_no_secret(texts, [*assertions, token.token.expose_secret()])


def test_an_assertion_echoed_by_the_server_is_masked(
    fed: AzureFederatedEndpoint, provider: WorkloadIdentityCredentialProvider, token_file: pathlib.Path
) -> None:
    assertion = token_file.read_text().strip()
    body = {"error": "invalid_client", "error_codes": [50027],
            "error_description": f"AADSTS50027: JWT token is invalid: {assertion}"}
    fed.fail(401, json.dumps(body))
    with pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert_no_secret([str(caught.value), str(caught.value.description)], [assertion])


# -- fidelity: azure-identity's WorkloadIdentityCredential against the same fake ---------------


def test_azure_identity_gets_a_token_from_the_fake_and_sends_the_same_fields(tmp_path: pathlib.Path) -> None:
    identity = pytest.importorskip("azure.identity")
    pytest.importorskip("cryptography")
    with FakeIdentityServer(https=True) as server:
        fed = server.azure_federated
        path = fed.write_federated_token(tmp_path / "azure-identity-token")
        theirs = identity.WorkloadIdentityCredential(
            tenant_id=fed.tenant_id, client_id=fed.client_id, token_file_path=str(path),
            authority=server.url, connection_verify=server.ca_bundle,
        )
        their_token = theirs.get_token(DEFAULT_SCOPE)
        with server.provider("azure.workload_identity", token_file=path) as ours:
            our_token = ours.resolve()

        assert fed.check_token(their_token.token) and fed.check_token(our_token.token)
        their_request, our_request = fed.requests
        assert their_request.path == our_request.path
        assert set(their_request.form) == set(our_request.form)
        for field in ("grant_type", "client_id", "scope", "client_assertion_type"):
            assert their_request.form[field] == our_request.form[field], field
        # azure-identity sends the file verbatim (a trailing newline included); literauth strips it.
        assert exposed(their_request.form["client_assertion"]).strip() == exposed(our_request.form["client_assertion"])
