"""Service-account impersonation over real HTTP to the fake IAM Credentials endpoint."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

from literauth import (
    ConfigurationError,
    ImpersonatedCredentialProvider,
    StaticTokenProvider,
    TokenEndpointError,
    VertexOAuthCredentialProvider,
)
from literauth.testing import FakeIdentityServer, SyncedClock
from literauth.testing.google.iam import DELEGATE, TARGET, GoogleIamEndpoint
from literauth.testing.google.sts import GoogleStsEndpoint

from ..conftest import FakeSleep

CLOUD = "https://www.googleapis.com/auth/cloud-platform"
IAM_SCOPE = "https://www.googleapis.com/auth/iam"


def impersonate(server: FakeIdentityServer, iam: GoogleIamEndpoint, source: Any = None, **kwargs: Any
                ) -> ImpersonatedCredentialProvider:
    source = source if source is not None else StaticTokenProvider(iam.issue_source_token())
    kwargs.setdefault("iam_endpoint", iam.base_url)
    kwargs.setdefault("session", server.session())
    kwargs.setdefault("sleep", FakeSleep())
    return ImpersonatedCredentialProvider(source, kwargs.pop("target", TARGET), **kwargs)


def test_the_request_carries_the_source_token_scopes_and_lifetime(server: FakeIdentityServer,
                                                                  iam: GoogleIamEndpoint) -> None:
    source_token = iam.issue_source_token()
    clock = SyncedClock(server)
    with impersonate(server, iam, StaticTokenProvider(source_token), lifetime=900, clock=clock,
                     scopes=[CLOUD, "https://www.googleapis.com/auth/generative-language"]) as provider:
        token = provider.resolve()
        assert provider.endpoint == iam.generate_url()
    call = iam.requests[-1]
    assert call.path == f"/v1/projects/-/serviceAccounts/{TARGET}:generateAccessToken"
    assert call.header("Authorization") == f"Bearer {source_token}"
    assert call.header("Content-Type") == "application/json"
    assert call.json == {"scope": [CLOUD, "https://www.googleapis.com/auth/generative-language"], "lifetime": "900s"}
    assert token.token.expose_secret() == iam.issued_tokens[-1]
    assert token.expires_at_epoch == pytest.approx(clock.now + 900, abs=2)


def test_a_service_account_source_is_resolved_through_its_own_cache(server: FakeIdentityServer,
                                                                     iam: GoogleIamEndpoint) -> None:
    source = server.vertex_provider(scopes=IAM_SCOPE)
    with source, impersonate(server, iam, source) as provider:
        provider.resolve()
        provider.resolve(force_refresh=True)
    assert server.google.request_count == 1 and iam.request_count == 2  # the source token was reused
    assert {r.header("Authorization") for r in iam.requests} == {f"Bearer {server.google.issued_tokens[0]}"}
    assert server.google.accepted[0].claims["scope"] == IAM_SCOPE


def test_delegates_become_resource_names(server: FakeIdentityServer, iam: GoogleIamEndpoint) -> None:
    with impersonate(server, iam, delegates=[DELEGATE]) as provider:
        provider.resolve()
        assert provider.delegates == (DELEGATE,)
    assert iam.requests[-1].json["delegates"] == [f"projects/-/serviceAccounts/{DELEGATE}"]


def test_impersonation_chains(server: FakeIdentityServer, iam: GoogleIamEndpoint) -> None:
    """The target's token pays for another impersonation: the fake accepts tokens it issued."""
    with impersonate(server, iam, scopes=IAM_SCOPE) as first, impersonate(server, iam, first, target=DELEGATE) as second:
        second.resolve()
    assert iam.requests[-1].header("Authorization") == f"Bearer {iam.issued_tokens[0]}"


@pytest.mark.parametrize(("arrange", "status", "code", "hint"), [
    (lambda iam: iam.service_accounts.discard(TARGET), 404, "NOT_FOUND", "does not exist"),
    (lambda iam: setattr(iam, "max_lifetime", 600), 400, "INVALID_ARGUMENT", ""),
])
def test_refusals_carry_googles_status_and_a_hint(server: FakeIdentityServer, iam: GoogleIamEndpoint,
                                                   arrange: Any, status: int, code: str, hint: str) -> None:
    arrange(iam)
    with impersonate(server, iam) as provider, pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert caught.value.status_code == status and caught.value.error_code == code and hint in str(caught.value)
    assert not caught.value.retryable


