"""ClientConfig and Client: validation, URL joining, auth choice, and real signed requests."""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import pathlib
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, ClassVar

import pytest
import requests

from literauth import (
    AwsCredentials,
    BearerToken,
    ConfigurationError,
    SecretString,
    StaticTokenProvider,
)
from literauth.client import (
    Client,
    ClientConfig,
    DefaultClient,
    infer_aws_region_and_service,
)
from literauth.credentials import UTC, Credential
from literauth.integrations.requests import BearerAuth
from literauth.provider import RefreshingCredentialProvider
from literauth.sigv4 import SigV4Auth

from ._api_server import Answer, ApiServer, aws_error
from .conftest import assert_no_secret

AZURE = "https://my-resource.openai.azure.com/openai/deployments/gpt-4o"
BEDROCK = "https://bedrock-runtime.us-east-1.amazonaws.com"


def aws(n: int) -> AwsCredentials:
    return AwsCredentials(
        SecretString(f"ASIACLIENT{n:010d}"),
        SecretString(f"client-secret-{n}-wJalrXUtnFEMIK7MDENG"),
        SecretString(f"client-session-{n}-IQoJb3JpZ2luX2Vj"),
    )


def keys_for(*numbers: int) -> dict[str, tuple[str, str | None]]:
    out: dict[str, tuple[str, str | None]] = {}
    for n in numbers:
        c = aws(n)
        assert c.session_token is not None
        out[c.access_key_id.expose_secret()] = (c.secret_access_key.expose_secret(), c.session_token.expose_secret())
    return out


class AwsProvider:
    """An untyped provider of AWS keys (no annotations to read), with invalidate()."""

    def __init__(self) -> None:
        self.n = 1
        self.invalidations = 0

    def resolve(self):  # type: ignore[no-untyped-def]  # deliberately unannotated
        return aws(self.n)

    def invalidate(self) -> None:
        self.invalidations += 1
        self.n += 1


class TypedAwsProvider:
    """Declares its credential type, as providers do."""

    credential_type: ClassVar[type[AwsCredentials]] = AwsCredentials

    def resolve(self) -> AwsCredentials:
        return aws(1)


class DeclaredBearerProvider:
    credential_type: ClassVar[type[BearerToken]] = BearerToken

    def resolve(self) -> BearerToken:
        return BearerToken(SecretString("declared-bearer-token"))


class AnnotatedOnlyProvider:
    """Annotated but declaring nothing: annotations are not read, the host decides."""

    def resolve(self) -> AwsCredentials:
        return aws(1)


class KeyIssuer(RefreshingCredentialProvider):
    """The real caching engine, issuing a new key pair on every fetch."""

    provider_name = "key-issuer"
    credential_type: ClassVar[type[AwsCredentials]] = AwsCredentials

    def __init__(self) -> None:
        super().__init__(background_refresh=False)
        self._counter = itertools.count(1)
        self.fetches = 0

    def _fetch(self) -> AwsCredentials:
        self.fetches += 1
        n = next(self._counter)
        c = aws(n)
        return AwsCredentials(c.access_key_id, c.secret_access_key, c.session_token,
                              expires_at=datetime.now(UTC) + timedelta(hours=1))


@pytest.fixture
def api() -> Iterator[ApiServer]:
    with ApiServer() as server:
        yield server


def sigv4_client(api: ApiServer, provider: object, **kwargs: Any) -> Client:
    config = ClientConfig(api.url, provider, aws_region="us-east-1", aws_service="bedrock", **kwargs)  # type: ignore[arg-type]
    return Client(config)


# -- ClientConfig ------------------------------------------------------------------------


