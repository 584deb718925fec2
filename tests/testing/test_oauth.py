"""`OAuthTokenEndpoint` and its helpers: the form table, b64url, scripted errors, the campaign bodies."""

from __future__ import annotations

import base64
import json

import pytest

from literauth import MalformedResponseError, TokenEndpointError
from literauth._policy import RetryPolicy
from literauth._registry import SPECS
from literauth.testing import FakeIdentityServer, FormField, Refusal, b64url
from literauth.testing._oauth import b64url_decode

from ..conftest import FakeSleep

NAMES = [spec.name for spec in SPECS if spec.fake is not None]


def _refuse(text: str) -> Refusal:
    return Refusal("invalid_request", text)


ROWS = (
    FormField("grant_type", lambda: _refuse("no grant"), frozenset({"client_credentials"}),
              lambda value: Refusal("unsupported_grant_type", f"not {value}")),
    FormField("client_id", lambda: _refuse("no client")),
    FormField("scope", None, frozenset({"a", "b"})),  # optional, no refusal of its own for a bad value
)


@pytest.mark.parametrize(("form", "expected"), [
    ({}, ("invalid_request", "no grant")),
    ({"grant_type": ""}, ("invalid_request", "no grant")),
    ({"grant_type": "password"}, ("unsupported_grant_type", "not password")),
    ({"grant_type": "client_credentials"}, ("invalid_request", "no client")),
    ({"grant_type": "client_credentials", "client_id": "c", "scope": "a"}, None),
    ({"grant_type": "client_credentials", "client_id": "c"}, None),
    ({"grant_type": "client_credentials", "client_id": "c", "scope": "z"}, None),
])
def test_form_rows_are_checked_in_order(form: dict[str, str], expected: tuple[str, str] | None) -> None:
    try:
        for row in ROWS:
            row.check(form)
    except Refusal as refusal:
        assert (refusal.error, refusal.description) == expected
    else:
        assert expected is None


def test_a_required_row_without_its_own_wrong_value_refusal_uses_the_missing_one() -> None:
    row = FormField("assertion", lambda: _refuse("missing"), frozenset({"ok"}))
    with pytest.raises(Refusal, match="missing"):
        row.check({"assertion": "other"})
    row.check({"assertion": "ok"})


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xff\xfe\xfd", b"literauth" * 7, bytes(range(256))])
def test_b64url_is_unpadded_and_round_trips(data: bytes) -> None:
    text = b64url(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert b64url_decode(text) == data
    assert text == base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_azure_scripted_error_has_the_aadsts_shape(server: FakeIdentityServer) -> None:
    server.azure.fail_with("invalid_client", "Invalid client secret provided.", status=401, code=7000215)
    with server.azure_provider(sleep=FakeSleep()) as provider, pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert caught.value.error_code == "AADSTS7000215" and caught.value.status_code == 401


def test_azure_refusals_keep_their_codes_and_texts(server: FakeIdentityServer) -> None:
    answer = server.session().post(
        f"{server.url}/{server.azure.tenant_id}/oauth2/v2.0/token",
        data={"grant_type": "password"}, headers={"client-request-id": "not-a-guid"},
    )
    body = answer.json()
    assert answer.status_code == 400 and body["error"] == "unsupported_grant_type"
    assert body["error_codes"] == [70003]
    assert body["error_description"].startswith("AADSTS70003: The app requested an unsupported grant type 'password'.")
    assert answer.headers["x-ms-request-id"] == body["trace_id"]
    assert answer.headers["client-request-id"] == body["correlation_id"] != "not-a-guid"


def test_google_scripted_error_is_oauth_json(server: FakeIdentityServer) -> None:
    server.google.fail_with("invalid_grant", "Invalid JWT Signature.")
    with server.vertex_provider(sleep=FakeSleep()) as provider, pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert caught.value.error_code == "invalid_grant" and caught.value.status_code == 400
    answer = server.session().post(server.google.token_uri, data={"grant_type": "x"})
    assert answer.json() == {"error": "unsupported_grant_type", "error_description": "Invalid grant_type: x"}
    assert answer.headers["Cache-Control"].startswith("no-cache")


@pytest.mark.parametrize("name", NAMES)
def test_the_success_body_is_accepted_and_the_no_token_body_refused(server: FakeIdentityServer, name: str) -> None:
    endpoint = server.endpoint(name)
    options = {"sleep": FakeSleep(), "background_refresh": False, "retry": RetryPolicy(max_attempts=1), "cache": False}
    service = dict(endpoint.answer_headers)  # what the service sends with every answer (Metadata-Flavor)
    endpoint.fail(200, endpoint.success_body(), headers={"Content-Type": _type(endpoint.success_body()), **service})
    with server.provider(name, **options) as provider:
        assert provider.resolve().expires_at_epoch is not None
    endpoint.fail(200, endpoint.no_token_body(), headers={"Content-Type": _type(endpoint.no_token_body()), **service})
    with server.provider(name, **options) as provider, pytest.raises(MalformedResponseError):
        provider.resolve()


def _type(body: bytes) -> str:
    try:
        json.loads(body)
    except ValueError:
        return "text/xml"
    return "application/json"
