"""`TokenRequest` and `send()`: methods, query, headers, bodies, secrets and the prepare hook, over loopback."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
from collections.abc import Iterator, Mapping

import pytest

from literauth import SecretString, TokenEndpointError
from literauth._http import ErrorDetails, TokenFetcher, TokenRequest, TokenResponse
from literauth._oauth import parse_oauth_error
from literauth.testing import Endpoint, RecordedRequest, Reply, ServerCore

from .conftest import FakeSleep, assert_no_secret

IDENTITY = "identity-header-secret-0123456789abcdef"
KEY = b"signing-key-for-the-test"


class MsiEndpoint(Endpoint):
    """An Azure-IMDS-shaped endpoint: GET with a query, `Metadata: true`, a secret header."""

    name = "msi"

    def matches(self, method: str, path: str, form: Mapping[str, str]) -> bool:
        return method == "GET" and path == "/msi/token"

    def respond(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        if request.headers.get("Metadata") != "true":
            return Reply(400, b'{"error":"invalid_request","error_description":"Required metadata header not specified"}')
        if request.headers.get("X-IDENTITY-HEADER") != IDENTITY:
            echoed = request.headers.get("X-IDENTITY-HEADER", "").removeprefix("Bearer ")  # echo the token alone
            return Reply(401, json.dumps({"error": "unauthorized", "error_description": f"bad header {echoed}"}).encode())
        return Reply(200, json.dumps({"access_token": "at", "expires_in": "3600", "resource": request.query["resource"]}).encode())


@pytest.fixture
def msi() -> Iterator[tuple[ServerCore, MsiEndpoint]]:
    server = ServerCore([MsiEndpoint])
    server.start()
    endpoint = server.endpoints[0]
    assert isinstance(endpoint, MsiEndpoint)
    yield server, endpoint
    server.stop()


def test_body_bytes_are_the_exact_encoded_body_and_deterministic() -> None:
    form = TokenRequest(form={"a": "1 2", "s": SecretString("x&y")})
    assert form.body_bytes() == b"a=1+2&s=x%26y" == form.body_bytes()
    assert form.content_type == "application/x-www-form-urlencoded"
    body = TokenRequest(json={"b": [1, SecretString("t")], "a": "é"})
    assert body.body_bytes() == '{"b":[1,"t"],"a":"é"}'.encode()
    assert body.content_type == "application/json"
    assert TokenRequest(method="get").method == "GET" and TokenRequest(method="GET").body_bytes() == b""
    with pytest.raises(ValueError):
        TokenRequest(method="DELETE")
    with pytest.raises(ValueError):
        TokenRequest(form={}, json={})


def test_secrets_are_gathered_wherever_they_sit_and_hidden_in_repr() -> None:
    header, query, form, inner, extra = (SecretString(f"s{i}-secret-value") for i in range(5))
    request = TokenRequest(
        url="https://h/t", query={"q": query, "plain": "p"}, headers={"X-IDENTITY-HEADER": header},
        form={"f": form}, extra_secrets=(extra,),
    )
    assert [id(s) for s in request.secrets] == [id(query), id(header), id(form), id(extra)]
    assert [id(s) for s in TokenRequest(json={"nested": {"list": [inner]}}).secrets] == [id(inner)]
    assert_no_secret([repr(request)], [s.expose_secret() for s in request.secrets])
    assert request.full_url() == "https://h/t?q=s1-secret-value&plain=p"


def test_a_callers_dict_cannot_change_the_value() -> None:
    headers = {"A": "1"}
    request = TokenRequest(headers=headers)
    headers["A"] = "2"
    assert request.headers["A"] == "1"
    with pytest.raises(TypeError):
        request.headers["A"] = "3"  # type: ignore[index]


def test_wire_headers_replace_defaults_case_insensitively() -> None:
    request = TokenRequest(form={}, headers={"accept": "text/xml", "Metadata": "true"})
    headers = request.wire_headers()
    assert headers["accept"] == "text/xml" and "Accept" not in headers
    assert headers["Content-Type"] == "application/x-www-form-urlencoded" and headers["Metadata"] == "true"
    assert headers["User-Agent"].startswith("literauth/")
    assert request.with_headers({"METADATA": "false"}).wire_headers()["METADATA"] == "false"
    assert "Metadata" not in request.with_headers({"METADATA": "false"}).headers


def test_get_with_query_and_secret_header(msi: tuple[ServerCore, MsiEndpoint], fake_sleep: FakeSleep) -> None:
    server, endpoint = msi
    fetcher = TokenFetcher("msi", server.url + "/msi/token", sleep=fake_sleep)
    request = TokenRequest(
        method="GET",
        query={"api-version": "2019-08-01", "resource": "https://vault.azure.net"},
        headers={"Metadata": "true", "X-IDENTITY-HEADER": SecretString(IDENTITY)},
    )
    response = fetcher.send(request, parse_oauth_error)
    assert json.loads(response.body)["resource"] == "https://vault.azure.net"
    assert (response.provider, response.host, response.method) == ("msi", "127.0.0.1", "GET")
    [seen] = endpoint.requests
    assert seen.method == "GET" and seen.query["api-version"] == "2019-08-01"
    assert "Content-Type" not in seen.headers and not seen.form


def test_an_echoed_secret_header_is_masked(msi: tuple[ServerCore, MsiEndpoint], fake_sleep: FakeSleep) -> None:
    server, _ = msi
    wrong = "wrong-identity-header-0123456789abcdef"
    fetcher = TokenFetcher("msi", server.url + "/msi/token", sleep=fake_sleep)
    request = TokenRequest(method="GET", query={"resource": "r"},
                           headers={"Metadata": "true", "X-IDENTITY-HEADER": SecretString(wrong)})
    with pytest.raises(TokenEndpointError) as info:
        fetcher.send(request, parse_oauth_error)
    assert "bad header **********" in str(info.value)
    assert_no_secret([str(info.value), repr(info.value), str(info.value.description)], [wrong])


def test_a_secret_inside_a_larger_header_is_masked_through_extra_secrets(
    msi: tuple[ServerCore, MsiEndpoint], fake_sleep: FakeSleep
) -> None:
    server, _ = msi
    token = "ecs-authorization-token-0123456789abcdef"
    fetcher = TokenFetcher("ecs", server.url + "/msi/token", sleep=fake_sleep)
    secret = SecretString(token)
    request = TokenRequest(method="GET", query={"resource": "r"}, extra_secrets=(secret,),
                           headers={"Metadata": "true", "X-IDENTITY-HEADER": SecretString(f"Bearer {token}")})
    with pytest.raises(TokenEndpointError) as info:
        fetcher.send(request, parse_oauth_error)
    assert "bad header **********" in str(info.value)
    assert_no_secret([str(info.value), str(info.value.description)], [token])


# -- PUT and the prepare hook, against a tiny server that speaks PUT --------------------------


class _ImdsHandler(http.server.BaseHTTPRequestHandler):
    """EC2-IMDSv2-shaped: PUT /token hands out a session token; GET /creds needs the current one.

    Also checks an HMAC signature over the exact body and signed headers on POST /signed.
    """

    protocol_version = "HTTP/1.1"
    server: _ImdsServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        assert self.path == "/token" and self.headers["X-aws-ec2-metadata-token-ttl-seconds"] == "21600"
        self.server.issued += 1
        self.server.current = f"session-{self.server.issued}"
        self._reply(200, self.server.current.encode())

    def do_GET(self) -> None:
        self.server.gets += 1
        if self.server.gets == 1:  # the first GET finds the service unavailable
            self._reply(503, b"{}")
        elif self.headers.get("X-aws-ec2-metadata-token") != self.server.current:
            self._reply(401, b"{}")
        else:
            self._reply(200, json.dumps({"access_token": "creds", "expires_in": 60}).encode())

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        signed = f"{self.headers['Content-Type']}\n{self.headers['X-Date']}\n".encode() + body
        expected = hmac.new(KEY, signed, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(self.headers.get("Authorization", ""), f"HMAC {expected}")
        self._reply(200 if ok else 403, b'{"access_token": "signed", "expires_in": 60}' if ok else b"{}")


class _ImdsServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    issued = 0
    gets = 0
    current = ""


@pytest.fixture
def imds() -> Iterator[str]:
    server = _ImdsServer(("127.0.0.1", 0), _ImdsHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _ignore(response: TokenResponse) -> ErrorDetails:
    return ErrorDetails(None)


def test_prepare_gets_a_fresh_session_token_on_every_attempt(imds: str, fake_sleep: FakeSleep) -> None:
    token_fetcher = TokenFetcher("imds", imds + "/token", sleep=fake_sleep)
    creds_fetcher = TokenFetcher("imds", imds + "/creds", sleep=fake_sleep)
    prepared: list[str] = []

    def with_session_token(request: TokenRequest) -> TokenRequest:
        put = TokenRequest(method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": "21600"})
        session_token = token_fetcher.send(put, _ignore).body.decode()
        prepared.append(session_token)
        return request.with_headers({"X-aws-ec2-metadata-token": SecretString(session_token)})

    response = creds_fetcher.send(TokenRequest(method="GET"), _ignore, prepare=with_session_token)
    assert json.loads(response.body)["access_token"] == "creds"
    assert prepared == ["session-1", "session-2"]  # the 503 attempt, then the retry with a new token
    assert len(fake_sleep.calls) == 1


def test_prepare_signs_the_exact_body_and_headers_sent(imds: str, fake_sleep: FakeSleep) -> None:
    fetcher = TokenFetcher("sts", imds + "/signed", sleep=fake_sleep)
    seen_urls: list[str | None] = []

    def sign(request: TokenRequest) -> TokenRequest:
        seen_urls.append(request.url)
        dated = request.with_headers({"X-Date": "20270115T000000Z"})
        headers = dated.wire_headers()
        signed = f"{headers['Content-Type']}\n{headers['X-Date']}\n".encode() + dated.body_bytes()
        signature = hmac.new(KEY, signed, hashlib.sha256).hexdigest()
        return dated.with_headers({"Authorization": SecretString(f"HMAC {signature}")})

    request = TokenRequest(form={"Action": "AssumeRole", "RoleArn": "arn:aws:iam::1:role/r", "x": "ü &"})
    assert fetcher.send(request, _ignore, prepare=sign).status_code == 200
    assert seen_urls == [imds + "/signed"]  # prepare sees the URL the fetcher filled in


def test_an_error_raised_by_prepare_counts_as_the_attempt(imds: str, fake_sleep: FakeSleep) -> None:
    from literauth import TransportError

    fetcher = TokenFetcher("imds", imds + "/creds", sleep=fake_sleep)
    calls = 0

    def flaky(request: TokenRequest) -> TokenRequest:
        nonlocal calls
        calls += 1
        raise TransportError("scripted: the token service did not answer")

    with pytest.raises(TransportError, match="scripted"):
        fetcher.send(TokenRequest(method="GET"), _ignore, prepare=flaky)
    assert calls == 3


def test_a_request_url_must_pass_the_fetchers_policy(fake_sleep: FakeSleep) -> None:
    from literauth import ConfigurationError

    fetcher = TokenFetcher("p", "http://127.0.0.1:9/token", sleep=fake_sleep)
    with pytest.raises(ConfigurationError, match="plain http"):
        fetcher.send(TokenRequest(method="GET", url="http://169.254.169.254/latest"), _ignore)
