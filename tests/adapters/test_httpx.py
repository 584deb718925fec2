"""BearerAuth and SigV4Auth for httpx and httpx2 clients, against a recording loopback API."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from types import ModuleType

import httpx
import httpx2
import pytest

from literauth import (
    ConfigurationError,
    SecretString,
    StaticTokenProvider,
    TokenEndpointError,
)
from literauth.adapters.httpx import BearerAuth, SigV4Auth
from literauth.testing import FakeIdentityServer

from .._api_server import Answer, aws_error
from ..conftest import assert_no_secret
from ._aws_server import MODEL, REGION, AwsServer, RejectOnly, sts_keys
from ._helpers import current_token, in_threads

LIBRARIES = [httpx, httpx2]
BODY = b'{"messages":[{"role":"user","content":[{"text":"hello"}]}]}'


@pytest.fixture
def api(server: FakeIdentityServer) -> Iterator[AwsServer]:
    with AwsServer() as recorder:
        yield recorder


@pytest.fixture(params=LIBRARIES, ids=lambda m: m.__name__)
def lib(request: pytest.FixtureRequest) -> ModuleType:
    return request.param  # type: ignore[no-any-return]


# -- one object serves both libraries ------------------------------------------------------


def test_one_auth_is_an_auth_of_both_libraries() -> None:
    auth = BearerAuth(StaticTokenProvider("static-token-0123456789"))
    assert isinstance(auth, BearerAuth) and isinstance(auth, httpx.Auth) and isinstance(auth, httpx2.Auth)
    assert type(auth) is type(BearerAuth(StaticTokenProvider("another-token-0123456789")))  # built once
    with httpx.Client(auth=auth), httpx2.Client(auth=auth):
        pass  # both accept it; each refuses the other's own Auth classes
    assert SigV4Auth.requires_request_body and not BearerAuth.requires_request_body


# -- BearerAuth ---------------------------------------------------------------------------


def test_bearer_sends_the_providers_current_token_and_follows_invalidate(
    server: FakeIdentityServer, api: AwsServer, lib: ModuleType
) -> None:
    with server.azure_provider() as provider, lib.Client(auth=BearerAuth(provider)) as client:
        first = current_token(provider)
        assert client.get(api.url + "/v1/models").status_code == 200
        provider.invalidate()
        second = current_token(provider)
        assert client.post(api.url + "/v1/chat", content=BODY).status_code == 200
    assert first != second
    assert api.bearers() == [first, second]
    assert server.azure.request_count == 2


def test_bearer_overwrites_a_placeholder_authorization(server: FakeIdentityServer, api: AwsServer) -> None:
    with server.azure_provider() as provider, httpx2.Client(auth=BearerAuth(provider)) as client:
        client.get(api.url + "/x", headers={"Authorization": "Bearer placeholder"})
        assert api.bearers() == [current_token(provider)]


def test_a_401_retries_once_with_a_fresh_token(server: FakeIdentityServer, api: AwsServer, lib: ModuleType) -> None:
    with server.azure_provider() as provider, lib.Client(auth=BearerAuth(provider)) as client:
        rejected = current_token(provider)
        api.bearer_tokens = RejectOnly(rejected)  # type: ignore[assignment]
        response = client.post(api.url + "/v1/chat", content=BODY)
        fresh = current_token(provider)
    assert response.status_code == 200
    assert [r.status_code for r in response.history] == [401]
    assert api.bearers() == [rejected, fresh]
    assert [s.body for s in api.seen] == [BODY, BODY]
    assert server.azure.request_count == 2  # one extra token request for the one rejection


def test_a_second_401_is_returned_and_costs_no_third_token(server: FakeIdentityServer, api: AwsServer) -> None:
    api.bearer_tokens = set()
    with server.azure_provider() as provider, httpx.Client(auth=BearerAuth(provider)) as client:
        assert client.get(api.url + "/x").status_code == 401
    assert len(api.seen) == 2
    assert server.azure.request_count == 2


def test_a_static_token_rejected_is_not_sent_again(api: AwsServer) -> None:
    api.bearer_tokens = set()
    with httpx2.Client(auth=BearerAuth(StaticTokenProvider("static-token-0123456789"))) as client:
        assert client.get(api.url + "/x").status_code == 401
    assert len(api.seen) == 1


def test_a_streamed_body_cannot_be_replayed_so_the_401_is_returned(
    server: FakeIdentityServer, api: AwsServer, lib: ModuleType
) -> None:
    api.bearer_tokens = set()

    def chunks() -> Iterator[bytes]:
        yield b"one-shot"

    with server.azure_provider() as provider, lib.Client(auth=BearerAuth(provider)) as client:
        assert client.post(api.url + "/upload", content=chunks()).status_code == 401
    assert len(api.seen) == 1
    assert server.azure.request_count == 1


def test_eight_threads_rejected_at_once_cost_one_token_request(
    server: FakeIdentityServer, api: AwsServer, lib: ModuleType
) -> None:
    with server.azure_provider() as provider, lib.Client(auth=BearerAuth(provider)) as client:
        api.bearer_tokens = RejectOnly(current_token(provider))  # type: ignore[assignment]
        statuses: list[int] = []
        in_threads(8, lambda: statuses.append(client.get(api.url + "/x").status_code))
    assert statuses == [200] * 8
    assert server.azure.request_count == 2


def test_sixteen_threads_on_one_client_cost_one_token_request(
    server: FakeIdentityServer, api: AwsServer, lib: ModuleType
) -> None:
    with server.azure_provider() as provider, lib.Client(auth=BearerAuth(provider)) as client:
        statuses: list[int] = []
        in_threads(16, lambda: statuses.extend(client.get(api.url + "/x").status_code for _ in range(3)))
        token = current_token(provider)
    assert statuses == [200] * 48
    assert server.azure.request_count == 1
    assert set(api.bearers()) == {token}


def test_aws_keys_for_bearer_and_a_token_for_sigv4_are_configuration_errors(server: FakeIdentityServer) -> None:
    with (
        server.sts_provider() as aws,
        httpx.Client(auth=BearerAuth(aws)) as client,
        pytest.raises(ConfigurationError, match="AwsCredentials.*literauth.adapters.httpx.SigV4Auth"),
    ):
        client.get("http://127.0.0.1:9/x")
    static = StaticTokenProvider("static-token-0123456789")
    with (
        httpx2.Client(auth=SigV4Auth(static, region=REGION)) as client,
        pytest.raises(ConfigurationError, match="BearerToken.*literauth.adapters.httpx.BearerAuth"),
    ):
        client.get("http://127.0.0.1:9/x")
    with pytest.raises(ConfigurationError, match="resolve"):
        BearerAuth("a token")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="region"):
        SigV4Auth(static, region="Mars 1")


def test_secrets_stay_out_of_repr_and_logs(
    server: FakeIdentityServer, api: AwsServer, debug_logs: pytest.LogCaptureFixture
) -> None:
    with server.azure_provider() as provider:
        auth = BearerAuth(provider)
        api.bearer_tokens = RejectOnly(current_token(provider))  # type: ignore[assignment]
        with httpx2.Client(auth=auth) as client:
            client.get(api.url + "/x")
        tokens = api.bearers()
        sigv4 = SigV4Auth(provider, region=REGION)
    assert "retrying once" in debug_logs.text
    assert_no_secret([repr(auth), str(auth), repr(sigv4), debug_logs.text], tokens)


# -- SigV4Auth ----------------------------------------------------------------------------


@pytest.fixture
def signed(server: FakeIdentityServer, api: AwsServer) -> AwsServer:
    api.aws_keys = sts_keys(server)  # type: ignore[assignment]
    return api


def issued(server: FakeIdentityServer) -> list[str]:
    return [c.access_key_id.expose_secret() for c in server.sts.issued_credentials]


def test_sigv4_signs_what_is_sent_with_the_providers_keys(
    server: FakeIdentityServer, signed: AwsServer, lib: ModuleType
) -> None:
    with server.sts_provider() as provider, lib.Client(auth=SigV4Auth(provider, region=REGION)) as client:
        response = client.post(
            f"{signed.url}/model/{MODEL}/converse?trace=a b", content=BODY,
            headers={"Content-Type": "application/json", "Authorization": "Bearer placeholder", "X-Amz-Date": "x"},
        )
        provider.invalidate()
        assert client.post(f"{signed.url}/model/{MODEL}/converse", content=BODY).status_code == 200
    assert response.status_code == 200, signed.sigv4_failures
    assert signed.sigv4_failures == []
    assert signed.access_keys() == issued(server)
    first = signed.seen[0]
    assert first.target == f"/model/{MODEL.replace(':', '%3A')}/converse?trace=a%20b"
    assert first.header("Authorization").startswith("AWS4-HMAC-SHA256 ")  # type: ignore[union-attr]
    assert first.header("X-Amz-Date") != "x"


def test_sigv4_reads_a_streamed_body_before_signing(
    server: FakeIdentityServer, signed: AwsServer, lib: ModuleType
) -> None:
    def chunks() -> Iterator[bytes]:
        yield BODY[:10]
        yield BODY[10:]

    with server.sts_provider() as provider, lib.Client(auth=SigV4Auth(provider, region=REGION)) as client:
        assert client.post(f"{signed.url}/model/{MODEL}/converse", content=chunks()).status_code == 200
    assert signed.seen[0].body == BODY
    assert signed.sigv4_failures == []


@pytest.mark.parametrize(
    "rejection", [aws_error(403, "ExpiredTokenException"), aws_error(400, "UnrecognizedClientException"),
                  Answer(403, b"<Error><Code>ExpiredToken</Code></Error>", {"Content-Type": "text/xml"})],
    ids=["json-403", "json-400", "xml-403"],
)
def test_sigv4_rejection_resigns_once_with_fresh_keys(
    server: FakeIdentityServer, signed: AwsServer, lib: ModuleType, rejection: Answer
) -> None:
    signed.script(rejection)
    with server.sts_provider() as provider, lib.Client(auth=SigV4Auth(provider, region=REGION)) as client:
        response = client.post(f"{signed.url}/model/{MODEL}/converse", content=BODY)
    assert response.status_code == 200
    assert signed.access_keys() == issued(server)  # the retry went with the second set of keys
    assert server.sts.request_count == 2
    assert [s.body for s in signed.seen] == [BODY, BODY]


def test_sigv4_other_403s_are_not_retried(server: FakeIdentityServer, signed: AwsServer) -> None:
    with server.sts_provider() as provider, httpx2.Client(auth=SigV4Auth(provider, region=REGION)) as client:
        for code in ("AccessDeniedException", "ThrottlingException"):
            signed.script(aws_error(403, code))
            assert client.post(f"{signed.url}/model/{MODEL}/converse", content=BODY).status_code == 403
    assert len(signed.seen) == 2
    assert server.sts.request_count == 1


def test_sigv4_eight_threads_rejected_at_once_cost_one_token_request(
    server: FakeIdentityServer, signed: AwsServer, lib: ModuleType
) -> None:
    with server.sts_provider() as provider, lib.Client(auth=SigV4Auth(provider, region=REGION)) as client:
        provider.resolve()
        signed.expired_keys = set(issued(server))
        statuses: list[int] = []
        in_threads(8, lambda: statuses.append(client.post(f"{signed.url}/model/{MODEL}/converse", content=BODY)
                                               .status_code))
    assert statuses == [200] * 8
    assert server.sts.request_count == 2


def test_sigv4_with_long_term_keys_sends_no_session_token(signed: AwsServer) -> None:
    from literauth import AwsCredentials

    keys = AwsCredentials(SecretString("AKIALONGTERMKEY00001"), SecretString("long-term-secret-0123456789abcdef"))

    class Static:
        def resolve(self) -> AwsCredentials:
            return keys

    signed.aws_keys = {"AKIALONGTERMKEY00001": ("long-term-secret-0123456789abcdef", None)}
    with httpx.Client(auth=SigV4Auth(Static(), region="eu-west-1", service="bedrock")) as client:
        assert client.get(signed.url + "/x").status_code == 200, signed.sigv4_failures
    assert signed.seen[0].header("X-Amz-Security-Token") is None


# -- lazy imports --------------------------------------------------------------------------


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.strip()


def test_importing_the_adapter_loads_neither_library() -> None:
    loaded = _python(
        "import sys, literauth, literauth.adapters.httpx\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('httpx', 'httpx2', 'httpcore')))"
    )
    assert loaded == "[]"


def test_without_either_library_building_an_auth_names_both() -> None:
    out = _python(
        "import sys; sys.modules['httpx'] = sys.modules['httpx2'] = None\n"
        "from literauth import StaticTokenProvider, ConfigurationError\n"
        "from literauth.adapters.httpx import BearerAuth\n"
        "try:\n    BearerAuth(StaticTokenProvider('token-0123456789'))\n"
        "except ConfigurationError as exc:\n    print(exc)\n"
    )
    assert "httpx or httpx2" in out and "pip install httpx2" in out and "pip install httpx" in out


@pytest.mark.parametrize("missing", ["httpx", "httpx2"])
def test_one_library_is_enough(missing: str) -> None:
    present = "httpx2" if missing == "httpx" else "httpx"
    out = _python(
        f"import sys; sys.modules[{missing!r}] = None\n"
        f"import {present}\n"
        "from literauth import StaticTokenProvider\n"
        "from literauth.adapters.httpx import BearerAuth\n"
        "auth = BearerAuth(StaticTokenProvider('token-0123456789'))\n"
        f"{present}.Client(auth=auth)\n"
        f"print(isinstance(auth, {present}.Auth))\n"
    )
    assert out == "True"


def test_a_failing_provider_raises_literauths_error_and_sends_nothing(
    server: FakeIdentityServer, api: AwsServer, lib: ModuleType
) -> None:
    server.azure.fail_with("invalid_client", "AADSTS7000215: Invalid client secret provided.", times=10)
    with (
        server.azure_provider() as provider,
        lib.Client(auth=BearerAuth(provider)) as client,
        pytest.raises(TokenEndpointError, match="AADSTS7000215") as info,
    ):
        client.get(api.url + "/x")
    assert api.seen == []
    assert_no_secret([str(info.value), repr(info.value)], [server.azure.client_secret.expose_secret()])
