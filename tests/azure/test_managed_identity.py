"""ManagedIdentityCredentialProvider: validation, the IMDS and App Service wire formats over
loopback, retries, masking, and fidelity with azure-identity's ManagedIdentityCredential."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from literauth import ManagedIdentityCredentialProvider, RetryPolicy
from literauth._http import TokenResponse
from literauth.azure.managed_identity import IMDS_PATH, IMDS_RETRY, parse_token
from literauth.credentials import UTC, BearerToken
from literauth.errors import (
    ConfigurationError,
    MalformedResponseError,
    TokenEndpointError,
)
from literauth.testing import (
    AppServiceIdentityEndpoint,
    FakeIdentityServer,
    ImdsEndpoint,
    RecordedRequest,
    ServerCore,
)

from ..conftest import FakeSleep, assert_no_secret

AI = "https://cognitiveservices.azure.com"
MANAGEMENT = "https://management.azure.com/.default"
RESOURCE_ID = "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/x"


@pytest.fixture
def imds(server: FakeIdentityServer) -> ImdsEndpoint:
    return server.imds


@pytest.fixture
def app_service() -> Iterator[AppServiceIdentityEndpoint]:
    core = ServerCore([AppServiceIdentityEndpoint])
    core.start()
    endpoint = core.endpoints["azure_app_service"]
    assert isinstance(endpoint, AppServiceIdentityEndpoint)
    try:
        yield endpoint
    finally:
        core.stop()


# -- validation (no I/O) -------------------------------------------------------------------------


def test_defaults_target_imds_as_a_url_string_only() -> None:
    """Built with no override, the provider names 169.254.169.254 and connects nowhere (the guard would fail)."""
    for provider in (ManagedIdentityCredentialProvider(environ={}), ManagedIdentityCredentialProvider.from_env({})):
        with provider:
            assert provider.flavour == "imds"
            assert provider.token_url == "http://169.254.169.254" + IMDS_PATH
            assert provider.resource == AI
            assert provider.stats().token_requests == 0


@pytest.mark.parametrize("ids", [
    {"client_id": "a", "object_id": "b"},
    {"client_id": "a", "resource_id": RESOURCE_ID},
    {"object_id": "b", "resource_id": RESOURCE_ID},
])
def test_at_most_one_user_assigned_id(ids: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="at most one of client_id, object_id and resource_id"):
        ManagedIdentityCredentialProvider(environ={}, **ids)  # type: ignore[arg-type]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"client_id": ""}, "client_id must be a non-empty string"),
    ({"object_id": "a b"}, "object_id .* contains whitespace"),
    ({"resource_id": "userAssignedIdentities/x"}, "ARM resource id"),
    ({"scope": AI}, "must be a resource followed by '/.default'"),
    ({"endpoint": "http://imds.example"}, "plain http is only allowed on loopback or a cloud metadata service"),
    ({"endpoint": "http://127.0.0.1:1/?x=1"}, "without a query"),
])
def test_bad_arguments_are_configuration_errors(kwargs: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        ManagedIdentityCredentialProvider(environ={}, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("environ", "match"), [
    ({"IDENTITY_ENDPOINT": "http://127.0.0.1:1/msi/token"}, "IDENTITY_HEADER is not"),
    ({"IDENTITY_HEADER": "h"}, "IDENTITY_ENDPOINT is not"),
    ({"IDENTITY_ENDPOINT": "http://app.example/msi/token", "IDENTITY_HEADER": "h"}, "must use https"),
    ({"IDENTITY_ENDPOINT": "https://x", "IDENTITY_HEADER": "h", "IDENTITY_SERVER_THUMBPRINT": "t"}, "Service Fabric"),
    ({"MSI_ENDPOINT": "http://127.0.0.1:1"}, "MSI_ENDPOINT"),
    ({"AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://nmi.example"}, "AZURE_POD_IDENTITY_AUTHORITY_HOST must use https"),
])
def test_unusable_environments_are_configuration_errors(environ: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        ManagedIdentityCredentialProvider.from_env(environ)


def test_from_env_selects_the_flavour_and_the_user_assigned_identity() -> None:
    app = {"IDENTITY_ENDPOINT": "http://127.0.0.1:1/msi/token", "IDENTITY_HEADER": "h", "AZURE_CLIENT_ID": "cid"}
    with ManagedIdentityCredentialProvider.from_env(app) as provider:
        assert provider.flavour == "app_service" and provider.token_url == app["IDENTITY_ENDPOINT"]
        assert "client_id='cid'" in repr(provider)
    pod = {"AZURE_POD_IDENTITY_AUTHORITY_HOST": "http://127.0.0.1:2/", "AZURE_AD_SCOPE": MANAGEMENT}
    with ManagedIdentityCredentialProvider.from_env(pod) as provider:
        assert provider.flavour == "imds" and provider.token_url == "http://127.0.0.1:2" + IMDS_PATH
        assert provider.resource == "https://management.azure.com"


def test_an_explicit_endpoint_wins_over_app_service_variables() -> None:
    app = {"IDENTITY_ENDPOINT": "http://127.0.0.1:1/msi/token", "IDENTITY_HEADER": "h"}
    with ManagedIdentityCredentialProvider(endpoint="http://127.0.0.1:3", environ=app) as provider:
        assert provider.flavour == "imds" and provider.token_url == "http://127.0.0.1:3" + IMDS_PATH


# -- expires_on formats (pure) -------------------------------------------------------------------


def _answer(body: dict[str, object], sent_at: float = 1_700_000_000.0) -> TokenResponse:
    return TokenResponse(200, {}, json.dumps(body).encode(), sent_at, 0.01, "azure.managed_identity", "127.0.0.1")


@pytest.mark.parametrize(("fields", "expected"), [
    ({"expires_on": "1700003600"}, 1_700_003_600),
    ({"expires_on": 1700003600}, 1_700_003_600),
    ({"expires_on": "12/01/2026 10:00:00 +00:00"}, datetime(2026, 12, 1, 10, tzinfo=UTC).timestamp()),
    ({"expires_on": "09/14/2017 01:30:00 PM +00:00"}, datetime(2017, 9, 14, 13, 30, tzinfo=UTC).timestamp()),
    ({"expires_on": "12/01/2026 12:00:00 +02:00"}, datetime(2026, 12, 1, 10, tzinfo=UTC).timestamp()),
    ({"expires_on": "1700003600", "expires_in": "60"}, 1_700_003_600),  # expires_on is preferred
    ({"expires_in": "86399"}, 1_700_086_399),
])
def test_expires_on_formats(fields: dict[str, object], expected: float) -> None:
    token = parse_token(_answer({"access_token": "eyJ.x.y", "token_type": "Bearer", **fields}))
    assert token.expires_at_epoch == expected


@pytest.mark.parametrize("fields", [{}, {"expires_on": "soon"}, {"expires_on": "13/45/2026 10:00:00 +00:00"}])
def test_an_unreadable_expiry_is_malformed(fields: dict[str, object]) -> None:
    with pytest.raises(MalformedResponseError, match="expires_on"):
        parse_token(_answer({"access_token": "eyJ.x.y", **fields}))


# -- the wire, over loopback ------------------------------------------------------------------------


def test_imds_wire_format(server: FakeIdentityServer, imds: ImdsEndpoint) -> None:
    with server.managed_identity_provider() as provider:
        token = provider.resolve()
    assert imds.check_token(token.token, audience=AI)
    (request,) = imds.requests
    assert (request.method, request.path) == ("GET", "/metadata/identity/oauth2/token")
    assert request.query == {"api-version": "2018-02-01", "resource": AI}
    assert request.header("Metadata") == "true"
    assert request.header("X-IDENTITY-HEADER") is None and request.form == {}


@pytest.mark.parametrize(("argument", "parameter"), [
    ("client_id", "client_id"), ("object_id", "object_id"), ("resource_id", "msi_res_id"),
])
def test_imds_user_assigned_parameters(server: FakeIdentityServer, imds: ImdsEndpoint,
                                       argument: str, parameter: str) -> None:
    value = getattr(imds.user_assigned, argument)
    with server.managed_identity_provider(**{argument: value}) as provider:
        token = provider.resolve()
    assert imds.requests[0].query == {"api-version": "2018-02-01", "resource": AI, parameter: value}
    assert json.loads(_payload(token))["appid"] == imds.user_assigned.client_id


def _payload(token: BearerToken) -> bytes:
    import base64
    part = token.token.expose_secret().split(".")[1]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@pytest.mark.parametrize(("argument", "parameter"), [
    (None, None), ("client_id", "client_id"), ("object_id", "object_id"), ("resource_id", "mi_res_id"),
])
def test_app_service_wire_format(app_service: AppServiceIdentityEndpoint, argument: str | None,
                                 parameter: str | None) -> None:
    ids = {} if argument is None else {argument: getattr(app_service.user_assigned, argument)}
    with app_service.make_provider(scope=MANAGEMENT, **ids) as provider:
        assert provider.flavour == "app_service"
        token = provider.resolve()
    assert app_service.check_token(token.token, audience="https://management.azure.com")
    (request,) = app_service.requests
    assert (request.method, request.path) == ("GET", "/msi/token")
    expected = {"api-version": "2019-08-01", "resource": "https://management.azure.com"}
    if parameter is not None:
        expected[parameter] = ids[str(argument)]
    assert request.query == expected
    assert request.header("X-IDENTITY-HEADER") == app_service.identity_header.expose_secret()
    assert request.header("Metadata") == "true"


def test_app_service_legacy_dates_parse(app_service: AppServiceIdentityEndpoint) -> None:
    app_service.legacy_dates = True
    with app_service.make_provider() as provider:
        token = provider.resolve()
    assert token.expires_at_epoch is not None
    assert abs(token.expires_at_epoch - (app_service.now() + 3600)) < 2


def test_with_scope_keeps_flavour_and_identity(app_service: AppServiceIdentityEndpoint) -> None:
    client_id = app_service.user_assigned.client_id
    with app_service.make_provider(client_id=client_id) as provider, provider.with_scope(MANAGEMENT) as other:
        other.resolve()
        assert other.flavour == "app_service" and other.scope == MANAGEMENT
    assert app_service.requests[0].query["client_id"] == client_id


def test_a_wrong_identity_header_is_refused_401(app_service: AppServiceIdentityEndpoint) -> None:
    env = {**app_service.environ(), "IDENTITY_HEADER": "not-the-header-value-at-all"}
    with ManagedIdentityCredentialProvider(environ=env) as provider, pytest.raises(TokenEndpointError) as info:
        provider.resolve()
    assert info.value.status_code == 401


def test_the_identity_header_is_masked_when_echoed(
    app_service: AppServiceIdentityEndpoint, debug_logs: pytest.LogCaptureFixture
) -> None:
    header = app_service.identity_header.expose_secret()
    body = json.dumps({"statusCode": 400, "message": f"header {header} is not valid for this app"})
    app_service.fail(400, body, headers={"Content-Type": "application/json"})
    with app_service.make_provider(sleep=FakeSleep()) as provider:
        with pytest.raises(TokenEndpointError) as info:
            provider.resolve()
        texts = [str(info.value), repr(info.value), repr(vars(info.value)), repr(provider), debug_logs.text]
    assert "is not valid for this app" in str(info.value)
    assert_no_secret(texts, [header])


# -- retries ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["gone", "throttle", "outage"])
def test_transient_imds_answers_are_retried(server: FakeIdentityServer, imds: ImdsEndpoint, fault: str) -> None:
    getattr(imds, fault)(times=2)
    sleep = FakeSleep()
    with server.managed_identity_provider(sleep=sleep) as provider:
        assert isinstance(provider.resolve(), BearerToken)
    assert imds.request_count == 3 and len(sleep.calls) == 2


def test_imds_rides_out_a_long_update_by_default(server: FakeIdentityServer, imds: ImdsEndpoint) -> None:
    """Azure asks for at least 70 s of retries on 410; IMDS's default budget gives up to 10 attempts in 72 s."""
    imds.gone(times=8)
    sleep = FakeSleep()
    with server.managed_identity_provider(sleep=sleep) as provider:
        assert isinstance(provider.resolve(), BearerToken)
    assert imds.request_count == 9 and len(sleep.calls) == 8
    assert sum(sleep.calls) <= IMDS_RETRY.total_timeout
    assert provider._settings.budget == IMDS_RETRY.total_timeout + 5 + 15  # waiters wait that long too


