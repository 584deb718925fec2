"""`AnthropicBedrock` over `httpx2.Client(auth=SigV4Auth(...))`: Claude on Bedrock signed by literauth."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import httpx
import httpx2
import pytest

from literauth.adapters.httpx import SigV4Auth
from literauth.testing import FakeIdentityServer

from ..conftest import assert_no_secret
from ._aws_server import MODEL, REGION, AwsServer, sts_keys
from ._helpers import in_threads

MESSAGES = [{"role": "user", "content": "hi"}]
INVOKE = f"/model/{MODEL.replace(':', '%3A')}/invoke"


@pytest.fixture
def api(server: FakeIdentityServer) -> Iterator[AwsServer]:
    with AwsServer(sts_keys(server)) as bedrock:
        yield bedrock


@pytest.fixture(autouse=True)
def _no_ambient_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys in the environment that must never sign; no bearer token the SDK could pick up."""
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAENVIRONMENTKEY00")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "environment-secret-that-must-never-sign-0123")


def claude(provider: object, api: AwsServer, **options: object) -> anthropic.AnthropicBedrock:
    """The documented setup: a placeholder `api_key` turns the SDK's own signing off; literauth signs."""
    return anthropic.AnthropicBedrock(
        api_key="signed-by-literauth", aws_region=REGION, base_url=api.url,
        http_client=httpx2.Client(auth=SigV4Auth(provider, region=REGION)), **options,  # type: ignore[arg-type]
    )


def ask(client: anthropic.AnthropicBedrock) -> str:
    message = client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)  # type: ignore[arg-type]
    return str(message.content[0].text)  # type: ignore[union-attr]


def issued(server: FakeIdentityServer) -> list[str]:
    return [c.access_key_id.expose_secret() for c in server.sts.issued_credentials]


def test_messages_and_the_stream_are_signed_with_the_providers_keys(
    server: FakeIdentityServer, api: AwsServer
) -> None:
    with server.sts_provider() as provider, claude(provider, api) as client:
        message = client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)  # type: ignore[arg-type]
        with client.messages.stream(model=MODEL, max_tokens=10, messages=MESSAGES) as stream:  # type: ignore[arg-type]
            streamed = stream.get_final_text()
    assert message.content[0].text == "hello from bedrock"  # type: ignore[union-attr]
    assert streamed == "streamed hello"
    assert api.sigv4_failures == []
    assert [s.path for s in api.seen] == [INVOKE, INVOKE + "-with-response-stream"]
    assert api.access_keys() == issued(server) * 2
    assert all("placeholder" not in (s.header("Authorization") or "") for s in api.seen)
    assert server.sts.request_count == 1


def test_after_invalidate_the_next_call_carries_new_keys(server: FakeIdentityServer, api: AwsServer) -> None:
    with server.sts_provider() as provider, claude(provider, api) as client:
        client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)  # type: ignore[arg-type]
        provider.invalidate()
        with client.messages.stream(model=MODEL, max_tokens=10, messages=MESSAGES) as stream:  # type: ignore[arg-type]
            stream.get_final_text()
    assert api.access_keys() == issued(server)
    assert len(set(api.access_keys())) == 2
    assert api.sigv4_failures == []


def test_sixteen_threads_on_one_client_cost_one_token_request(server: FakeIdentityServer, api: AwsServer) -> None:
    with server.sts_provider() as provider, claude(provider, api) as client:
        texts: list[str] = []
        in_threads(16, lambda: texts.extend(ask(client) for _ in range(3)))
    assert texts == ["hello from bedrock"] * 48
    assert server.sts.request_count == 1
    assert api.sigv4_failures == []


def test_expired_keys_for_eight_threads_at_once_cost_one_token_request(
    server: FakeIdentityServer, api: AwsServer
) -> None:
    with server.sts_provider() as provider, claude(provider, api, max_retries=2) as client:
        provider.resolve()
        api.expired_keys = set(issued(server))
        texts: list[str] = []
        in_threads(8, lambda: texts.append(ask(client)))
    assert texts == ["hello from bedrock"] * 8
    assert server.sts.request_count == 2  # the rejection was healed inside the auth, once for all


def test_keys_rejected_twice_reach_the_sdk_as_its_permission_error(
    server: FakeIdentityServer, api: AwsServer
) -> None:
    api.aws_keys = {}  # type: ignore[assignment]  # every key is unknown
    with (
        server.sts_provider() as provider,
        claude(provider, api, max_retries=2) as client,
        pytest.raises(anthropic.PermissionDeniedError),
    ):
        client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)  # type: ignore[arg-type]
    assert len(api.seen) == 2  # one re-signed retry; anthropic does not retry a 403
    assert server.sts.request_count == 2


def test_a_failing_provider_surfaces_through_the_sdk_with_literauths_message(
    server: FakeIdentityServer, api: AwsServer
) -> None:
    server.sts.fail_with("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", times=10)
    with (
        server.sts_provider() as provider,
        claude(provider, api, max_retries=2) as client,
        pytest.raises(anthropic.APIConnectionError) as info,
    ):
        client.messages.create(model=MODEL, max_tokens=10, messages=MESSAGES)  # type: ignore[arg-type]
    cause = info.value.__cause__
    assert "AccessDenied" in str(cause) and "aws.web_identity" in str(cause)
    assert api.seen == []  # nothing went out, with the environment's keys or any other
    assert server.sts.request_count == 1  # the SDK's own retries hit literauth's remembered failure
    token = server.sts.requests[0].form["WebIdentityToken"].expose_secret()  # type: ignore[attr-defined]
    assert_no_secret([str(info.value), repr(cause)], [token, "environment-secret-that-must-never-sign-0123"])


def test_anthropic_refuses_an_httpx_client_so_the_auth_goes_on_httpx2(server: FakeIdentityServer) -> None:
    with server.sts_provider() as provider, pytest.raises(TypeError, match="httpx2"):
        anthropic.AnthropicBedrock(
            api_key="signed-by-literauth", aws_region=REGION,
            http_client=httpx.Client(auth=SigV4Auth(provider, region=REGION)),  # type: ignore[arg-type]
        )