def test_config_is_frozen_and_keeps_validated_values() -> None:
    provider = StaticTokenProvider("tok-abcdefghijklmnop")
    config = ClientConfig(AZURE, provider, timeout=(3, 30), headers={"api-key": "not-shown-0123456789"})
    assert config.timeout == (3, 30)
    assert dict(config.headers or {}) == {"api-key": "not-shown-0123456789"}
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.base_url = "https://elsewhere.example"  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.headers["x"] = "y"  # type: ignore[index]
    assert "api-key" in repr(config)
    assert_no_secret([repr(config)], ["not-shown-0123456789", "tok-abcdefghijklmnop"])
    assert ClientConfig(AZURE, provider).timeout == 60


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_url": "http://api.example.com/v1"}, "https"),
        ({"base_url": "ftp://api.example.com"}, "https"),
        ({"base_url": ""}, "non-empty"),
        ({"base_url": "https://api.example.com/#frag"}, "fragment"),
        ({"base_url": "https://user:pw@api.example.com/"}, "user information"),
        ({"credential_provider": "a token"}, "resolve"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1.0}, "timeout"),
        ({"timeout": (1, 2, 3)}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"timeout": None}, "timeout"),
        ({"headers": {"X-A": 1}}, "headers"),
        ({"headers": {"Authorization": "Bearer x"}}, "Authorization"),
        ({"aws_region": "US East 1"}, "aws_region"),
        ({"aws_service": ""}, "aws_service"),
    ],
)
def test_config_validation(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"base_url": AZURE, "credential_provider": StaticTokenProvider("t")}
    args.update(kwargs)
    with pytest.raises(ConfigurationError, match=message):
        ClientConfig(args.pop("base_url"), args.pop("credential_provider"), **args)


def test_loopback_http_is_allowed() -> None:
    for url in ("http://127.0.0.1:8080/v1", "http://localhost:1/", "http://[::1]:9/x"):
        assert ClientConfig(url, StaticTokenProvider("t")).base_url == url


# -- URL joining ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "path", "expected"),
    [
        (AZURE, "chat/completions", f"{AZURE}/chat/completions"),
        (AZURE, "/chat/completions", f"{AZURE}/chat/completions"),
        (AZURE + "/", "/chat/completions", f"{AZURE}/chat/completions"),
        (AZURE + "/", "chat/completions/", f"{AZURE}/chat/completions/"),
        (AZURE, "chat/completions?api-version=2024-06-01", f"{AZURE}/chat/completions?api-version=2024-06-01"),
        (AZURE + "?api-version=2024-06-01", "chat/completions", f"{AZURE}/chat/completions?api-version=2024-06-01"),
        (AZURE + "/?api-version=2024-06-01", "/embeddings?user=u1",
         f"{AZURE}/embeddings?api-version=2024-06-01&user=u1"),
        (AZURE, "", AZURE),
        (AZURE, "/", AZURE + "/"),
        ("https://api.example.com", "v1/models", "https://api.example.com/v1/models"),
        ("https://api.example.com", "", "https://api.example.com"),
        (BEDROCK, "model/anthropic.claude-3-opus-20240229-v1:0/converse",
         f"{BEDROCK}/model/anthropic.claude-3-opus-20240229-v1:0/converse"),
        ("http://127.0.0.1:8080/base//", "x", "http://127.0.0.1:8080/base/x"),
        (AZURE, "chat#fragment", f"{AZURE}/chat"),
    ],
)
def test_url_joining_keeps_the_base_path(base: str, path: str, expected: str) -> None:
    with Client(ClientConfig(base, StaticTokenProvider("t"))) as client:
        assert client.url_for(path) == expected


@pytest.mark.parametrize(
    "path",
    ["https://evil.example/steal", "//evil.example/steal", "HTTP://evil.example", "http:evil", " https://x/",
     "ftp://x/", "../admin", "a/../../b", "a/./b", "%2e%2e/admin", ".."],
)
def test_absolute_urls_and_dot_segments_are_refused(path: str) -> None:
    with Client(ClientConfig(AZURE, StaticTokenProvider("t"))) as client, pytest.raises(ConfigurationError):
        client.url_for(path)


