"""openai 3 with a literauth provider, through each hook it offers: the real SDK against a loopback API.

`http_client=httpx.Client(auth=BearerAuth(p))` (and `httpx2.Client`), `api_key=callable`,
`AzureOpenAI(azure_ad_token_provider=...)`, `providers.bedrock(credential_provider=...)` /
`(token_provider=...)` and `providers.vertex(token_provider=...)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import httpx
import httpx2
import openai
import pytest

from literauth import TokenEndpointError, bearer_token_callable
from literauth.adapters.aws import botocore_session
from literauth.adapters.httpx import BearerAuth
from literauth.testing import FakeIdentityServer

from ._aws_server import REGION, AwsServer, RejectOnly, sts_keys
from ._helpers import current_token, in_threads

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def api(server: FakeIdentityServer) -> Iterator[AwsServer]:
    with AwsServer() as recorder:
        yield recorder


@pytest.fixture(autouse=True)
def _no_ambient_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY", "AWS_BEARER_TOKEN_BEDROCK", "AWS_BEDROCK_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENTKEY00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "environment-secret-that-must-never-sign-0123")


def chat(client: openai.OpenAI) -> str:
    answer = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    return str(answer.choices[0].message.content)


# -- http_client=httpx.Client(auth=BearerAuth(provider)) ---------------------------------


@pytest.fixture(params=[httpx, httpx2], ids=lambda m: m.__name__)
def lib(request: pytest.FixtureRequest) -> ModuleType:
    return request.param  # type: ignore[no-any-return]


def with_auth(provider: object, api: AwsServer, lib: ModuleType, **options: object) -> openai.OpenAI:
    return openai.OpenAI(api_key="replaced-by-literauth", base_url=api.url + "/v1",
                         http_client=lib.Client(auth=BearerAuth(provider)), **options)  # type: ignore[arg-type]


def test_http_client_auth_sends_literauths_token_and_follows_invalidate(
    server: FakeIdentityServer, api: AwsServer, lib: ModuleType
) -> None:
    with server.azure_provider() as provider, with_auth(provider, api, lib) as client:
        assert chat(client) == "hello from the fake"
        first = current_token(provider)
        provider.invalidate()
        chat(client)
        second = current_token(provider)
    assert api.bearers() == [first, second] and first != second
    assert [s.path for s in api.seen] == ["/v1/chat/completions"] * 2


def test_http_client_auth_sixteen_threads_cost_one_token_request(
    server: FakeIdentityServer, api: AwsServer, lib: ModuleType
) -> None:
    with server.azure_provider() as provider, with_auth(provider, api, lib) as client:
        answers: list[str] = []
        in_threads(16, lambda: answers.extend(chat(client) for _ in range(3)))
    assert answers == ["hello from the fake"] * 48
    assert server.azure.request_count == 1


def test_http_client_auth_heals_a_401_that_openai_would_not_retry(
    server: FakeIdentityServer, api: AwsServer, lib: ModuleType
) -> None:
    with server.azure_provider() as provider, with_auth(provider, api, lib, max_retries=2) as client:
        api.bearer_tokens = RejectOnly(current_token(provider))  # type: ignore[assignment]
        answers: list[str] = []
        in_threads(8, lambda: answers.append(chat(client)))
    assert answers == ["hello from the fake"] * 8
    assert server.azure.request_count == 2  # one extra token request for 8 rejected requests


def test_http_client_auth_a_second_401_is_openais_authentication_error(
    server: FakeIdentityServer, api: AwsServer
) -> None:
    api.bearer_tokens = set()
    with (
        server.azure_provider() as provider,
        with_auth(provider, api, httpx2, max_retries=2) as client,
        pytest.raises(openai.AuthenticationError),
    ):
        chat(client)
    assert len(api.seen) == 2
    assert server.azure.request_count == 2


# -- api_key=callable and AzureOpenAI(azure_ad_token_provider=callable) ---------------------


def test_api_key_callable_is_asked_per_request(server: FakeIdentityServer, api: AwsServer) -> None:
    with (
        server.azure_provider() as provider,
        openai.OpenAI(api_key=bearer_token_callable(provider), base_url=api.url + "/v1") as client,
    ):
        chat(client)
        first = current_token(provider)
        provider.invalidate()
        chat(client)
        chat(client)
        second = current_token(provider)
    assert api.bearers() == [first, second, second]
    assert server.azure.request_count == 2


def test_api_key_callable_learns_nothing_from_a_401(server: FakeIdentityServer, api: AwsServer) -> None:
    with (
        server.azure_provider() as provider,
        openai.OpenAI(api_key=bearer_token_callable(provider), base_url=api.url + "/v1", max_retries=2) as client,
    ):
        api.bearer_tokens = set()
        with pytest.raises(openai.AuthenticationError):
            chat(client)
    assert len(api.seen) == 1  # openai does not retry a 401: no extra token request either
    assert server.azure.request_count == 1


def test_a_failing_provider_reaches_the_caller_with_literauths_message(
    server: FakeIdentityServer, api: AwsServer
) -> None:
    server.azure.fail_with("invalid_client", "AADSTS7000215: Invalid client secret provided.", times=10)
    with (
        server.azure_provider() as provider,
        openai.OpenAI(api_key=bearer_token_callable(provider), base_url=api.url + "/v1") as client,
        pytest.raises(TokenEndpointError, match="AADSTS7000215") as info,
    ):
        chat(client)
    assert api.seen == []  # openai lets the callable's error through unchanged: literauth's own
    assert "invalid_client" in str(info.value)


def test_azure_openai_token_provider(server: FakeIdentityServer, api: AwsServer) -> None:
    with (
        server.azure_provider() as provider,
        openai.AzureOpenAI(azure_endpoint=api.url, api_version="2024-10-21",
                           azure_ad_token_provider=bearer_token_callable(provider)) as client,
    ):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
        provider.invalidate()
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)  # type: ignore[arg-type]
    assert len(set(api.bearers())) == 2
    assert api.seen[0].path == "/openai/deployments/gpt-4o/chat/completions"
    assert api.seen[0].header("api-key") is None


# -- openai.providers.bedrock / vertex ----------------------------------------------------------


def test_bedrock_credential_provider_signs_with_literauths_keys(server: FakeIdentityServer, api: AwsServer) -> None:
    api.aws_keys = sts_keys(server)  # type: ignore[assignment]
    with server.sts_provider() as provider:
        bedrock = openai.providers.bedrock(
            endpoint="runtime", region=REGION, base_url=api.url + "/openai/v1",
            credential_provider=botocore_session(provider).get_credentials,
        )
        with openai.OpenAI(provider=bedrock) as client:
            chat(client)
            provider.invalidate()
            answers: list[str] = []
            in_threads(16, lambda: answers.append(chat(client)))
    issued = [c.access_key_id.expose_secret() for c in server.sts.issued_credentials]
    assert api.sigv4_failures == []
    assert api.access_keys() == [issued[0]] + [issued[1]] * 16
    assert server.sts.request_count == 2  # 16 threads after the invalidate: one token request
    assert "/bedrock/aws4_request" in (api.seen[0].header("Authorization") or "")
    assert "AKIAENVIRONMENTKEY00" not in api.access_keys()


def test_bedrock_token_provider_sends_the_bearer(server: FakeIdentityServer, api: AwsServer) -> None:
    with server.azure_provider() as provider:
        bedrock = openai.providers.bedrock(region=REGION, base_url=api.url + "/openai/v1",
                                           token_provider=bearer_token_callable(provider))
        with openai.OpenAI(provider=bedrock) as client:
            chat(client)
            assert api.bearers() == [current_token(provider)]


def test_vertex_token_provider_sends_the_bearer_and_follows_invalidate(
    server: FakeIdentityServer, api: AwsServer
) -> None:
    base = api.url + "/v1/projects/proj/locations/us-central1/endpoints/openapi"
    with server.azure_provider() as provider:
        vertex = openai.providers.vertex(base_url=base, token_provider=bearer_token_callable(provider))
        with openai.OpenAI(provider=vertex) as client:
            assert client.responses.create(model="gpt-oss-20b", input="hi").output_text == "hello from vertex"
            first = current_token(provider)
            provider.invalidate()
            client.responses.create(model="gpt-oss-20b", input="hi")
            second = current_token(provider)
    assert api.bearers() == [first, second]
    assert api.seen[0].path.endswith("/endpoints/openapi/responses")