def test_a_bearer_the_fake_never_issued_is_unauthenticated(server: FakeIdentityServer, iam: GoogleIamEndpoint) -> None:
    unknown = StaticTokenProvider("ya29.not-issued-by-any-fake")
    with impersonate(server, iam, unknown) as provider, pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert caught.value.error_code == "UNAUTHENTICATED" and "ya29.not-issued-by-any-fake" not in str(caught.value)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"lifetime": 0}, "lifetime must be a whole number"),
    ({"lifetime": 43201}, "lifetime must be a whole number"),
    ({"lifetime": 1.5}, "lifetime must be a whole number"),
    ({"target": "not an email"}, "target_principal must be a service-account e-mail"),
    ({"scopes": ""}, "scopes must be one or more"),
    ({"iam_endpoint": "http://iam.example.com"}, "must use https"),
])
def test_bad_arguments_are_configuration_errors(server: FakeIdentityServer, iam: GoogleIamEndpoint,
                                                kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        impersonate(server, iam, **kwargs)


def test_a_source_that_is_not_a_provider_is_refused(iam: GoogleIamEndpoint) -> None:
    with pytest.raises(ConfigurationError, match="source must be a credential provider"):
        ImpersonatedCredentialProvider("ya29.token", TARGET)  # type: ignore[arg-type]


def test_with_scope_keeps_the_source_and_target(server: FakeIdentityServer, iam: GoogleIamEndpoint) -> None:
    with impersonate(server, iam) as provider:
        other = provider.with_scope("https://www.googleapis.com/auth/devstorage.read_only")
        with other:
            other.resolve()
        assert other.source is provider.source and other.service_account_email == TARGET
    assert iam.requests[-1].json["scope"] == ["https://www.googleapis.com/auth/devstorage.read_only"]


# -- the impersonated_service_account file ----------------------------------------------------------------


def test_a_file_with_an_external_account_source(server: FakeIdentityServer, iam: GoogleIamEndpoint,
                                                sts: GoogleStsEndpoint, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "impersonated.json"
    path.write_text(json.dumps(iam.impersonation_info(sts.config())))
    with ImpersonatedCredentialProvider.from_file(path, session=server.session()) as provider:
        provider.resolve()
        assert provider.endpoint == iam.generate_url()  # the file's host is honoured (google-auth ignores it)
    assert sts.requests[-1].form["scope"] == IAM_SCOPE  # the source is asked for the iam scope
    assert iam.requests[-1].header("Authorization") == f"Bearer {sts.issued_tokens[-1]}"


def test_a_file_with_a_service_account_source(server: FakeIdentityServer, iam: GoogleIamEndpoint) -> None:
    info = iam.impersonation_info(server.google.register_service_account())
    with ImpersonatedCredentialProvider.from_info(info, scopes=CLOUD, session=server.session()) as provider:
        provider.resolve()
        assert isinstance(provider.source, VertexOAuthCredentialProvider)
    assert server.google.accepted[-1].claims["scope"] == IAM_SCOPE


def test_from_env_reads_google_application_credentials(server: FakeIdentityServer, iam: GoogleIamEndpoint,
                                                       tmp_path: pathlib.Path) -> None:
    with ImpersonatedCredentialProvider.from_env(iam.environ(tmp_path), session=server.session()) as provider:
        provider.resolve()
    assert iam.request_count == 1 and len(iam.source_requests) == 1


@pytest.mark.parametrize(("change", "message"), [
    ({"type": "external_account"}, "not 'impersonated_service_account'"),
    ({"service_account_impersonation_url": None}, "is missing"),
    ({"service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/nothing"}, "generateAccessToken"),
    ({"source_credentials": None}, "'source_credentials' must be an object"),
    ({"source_credentials": {"type": "gdch_service_account"}}, "supported types are"),
    ({"delegates": "a@b.iam.gserviceaccount.com"}, "'delegates' must be a list"),
])
def test_bad_files_name_the_problem(iam: GoogleIamEndpoint, sts: GoogleStsEndpoint, change: dict[str, Any],
                                    message: str) -> None:
    info = {**iam.impersonation_info(sts.config()), **change}
    with pytest.raises(ConfigurationError, match=message):
        ImpersonatedCredentialProvider.from_info(info)


def test_cache_identity_is_the_sources_plus_the_target(server: FakeIdentityServer, iam: GoogleIamEndpoint) -> None:
    assert impersonate(server, iam)._cache_identity() is None  # a static source has no identity to share

    class Identified(StaticTokenProvider):
        def _cache_identity(self) -> tuple[dict[str, str], bytes | None]:
            return {"client": "sa@p.iam.gserviceaccount.com"}, b"private key bytes"

    source = Identified(iam.issue_source_token())
    one = impersonate(server, iam, source)._cache_identity()
    two = impersonate(server, iam, source, target=DELEGATE)._cache_identity()
    assert one is not None and two is not None
    assert one[0] != two[0] and one[0]["target"] == TARGET and one[0]["source.client"].startswith("sa@")
    assert one[1] == two[1] == b"private key bytes"