def test_an_explicit_retry_policy_wins_over_imds_budget(server: FakeIdentityServer, imds: ImdsEndpoint) -> None:
    imds.gone(times=5)
    with server.managed_identity_provider(sleep=FakeSleep(), retry=RetryPolicy(max_attempts=2)) as provider, \
            pytest.raises(TokenEndpointError):
        provider.resolve()
    assert imds.request_count == 2


def test_404_is_retried(server: FakeIdentityServer, imds: ImdsEndpoint) -> None:
    imds.fail(404, "", times=1)
    with server.managed_identity_provider(sleep=FakeSleep()) as provider:
        provider.resolve()
    assert imds.request_count == 2


def test_identity_not_found_is_not_retried_and_says_what_to_assign(
    server: FakeIdentityServer, imds: ImdsEndpoint
) -> None:
    imds.system_assigned = False
    with server.managed_identity_provider(sleep=FakeSleep()) as provider, pytest.raises(TokenEndpointError) as info:
        provider.resolve()
    assert imds.request_count == 1
    assert info.value.status_code == 400 and not info.value.retryable
    assert "Identity not found" in str(info.value) and "no managed identity assigned" in str(info.value)


def test_an_unknown_user_assigned_id_is_identity_not_found(server: FakeIdentityServer, imds: ImdsEndpoint) -> None:
    unknown = "00000000-0000-0000-0000-000000000000"
    with server.managed_identity_provider(client_id=unknown) as provider, pytest.raises(TokenEndpointError) as info:
        provider.resolve()
    assert "Identity not found" in str(info.value) and imds.request_count == 1


