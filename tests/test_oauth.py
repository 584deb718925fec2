"""`_oauth`: the grant helpers against a loopback endpoint checking RFC forms, and the answer parsers."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime

import pytest

from literauth import (
    ConfigurationError,
    MalformedResponseError,
    SecretString,
    TokenEndpointError,
)
from literauth._http import ErrorDetails, TokenFetcher, TokenResponse
from literauth._oauth import (
    JWT_BEARER_ASSERTION_TYPE,
    JWT_BEARER_GRANT,
    TOKEN_EXCHANGE_GRANT,
    client_credentials,
    jwt_bearer,
    parse_bearer_token,
    parse_json_object,
    parse_oauth_error,
    refresh_token,
    token_exchange,
)
from literauth.credentials import UTC
from literauth.testing import Endpoint, RecordedRequest, Reply, ServerCore

from .conftest import FakeSleep, assert_no_secret

SECRET = "client-secret-value-0123456789-abcdef"
ASSERTION = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.signature-0123456789"
REFRESH = "1//refresh-token-0123456789abcdef"
SUBJECT = "subject-token-from-the-idp-0123456789"

# RFC 6749 §4.4.2, RFC 7523 §2.1, RFC 6749 §6, RFC 8693 §2.1: required and allowed parameters per grant
GRANTS: dict[str, tuple[set[str], set[str]]] = {
    "client_credentials": ({"grant_type", "client_id"},
                           {"scope", "client_secret", "client_assertion", "client_assertion_type", "resource"}),
    JWT_BEARER_GRANT: ({"grant_type", "assertion"}, {"scope"}),
    "refresh_token": ({"grant_type", "refresh_token"}, {"client_id", "client_secret", "scope"}),
    TOKEN_EXCHANGE_GRANT: ({"grant_type", "subject_token", "subject_token_type"},
                           {"audience", "scope", "requested_token_type", "resource", "actor_token", "actor_token_type"}),
}


class OAuthEndpoint(Endpoint):
    """Checks each grant's form per its RFC and answers RFC 6749 §5.1 JSON, or a §5.2 error."""

    name = "oauth"
    secret_fields = frozenset({"client_secret", "client_assertion", "assertion", "refresh_token", "subject_token"})

    def matches(self, method: str, path: str, form: Mapping[str, str]) -> bool:
        return method == "POST" and path == "/token"

    def respond(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        if request.headers.get("Content-Type") != "application/x-www-form-urlencoded":
            return self._error("invalid_request", "not a form")
        grant = form.get("grant_type", "")
        if grant not in GRANTS:
            return self._error("unsupported_grant_type", grant)
        required, optional = GRANTS[grant]
        if missing := required - form.keys():
            return self._error("invalid_request", f"missing {sorted(missing)}")
        if unknown := form.keys() - required - optional:
            return self._error("invalid_request", f"unexpected {sorted(unknown)}")
        if any(value == "" for value in form.values()):
            return self._error("invalid_request", "an empty parameter")
        if grant == "client_credentials":
            has_secret, has_assertion = "client_secret" in form, "client_assertion" in form
            if has_secret == has_assertion:
                return self._error("invalid_client", "exactly one client authentication")
            if has_assertion and form.get("client_assertion_type") != JWT_BEARER_ASSERTION_TYPE:
                return self._error("invalid_client", "bad client_assertion_type")
            if form.get("client_secret", SECRET) != SECRET:
                return self._error("invalid_client", f"wrong secret {form['client_secret']}")
        body = {"access_token": f"token-for-{grant}", "token_type": "Bearer", "expires_in": 3600}
        if grant == TOKEN_EXCHANGE_GRANT:
            body["issued_token_type"] = "urn:ietf:params:oauth:token-type:access_token"
        return Reply(200, json.dumps(body).encode())

    @staticmethod
    def _error(code: str, description: str) -> Reply:
        return Reply(400, json.dumps({"error": code, "error_description": description}).encode())


@pytest.fixture
def oauth() -> Iterator[tuple[TokenFetcher, OAuthEndpoint]]:
    server = ServerCore([OAuthEndpoint])
    server.start()
    endpoint = server.endpoints[0]
    assert isinstance(endpoint, OAuthEndpoint)
    yield TokenFetcher("oauth-test", server.url + "/token", sleep=FakeSleep()), endpoint
    server.stop()


def _form(endpoint: OAuthEndpoint) -> dict[str, str]:
    [request] = endpoint.requests
    return {k: v.expose_secret() if isinstance(v, SecretString) else v for k, v in request.form.items()}


def test_client_credentials_with_a_secret(oauth: tuple[TokenFetcher, OAuthEndpoint]) -> None:
    fetcher, endpoint = oauth
    token = client_credentials(fetcher, client_id="app", scope=["a/.default", "b"], client_secret=SECRET)
    assert token.token.expose_secret() == "token-for-client_credentials"
    assert _form(endpoint) == {"grant_type": "client_credentials", "client_id": "app", "scope": "a/.default b",
                               "client_secret": SECRET}


def test_client_credentials_with_an_assertion_and_extra(oauth: tuple[TokenFetcher, OAuthEndpoint]) -> None:
    fetcher, endpoint = oauth
    client_credentials(fetcher, client_id="app", scope=None, client_assertion=SecretString(ASSERTION),
                       extra={"resource": "https://r"})
    assert _form(endpoint) == {"grant_type": "client_credentials", "client_id": "app", "resource": "https://r",
                               "client_assertion_type": JWT_BEARER_ASSERTION_TYPE, "client_assertion": ASSERTION}


def test_client_credentials_needs_exactly_one_authentication(oauth: tuple[TokenFetcher, OAuthEndpoint]) -> None:
    fetcher, endpoint = oauth
    with pytest.raises(ConfigurationError):
        client_credentials(fetcher, client_id="app", scope="s")
    with pytest.raises(ConfigurationError):
        client_credentials(fetcher, client_id="app", scope="s", client_secret=SECRET, client_assertion=ASSERTION)
    assert endpoint.request_count == 0


def test_an_oauth_error_is_raised_with_the_secret_masked(oauth: tuple[TokenFetcher, OAuthEndpoint]) -> None:
    fetcher, _ = oauth
    wrong = "wrong-secret-value-0123456789-abcdef"
    with pytest.raises(TokenEndpointError) as info:
        client_credentials(fetcher, client_id="app", scope="s", client_secret=wrong)
    assert info.value.error_code == "invalid_client" and not info.value.retryable
    assert "wrong secret **********" in str(info.value)
    assert_no_secret([str(info.value), repr(info.value), str(info.value.description)], [wrong])


def test_jwt_bearer(oauth: tuple[TokenFetcher, OAuthEndpoint]) -> None:
    fetcher, endpoint = oauth
    token = jwt_bearer(fetcher, ASSERTION, scope="https://www.googleapis.com/auth/cloud-platform")
    assert token.token.expose_secret() == f"token-for-{JWT_BEARER_GRANT}"
    assert _form(endpoint) == {"grant_type": JWT_BEARER_GRANT, "assertion": ASSERTION,
                               "scope": "https://www.googleapis.com/auth/cloud-platform"}


def test_refresh_token(oauth: tuple[TokenFetcher, OAuthEndpoint]) -> None:
    fetcher, endpoint = oauth
    refresh_token(fetcher, SecretString(REFRESH), client_id="cid", client_secret=SECRET)
    assert _form(endpoint) == {"grant_type": "refresh_token", "refresh_token": REFRESH, "client_id": "cid",
                               "client_secret": SECRET}


def test_token_exchange(oauth: tuple[TokenFetcher, OAuthEndpoint]) -> None:
    fetcher, endpoint = oauth
    token = token_exchange(
        fetcher, SUBJECT, "urn:ietf:params:oauth:token-type:jwt",
        audience="//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x",
        scope="https://www.googleapis.com/auth/cloud-platform",
        requested_token_type="urn:ietf:params:oauth:token-type:access_token",
    )
    assert token.token.expose_secret() == f"token-for-{TOKEN_EXCHANGE_GRANT}"
    form = _form(endpoint)
    assert form["grant_type"] == TOKEN_EXCHANGE_GRANT and form["subject_token"] == SUBJECT
    assert form["subject_token_type"] == "urn:ietf:params:oauth:token-type:jwt"
    assert form["requested_token_type"] == "urn:ietf:params:oauth:token-type:access_token"
    assert form["audience"].startswith("//iam.googleapis.com/")


# -- parsers ----------------------------------------------------------------------------------


def _response(body: bytes, *, provider: str = "prov", host: str = "login.example.com", status: int = 200) -> TokenResponse:
    return TokenResponse(status, {}, body, 1_800_000_000.0, 0.01, provider, host)


def test_parse_bearer_token_from_the_response_alone() -> None:
    token = parse_bearer_token(_response(b'{"access_token": "at", "expires_in": "60"}'))
    assert token.expires_at == datetime.fromtimestamp(1_800_000_060.0, UTC)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{nope", "answered HTTP 200 with a body that is not JSON"),
        (b"[" * 100_000, "answered HTTP 200 with a body that is JSON nested too deeply"),
        (b"\xff", "answered HTTP 200 with a body that is not valid UTF-8"),
        (b"[]", "answered with JSON that is not an object"),
        (b'{"expires_in": 5}', "answered without an access_token"),
        (b'{"access_token": "a", "token_type": "mac", "expires_in": 5}', "answered with token_type 'mac', not Bearer"),
        (b'{"access_token": "a"}', "answered without a numeric expires_in"),
        (b'{"access_token": "a", "expires_in": 1e300}', "answered with an out-of-range expires_in"),
    ],
)
def test_every_malformed_answer_names_provider_and_host(body: bytes, words: str) -> None:
    with pytest.raises(MalformedResponseError) as info:
        parse_bearer_token(_response(body))
    assert str(info.value) == f"prov: token endpoint login.example.com {words}"
    assert (info.value.provider, info.value.host) == ("prov", "login.example.com")
    assert info.value.__context__ is None and not info.value.retryable


def test_a_response_built_by_hand_gets_its_context_from_the_arguments() -> None:
    bare = TokenResponse(200, {}, b'{"access_token": "at", "expires_in": 60}', 0.0, 0.0)
    assert parse_bearer_token(bare, "old", "h").token.expose_secret() == "at"
    assert parse_json_object(bare, "old", "h")["access_token"] == "at"
    with pytest.raises(MalformedResponseError, match="^old: token endpoint h answered with JSON"):
        parse_json_object(TokenResponse(200, {}, b"[]", 0.0, 0.0), "old", "h")
    with pytest.raises(MalformedResponseError, match="^prov: token endpoint login.example.com"):
        parse_json_object(_response(b"[]"), "ignored", "ignored")  # the response's own context wins
    assert parse_oauth_error(bare, "old", "h") == ErrorDetails(None)


def test_parse_oauth_error() -> None:
    body = b'{"error": "invalid_grant", "error_description": "expired"}'
    assert parse_oauth_error(_response(body, status=400)) == ErrorDetails("invalid_grant", "expired")
    for junk in (b"", b"[1]", b"{", b'{"error": 5}', b"[" * 100_000):
        assert parse_oauth_error(_response(junk, status=400)).error_code is None