# -- region and service inference --------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("bedrock-runtime.us-east-1.amazonaws.com", ("us-east-1", "bedrock")),
        ("bedrock.us-west-2.amazonaws.com", ("us-west-2", "bedrock")),
        ("bedrock-agent-runtime.eu-central-1.amazonaws.com", ("eu-central-1", "bedrock")),
        ("bedrock-runtime-fips.us-gov-west-1.amazonaws.com", ("us-gov-west-1", "bedrock")),
        ("BEDROCK-RUNTIME.AP-SOUTHEAST-2.AMAZONAWS.COM.", ("ap-southeast-2", "bedrock")),
        ("bedrock-runtime.cn-north-1.amazonaws.com.cn", ("cn-north-1", "bedrock")),
        ("vpce-0abc-1x2y.bedrock-runtime.us-east-1.vpce.amazonaws.com", ("us-east-1", "bedrock")),
        ("sts.eu-west-1.amazonaws.com", ("eu-west-1", "sts")),
        ("sts.amazonaws.com", ("us-east-1", "sts")),
        ("s3.amazonaws.com", ("us-east-1", "s3")),
        ("my-bucket.s3.us-west-2.amazonaws.com", ("us-west-2", "s3")),
        ("my-bucket.s3.dualstack.eu-west-1.amazonaws.com", ("eu-west-1", "s3")),
        ("s3-us-west-2.amazonaws.com", ("us-west-2", "s3")),
        ("abc123.execute-api.us-east-1.amazonaws.com", ("us-east-1", "execute-api")),
        ("runtime.sagemaker.eu-west-1.amazonaws.com", ("eu-west-1", "sagemaker")),
        ("search-logs-abc.us-east-1.es.amazonaws.com", ("us-east-1", "es")),
        ("xyz.lambda-url.us-east-1.on.aws", ("us-east-1", "lambda")),
        # Every partition's DNS suffix and region shape, from the one table and pattern in aws/_sts.
        ("bedrock-runtime.eusc-de-east-1.amazonaws.eu", ("eusc-de-east-1", "bedrock")),
        ("sts.us-isob-east-1.sc2s.sgov.gov", ("us-isob-east-1", "sts")),
        ("bedrock-runtime.us-iso-east-1.c2s.ic.gov", ("us-iso-east-1", "bedrock")),
        ("iam.amazonaws.com.cn", (None, "iam")),  # us-east-1 is the aws partition's global region only
        ("ec2.amazonaws.com", (None, "ec2")),
        ("my-resource.openai.azure.com", (None, None)),
        ("amazonaws.com.evil.example", (None, None)),
        ("127.0.0.1", (None, None)),
    ],
)
def test_region_and_service_inference(host: str, expected: tuple[str | None, str | None]) -> None:
    assert infer_aws_region_and_service(host) == expected


def test_bearer_providers_get_bearer_auth() -> None:
    client = Client(ClientConfig(AZURE, StaticTokenProvider("t")))
    assert isinstance(client.auth, BearerAuth)


def test_typed_aws_provider_on_an_aws_host_gets_sigv4_with_inferred_scope() -> None:
    client = Client(ClientConfig("https://bedrock-runtime.eu-west-3.amazonaws.com", TypedAwsProvider()))
    assert isinstance(client.auth, SigV4Auth)
    assert (client.auth.region, client.auth.service) == ("eu-west-3", "bedrock")


def test_engine_provider_declaring_aws_keys_gets_sigv4() -> None:
    client = Client(ClientConfig("https://sts.ap-south-1.amazonaws.com", KeyIssuer()))
    assert isinstance(client.auth, SigV4Auth)
    assert (client.auth.region, client.auth.service) == ("ap-south-1", "sts")