def test_the_fake_imds_refuses_a_request_without_the_metadata_header(server: FakeIdentityServer) -> None:
    session = server.session()
    answer = session.get(server.url + IMDS_PATH, params={"api-version": "2018-02-01", "resource": AI}, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["error_description"] == "Required metadata header not specified"


def test_a_black_hole_costs_the_read_timeout_per_attempt(server: FakeIdentityServer, imds: ImdsEndpoint) -> None:
    imds.black_hole(5.0, times=1)
    with server.managed_identity_provider(sleep=FakeSleep(), timeout=(1.0, 0.2)) as provider:
        assert isinstance(provider.resolve(), BearerToken)  # the second attempt is answered
    assert imds.request_count == 2


# -- fidelity with azure-identity -----------------------------------------------------------------

@pytest.fixture
def identity() -> Any:
    """azure.identity (in the test extra); only the fidelity tests skip without it."""
    return pytest.importorskip("azure.identity")


def _same_request(ours: RecordedRequest, theirs: RecordedRequest) -> None:
    """Method, path, query (keys and values) and the headers the service reads are the same."""
    assert (ours.method, ours.path) == (theirs.method, theirs.path)
    assert sorted(ours.query) == sorted(theirs.query)
    assert ours.query == theirs.query
    for header in ("Metadata", "X-IDENTITY-HEADER"):
        assert ours.header(header) == theirs.header(header), header


@pytest.mark.parametrize("argument", [None, "client_id", "object_id", "resource_id"])
def test_imds_requests_match_azure_identity(
    server: FakeIdentityServer, imds: ImdsEndpoint, monkeypatch: pytest.MonkeyPatch, argument: str | None,
    identity: Any,
) -> None:
    for name in ("IDENTITY_ENDPOINT", "IDENTITY_HEADER", "MSI_ENDPOINT", "AZURE_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_POD_IDENTITY_AUTHORITY_HOST", server.url)
    ids = {} if argument is None else {argument: getattr(imds.user_assigned, argument)}
    if argument == "client_id":
        peer = identity.ManagedIdentityCredential(client_id=ids["client_id"])
    else:
        peer = identity.ManagedIdentityCredential(identity_config=ids or None)
    with peer:
        theirs = peer.get_token(f"{AI}/.default")
    assert imds.check_token(theirs.token, audience=AI)
    with server.managed_identity_provider(**ids) as ours:
        ours.resolve()
    peer_request, our_request = imds.requests
    _same_request(our_request, peer_request)


@pytest.mark.parametrize("argument", [None, "client_id", "object_id", "resource_id"])
def test_app_service_requests_match_azure_identity(
    app_service: AppServiceIdentityEndpoint, monkeypatch: pytest.MonkeyPatch, argument: str | None,
    identity: Any,
) -> None:
    for name in ("AZURE_POD_IDENTITY_AUTHORITY_HOST", "MSI_ENDPOINT", "IDENTITY_SERVER_THUMBPRINT", "AZURE_CLIENT_ID"):
        monkeypatch.delenv(name, raising=False)
    for name, value in app_service.environ().items():
        monkeypatch.setenv(name, value)
    ids = {} if argument is None else {argument: getattr(app_service.user_assigned, argument)}
    if argument == "client_id":
        peer = identity.ManagedIdentityCredential(client_id=ids["client_id"])
    else:
        peer = identity.ManagedIdentityCredential(identity_config=ids or None)
    with peer:
        theirs = peer.get_token(f"{AI}/.default")
    assert app_service.check_token(theirs.token, audience=AI)
    with ManagedIdentityCredentialProvider(**ids) as ours:  # reads os.environ, as azure-identity does
        assert ours.flavour == "app_service"
        ours.resolve()
    peer_request, our_request = app_service.requests
    _same_request(our_request, peer_request)


def test_logging_shows_no_identity_header(app_service: AppServiceIdentityEndpoint,
                                          debug_logs: pytest.LogCaptureFixture) -> None:
    with app_service.make_provider() as provider:
        provider.resolve()
    assert logging.getLogger("literauth").isEnabledFor(logging.DEBUG)
    assert_no_secret([debug_logs.text, repr(provider)], [app_service.identity_header.expose_secret()])