def test_declared_credential_type_decides_and_annotations_are_not_read() -> None:
    gateway = "https://gateway.example.com"
    declared = Client(ClientConfig(gateway, TypedAwsProvider(), aws_region="eu-west-1", aws_service="execute-api"))
    assert isinstance(declared.auth, SigV4Auth)
    # Declaring nothing: the host says bearer, whatever resolve()'s annotation says.
    assert isinstance(Client(ClientConfig(gateway, AnnotatedOnlyProvider())).auth, BearerAuth)
    assert isinstance(Client(ClientConfig(BEDROCK, AnnotatedOnlyProvider())).auth, SigV4Auth)
    # A declared bearer provider on an AWS host is still a bearer provider.
    assert isinstance(Client(ClientConfig(BEDROCK, DeclaredBearerProvider())).auth, BearerAuth)


def test_a_credential_type_no_auth_can_apply_is_refused() -> None:
    class Odd(Credential):
        pass

    class OddProvider:
        credential_type: ClassVar[type[Credential]] = Odd

        def resolve(self) -> Credential:
            return Odd()

    with pytest.raises(ConfigurationError, match="Odd"):
        Client(ClientConfig(BEDROCK, OddProvider()))


def test_explicit_values_win_over_inference() -> None:
    config = ClientConfig(BEDROCK, TypedAwsProvider(), aws_service="execute-api")
    auth = Client(config).auth
    assert isinstance(auth, SigV4Auth)
    assert (auth.region, auth.service) == ("us-east-1", "execute-api")


def test_aws_provider_without_inferable_scope_fails_at_construction() -> None:
    with pytest.raises(ConfigurationError, match="aws_region and aws_service"):
        Client(ClientConfig("https://gateway.example.com", TypedAwsProvider()))
    with pytest.raises(ConfigurationError, match="aws_region"):
        Client(ClientConfig("https://ec2.amazonaws.com", TypedAwsProvider()))
    with pytest.raises(ConfigurationError, match="aws_service"):
        Client(ClientConfig("http://127.0.0.1:1", AwsProvider(), aws_region="us-east-1"))


def test_bearer_provider_with_aws_scope_is_a_contradiction() -> None:
    with pytest.raises(ConfigurationError, match="bearer"):
        Client(ClientConfig(BEDROCK, DeclaredBearerProvider(), aws_region="us-east-1"))


def test_untyped_provider_follows_the_host() -> None:
    assert isinstance(Client(ClientConfig(BEDROCK, AwsProvider())).auth, SigV4Auth)
    assert isinstance(Client(ClientConfig(AZURE, AwsProvider())).auth, BearerAuth)


def test_default_client_is_client() -> None:
    assert DefaultClient is Client


# -- real requests through Client ------------------------------------------------------


def test_sigv4_requests_verified_by_an_independent_implementation(api: ApiServer) -> None:
    api.aws_keys = keys_for(1)
    with sigv4_client(api, AwsProvider(), headers={"X-Amz-Meta-App": "tests", "Accept": "application/json"}) as c:
        responses = [
            c.get("/foundation-models", params={"byProvider": "anthropic", "q": "a b/c:d+e"}),
            c.get("model/anthropic.claude-3-opus-20240229-v1:0/invoke?x=1&x=0&empty="),
            c.post("model/anthropic.claude-3-opus-20240229-v1:0/converse", json={"messages": ["zoë"]}),
            c.put("/items/ünï cödé", data=bytes(range(256))),
            c.delete("/items/42"),
            c.request("PATCH", "/items/42", data="text body"),
            c.post("/empty"),
        ]
    assert [r.status_code for r in responses] == [200] * 7, api.sigv4_failures
    assert api.sigv4_failures == []
    seen = api.seen
    assert seen[1].path == "/model/anthropic.claude-3-opus-20240229-v1%3A0/invoke"
    assert all(s.header("X-Amz-Meta-App") == "tests" for s in seen)
    assert seen[3].body == bytes(range(256))


def test_a_tampered_request_is_rejected_by_the_verifier(api: ApiServer) -> None:
    """The verifier is not a rubber stamp: change a signed header after signing and it says so."""
    api.aws_keys = keys_for(1)
    with sigv4_client(api, AwsProvider()) as client:
        def tamper(request: requests.PreparedRequest) -> requests.PreparedRequest:
            request.headers["X-Amz-Meta-App"] = "changed"
            return request

        prepared = client.session.prepare_request(
            requests.Request("POST", api.url + "/x", data=b"{}", headers={"X-Amz-Meta-App": "original"},
                             auth=client.auth)
        )
        response = client.session.send(tamper(prepared))
    assert response.status_code == 403
    assert "InvalidSignatureException" in response.headers["x-amzn-ErrorType"]


def test_expired_keys_are_refreshed_and_the_request_resigned(api: ApiServer) -> None:
    api.aws_keys = keys_for(1, 2)
    api.expired_keys = {aws(1).access_key_id.expose_secret()}
    provider = AwsProvider()
    with sigv4_client(api, provider) as client:
        response = client.post("model/m:1/converse", json={"n": 1})
    assert response.status_code == 200, api.sigv4_failures
    assert provider.invalidations == 1
    assert api.seen[0].body == api.seen[1].body == b'{"n": 1}'


def test_bearer_401_through_client(api: ApiServer) -> None:
    tokens = [BearerToken(SecretString(f"client-token-{n}-abcdefghij")) for n in range(3)]

    class Provider:
        index = 0

        def resolve(self) -> BearerToken:
            return tokens[self.index]

        def invalidate(self) -> None:
            self.index += 1

    api.bearer_tokens = {tokens[1].token.expose_secret()}
    with Client(ClientConfig(api.url + "/openai/deployments/gpt-4o", Provider())) as client:
        response = client.post("chat/completions?api-version=2024-06-01", json={"messages": []})
    assert response.status_code == 200
    assert [s.target for s in api.seen] == ["/openai/deployments/gpt-4o/chat/completions?api-version=2024-06-01"] * 2


def test_headers_timeout_and_redirects(api: ApiServer) -> None:
    calls: list[dict[str, Any]] = []

    class Recording(requests.Session):
        def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
            calls.append(kwargs)
            return super().request(method, url, *args, **kwargs)

    api.script(Answer(302, b"", {"Location": "http://127.0.0.2:1/elsewhere"}))
    config = ClientConfig(api.url, StaticTokenProvider("tok"), timeout=7.5, headers={"X-App": "a", "X-B": "b"})
    with Recording() as session:
        client = Client(config, session)
        response = client.get("/x", headers={"X-B": "override", "X-C": "c"})
        client.get("/y", timeout=1, allow_redirects=True)
        client.close()
        assert session.adapters  # a session we were given is not closed by the client
    assert response.status_code == 302  # not followed: the credential stays with this host
    assert calls[0]["timeout"] == 7.5 and calls[0]["allow_redirects"] is False
    assert calls[1]["timeout"] == 1 and calls[1]["allow_redirects"] is True
    first = api.seen[0]
    assert (first.header("X-App"), first.header("X-B"), first.header("X-C")) == ("a", "override", "c")
    assert first.header("Authorization") == "Bearer tok"


def test_auth_kwarg_and_closed_client_are_refused(api: ApiServer) -> None:
    client = Client(ClientConfig(api.url, StaticTokenProvider("tok")))
    with pytest.raises(ConfigurationError, match="auth"):
        client.get("/", auth=("user", "pw"))
    with client:
        pass
    with pytest.raises(ConfigurationError, match="closed"):
        client.get("/")
    assert api.seen == []


def test_closing_the_client_leaves_the_provider_open(api: ApiServer) -> None:
    class Closable(DeclaredBearerProvider):
        closed = 0

        def close(self) -> None:
            self.closed += 1

    provider = Closable()
    with Client(ClientConfig(api.url, provider)) as client:
        pass
    with pytest.raises(ConfigurationError, match="Client is closed"):
        client.get("/")
    assert provider.closed == 0
    assert provider.resolve().token.expose_secret() == "declared-bearer-token"
    assert Client.close.__doc__ is not None and "provider is left open" in Client.close.__doc__


def test_client_needs_a_config() -> None:
    with pytest.raises(ConfigurationError, match="ClientConfig"):
        Client("https://api.example.com")  # type: ignore[arg-type]


def test_sixteen_threads_share_one_client(api: ApiServer) -> None:
    """Real engine, real threads: the first keys are expired; everyone heals, signatures hold."""
    api.aws_keys = keys_for(*range(1, 40))
    api.expired_keys = {aws(1).access_key_id.expose_secret()}
    provider = KeyIssuer()
    provider.resolve()  # key 1 is cached, then found expired by the server
    client = sigv4_client(api, provider)
    start = threading.Barrier(16)
    statuses: list[int] = []
    errors: list[Exception] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        try:
            start.wait()
            for i in range(5):
                r = client.post(f"model/m:{n}/converse", json={"thread": n, "i": i})
                with lock:
                    statuses.append(r.status_code)
        except Exception as exc:  # noqa: BLE001  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    client.close()
    assert errors == []
    assert statuses == [200] * 80, api.sigv4_failures
    rejected = len(api.sigv4_failures)  # first attempts signed with key 1 (a late thread may get key 2)
    assert 1 <= rejected <= 16
    assert set(api.sigv4_failures) == {"The security token included in the request is expired"}  # no bad signature
    assert 2 <= provider.fetches <= rejected + 1
    assert len(api.seen) == 80 + rejected  # each rejection retried exactly once
    assert len({s.body for s in api.seen}) == 80  # each retry replayed its own bytes


def test_repr_and_logs_hold_no_secret(api: ApiServer, debug_logs: pytest.LogCaptureFixture) -> None:
    api.aws_keys = keys_for(1)
    provider = AwsProvider()
    with sigv4_client(api, provider) as client:
        assert client.get("/x?sig=query-secret-abcdefghijkl").status_code == 200
        text = repr(client) + repr(client.config) + repr(client.auth)
    c = aws(1)
    assert c.session_token is not None
    secrets = [c.secret_access_key.expose_secret(), c.session_token.expose_secret(), "query-secret-abcdefghijkl"]
    ours = "\n".join(r.getMessage() for r in debug_logs.records if r.name.startswith("literauth"))
    assert_no_secret([text, ours], secrets)
    assert "GET 127.0.0.1/x -> 200" in ours


def test_wrong_credential_type_at_request_time(api: ApiServer) -> None:
    with Client(ClientConfig(BEDROCK, StaticBearerUntyped())) as client, pytest.raises(
        ConfigurationError, match="BearerToken"
    ):
        client.get("/")


class StaticBearerUntyped:
    def resolve(self):  # type: ignore[no-untyped-def]
        return BearerToken(SecretString("t"))


def test_aws_error_answers_pass_through(api: ApiServer) -> None:
    api.script(aws_error(429, "ThrottlingException"))
    with sigv4_client(api, AwsProvider()) as client:
        response = client.get("/x")
    assert response.status_code == 429
    assert len(api.seen) == 1


# -- the examples ------------------------------------------------------------------------

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _load_example(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"literauth_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("flask_azure_openai_client", "token requests: 1 for 8 chats"),
        ("bedrock_converse", "STS calls: 1 for 2 signed Bedrock calls"),
        ("openai_sdk_token_callable", "token requests: 1 for 2 completions"),
        ("boto3_bedrock_converse", "STS calls: 1 for 2 boto3 calls, signed by literauth"),
        ("anthropic_bedrock_httpx", "STS calls: 2 for 2 calls (one invalidate between them)"),
    ],
)
def test_examples_import_quietly_and_run_their_demo(
    name: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    threads_before = set(threading.enumerate())
    module = _load_example(name)
    assert set(threading.enumerate()) - threads_before == set()  # importing starts nothing
    assert capsys.readouterr().out == ""
    assert module.main(["--demo"]) == 0
    out = capsys.readouterr().out
    if name == "openai_sdk_token_callable" and importlib.util.find_spec("openai") is None:
        assert out.startswith("skipped: ")
        pytest.skip("openai is not installed")
    assert expected in out
    assert "fake" in out
