"""`AzureTokenCredential` driven by azure-core's own pipeline and by azure-ai-inference.

The identity side is the real `AzureAdCredentialProvider` against `FakeIdentityServer`; the
service side is `FakeLlmServer` over HTTPS (azure-core sends bearer tokens over TLS only), which
records every token that arrives.
"""

from __future__ import annotations

import subprocess
import sys
import time
import traceback
from collections.abc import Iterator

import pytest
from azure.core import PipelineClient
from azure.core.credentials import (
    AccessToken,
    AccessTokenInfo,
    SupportsTokenInfo,
    TokenCredential,
)
from azure.core.exceptions import ClientAuthenticationError
from azure.core.pipeline.policies import BearerTokenCredentialPolicy, RetryPolicy
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest, HttpResponse

from literauth import (
    AzureAdCredentialProvider,
    BearerToken,
    ChainProvider,
    ConfigurationError,
    SecretString,
    StaticTokenProvider,
)
from literauth.adapters.azure import NEVER_EXPIRES, AzureTokenCredential
from literauth.testing import FakeIdentityServer, FakeLlmServer, SyncedClock
from literauth.testing._llm import cae_challenge

from ..conftest import assert_no_secret
from ._helpers import current_token, in_threads

SCOPE = "https://cognitiveservices.azure.com/.default"
ML_SCOPE = "https://ml.azure.com/.default"
CHAT = "/openai/deployments/gpt-4o/chat/completions"


@pytest.fixture
def idp() -> Iterator[FakeIdentityServer]:
    with FakeIdentityServer() as server:
        server.azure.add_resource("https://ml.azure.com")
        yield server


@pytest.fixture
def llm() -> Iterator[FakeLlmServer]:
    with FakeLlmServer(https=True) as server:
        yield server


def _client(credential: object, llm: FakeLlmServer, scope: str = SCOPE) -> PipelineClient[HttpRequest, HttpResponse]:
    """azure-core's own pipeline: retries, then the bearer policy every Azure SDK client uses."""
    policies = [RetryPolicy(retry_total=2, retry_backoff_factor=0), BearerTokenCredentialPolicy(credential, scope)]
    return PipelineClient(llm.url, policies=policies, transport=RequestsTransport(connection_verify=llm.ca_bundle))


def _chat(client: PipelineClient[HttpRequest, HttpResponse], llm: FakeLlmServer) -> int:
    response = client.send_request(HttpRequest("POST", llm.url + CHAT, json={"messages": []}))
    return response.status_code



# -- the protocols and what they return --------------------------------------------------------


def test_it_is_both_azure_core_credential_protocols(idp: FakeIdentityServer) -> None:
    credential = AzureTokenCredential(idp.azure_provider())
    assert isinstance(credential, TokenCredential)
    assert isinstance(credential, SupportsTokenInfo)


def test_expiry_is_an_int_and_the_refresh_is_always_due(idp: FakeIdentityServer) -> None:
    provider = idp.azure_provider()
    credential = AzureTokenCredential(provider)
    token = credential.get_token(SCOPE)
    info = credential.get_token_info(SCOPE, options={})
    cached = provider.resolve()
    assert isinstance(token, AccessToken) and isinstance(info, AccessTokenInfo)
    assert token.token == info.token == current_token(provider)
    assert type(token.expires_on) is int and type(info.expires_on) is int
    assert cached.expires_at_epoch is not None and token.expires_on == int(cached.expires_at_epoch)
    assert type(info.refresh_on) is int and 0 < info.refresh_on <= time.time()  # 0 would mean "unset"
    assert idp.azure.request_count == 1


def test_a_token_that_never_expires_is_reported_valid_for_a_day() -> None:
    credential = AzureTokenCredential(StaticTokenProvider("static-token-0123456789"))
    before = int(time.time())
    info = credential.get_token_info("any-scope/.default")
    assert info.token == "static-token-0123456789"
    assert type(info.expires_on) is int
    assert before + NEVER_EXPIRES <= info.expires_on <= int(time.time()) + NEVER_EXPIRES


# -- azure-core's pipeline: literauth's cache is what it sends -------------------------------------


def test_the_pipeline_sends_the_current_token_and_sees_an_invalidate_at_the_next_call(
    idp: FakeIdentityServer, llm: FakeLlmServer
) -> None:
    provider = idp.azure_provider()
    client = _client(AzureTokenCredential(provider), llm)
    assert [_chat(client, llm) for _ in range(3)] == [200, 200, 200]
    first = current_token(provider)
    assert llm.tokens() == [first] * 3
    assert idp.azure.request_count == 1
    assert idp.azure.check_token(first, audience="https://cognitiveservices.azure.com")
    provider.invalidate()
    assert _chat(client, llm) == 200
    second = current_token(provider)
    assert second != first and llm.tokens()[-1] == second  # the policy kept no copy of the old one
    assert idp.azure.request_count == 2


def test_a_rotation_by_the_identity_provider_reaches_the_next_call(idp: FakeIdentityServer, llm: FakeLlmServer) -> None:
    clock = SyncedClock(idp)
    provider = idp.azure_provider(clock=clock, background_refresh=False)
    client = _client(AzureTokenCredential(provider), llm)
    _chat(client, llm)
    first = llm.tokens()[-1]
    clock.advance(idp.azure.lifetime - 10)  # past what literauth serves: the next resolve() fetches
    _chat(client, llm)
    assert llm.tokens()[-1] != first and llm.tokens()[-1] == current_token(provider)
    assert idp.azure.request_count == 2


def test_sixteen_threads_sharing_one_client_cost_one_token_request(idp: FakeIdentityServer, llm: FakeLlmServer) -> None:
    provider = idp.azure_provider()
    client = _client(AzureTokenCredential(provider), llm)
    statuses = in_threads(16, lambda: [_chat(client, llm) for _ in range(3)])
    assert statuses == [[200] * 3] * 16
    assert idp.azure.request_count == 1
    assert set(llm.tokens()) == {current_token(provider)}



# -- scopes and tenants --------------------------------------------------------------------------


def test_azure_ai_inference_default_scope_is_served_by_one_derived_provider(
    idp: FakeIdentityServer, llm: FakeLlmServer
) -> None:
    inference = pytest.importorskip("azure.ai.inference")
    provider = idp.azure_provider()  # configured for cognitiveservices; the SDK asks for ml.azure.com
    client = inference.ChatCompletionsClient(
        endpoint=llm.url + "/models", credential=AzureTokenCredential(provider), connection_verify=llm.ca_bundle
    )
    answers = in_threads(8, lambda: client.complete(messages=[{"role": "user", "content": "hi"}]))
    assert [a.choices[0].message.content for a in answers] == ["fake chat says hi"] * 8
    assert llm.requests[0].path == "/models/chat/completions"
    tokens = set(llm.tokens())
    assert len(tokens) == 1 and idp.azure.check_token(tokens.pop(), audience="https://ml.azure.com")
    assert idp.azure.request_count == 1  # one derived provider, made once, fetched once
    assert provider.stats().token_requests == 0  # the provider passed in was never asked


def test_a_scope_the_provider_cannot_serve_names_both_scopes() -> None:
    class OneScope:
        scope = "api://literauth-app/.default"

        def resolve(self) -> BearerToken:
            return BearerToken(SecretString("one-scope-token-0123456789"))

    credential = AzureTokenCredential(OneScope())
    assert credential.get_token("api://literauth-app/.default").token == "one-scope-token-0123456789"
    with pytest.raises(ConfigurationError) as caught:
        credential.get_token(ML_SCOPE)
    assert ML_SCOPE in str(caught.value) and "api://literauth-app/.default" in str(caught.value)
    with pytest.raises(ConfigurationError, match="one scope per token request"):
        credential.get_token(SCOPE, ML_SCOPE)


def test_another_tenant_is_refused_naming_both(idp: FakeIdentityServer) -> None:
    provider = idp.azure_provider()
    credential = AzureTokenCredential(provider)
    assert credential.get_token(SCOPE, tenant_id=provider.tenant_id.upper()).token == current_token(provider)
    with pytest.raises(ConfigurationError) as caught:
        credential.get_token_info(SCOPE, options={"tenant_id": "other-tenant.onmicrosoft.com"})
    assert "other-tenant.onmicrosoft.com" in str(caught.value) and provider.tenant_id in str(caught.value)


def test_a_chain_serves_other_scopes_through_its_chosen_source(idp: FakeIdentityServer) -> None:
    provider = idp.azure_provider()
    credential = AzureTokenCredential(ChainProvider([("azure", lambda: provider)]))
    assert credential.get_token(SCOPE).token == current_token(provider)
    ml = credential.get_token(ML_SCOPE).token
    assert ml != current_token(provider) and idp.azure.check_token(ml, audience="https://ml.azure.com")


def test_the_azure_default_chain_plugs_in_and_serves_other_scopes(idp: FakeIdentityServer, llm: FakeLlmServer) -> None:
    from literauth.azure import default_chain

    chain = default_chain(environ=idp.azure.environ(), session=idp.session())
    client = _client(AzureTokenCredential(chain), llm)
    assert _chat(client, llm) == 200
    assert llm.tokens() == [current_token(chain)] and idp.azure.request_count == 1
    assert [o.status for o in chain.describe()][:2] == ["skipped", "chosen"]  # no AZURE_AD_TOKEN; the secret
    ml = AzureTokenCredential(chain).get_token(ML_SCOPE).token
    assert idp.azure.check_token(ml, audience="https://ml.azure.com")


def test_close_closes_the_providers_it_made_and_not_the_one_passed_in(idp: FakeIdentityServer) -> None:
    provider = idp.azure_provider()
    with AzureTokenCredential(provider) as credential:
        credential.get_token(ML_SCOPE)
        derived = credential._audiences[ML_SCOPE].provider
        assert derived is not provider
    with pytest.raises(ConfigurationError, match="closed"):
        derived.resolve()
    assert current_token(provider)  # still open
    assert credential.get_token(ML_SCOPE).token  # a new one is made on demand


def test_aws_keys_are_refused_at_construction(idp: FakeIdentityServer) -> None:
    with pytest.raises(ConfigurationError, match="bearer-token provider"):
        AzureTokenCredential(idp.sts_provider())
    with pytest.raises(ConfigurationError, match="resolve"):
        AzureTokenCredential(object())  # type: ignore[arg-type]


# -- failures and rejections -------------------------------------------------------------------


def test_a_provider_failure_is_azure_cores_auth_error_with_literauths_message(
    idp: FakeIdentityServer, llm: FakeLlmServer
) -> None:
    secret = idp.azure.client_secret.expose_secret()
    provider = idp.azure_provider()
    idp.azure.expire_secret(secret)
    client = _client(AzureTokenCredential(provider), llm)
    with pytest.raises(ClientAuthenticationError) as caught:
        _chat(client, llm)
    message = str(caught.value)
    assert message.startswith("literauth: azure.client_secret") and "AADSTS" in message
    assert llm.requests == []  # nothing was sent without a token
    shown = "".join(traceback.format_exception(caught.value))
    assert_no_secret([message, repr(caught.value), shown], [secret])


def test_a_plain_401_is_not_retried_by_azure_core_and_costs_no_fetch(idp: FakeIdentityServer, llm: FakeLlmServer) -> None:
    provider = idp.azure_provider()
    llm.refuse(current_token(provider))
    client = _client(AzureTokenCredential(provider), llm)
    assert _chat(client, llm) == 401
    assert len(llm.requests) == 1 and idp.azure.request_count == 1


def test_a_cae_challenge_refreshes_once_and_the_retry_carries_the_new_token(
    idp: FakeIdentityServer, llm: FakeLlmServer
) -> None:
    provider = idp.azure_provider()
    rejected = current_token(provider)
    llm.refuse(rejected, challenge=cae_challenge())
    client = _client(AzureTokenCredential(provider), llm)
    assert _chat(client, llm) == 200
    fresh = current_token(provider)
    assert llm.tokens() == [rejected, fresh] and fresh != rejected
    assert idp.azure.request_count == 2
    assert _chat(client, llm) == 200 and idp.azure.request_count == 2


def test_eight_requests_challenged_together_cost_one_refresh(idp: FakeIdentityServer, llm: FakeLlmServer) -> None:
    provider = idp.azure_provider()
    rejected = current_token(provider)
    llm.refuse(rejected, challenge=cae_challenge(), together=8)
    client = _client(AzureTokenCredential(provider), llm)
    assert in_threads(8, lambda: _chat(client, llm)) == [200] * 8
    assert llm.tokens().count(rejected) == 8
    assert idp.azure.request_count == 2  # the first token, and one refresh for all eight
    assert set(llm.tokens()) == {rejected, current_token(provider)}


def test_the_same_challenge_against_the_token_that_answered_it_costs_no_fetch(idp: FakeIdentityServer) -> None:
    provider = idp.azure_provider()
    credential = AzureTokenCredential(provider)
    first = credential.get_token(SCOPE).token
    claims = '{"access_token":{"nbf":{"essential":true}}}'
    second = credential.get_token(SCOPE, claims=claims).token
    assert second != first and idp.azure.request_count == 2
    assert credential.get_token(SCOPE, claims=claims).token == second  # a refresh cannot fix it again
    assert idp.azure.request_count == 2
    assert credential.get_token(SCOPE, claims=claims + " ").token != second  # a new challenge: one more
    assert idp.azure.request_count == 3


# -- no SDK loaded until needed ------------------------------------------------------------------


def test_importing_the_adapter_loads_no_azure_module() -> None:
    code = (
        "import sys, literauth, literauth.adapters.azure; "
        "print(sorted(m for m in sys.modules if m == 'azure' or m.startswith('azure.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"


def test_without_azure_core_building_one_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "azure.core.credentials", None)
    with pytest.raises(ConfigurationError, match=r"pip install azure-core$"):
        AzureTokenCredential(StaticTokenProvider("static-token-0123456789"))


def test_repr_shows_no_secret(idp: FakeIdentityServer) -> None:
    provider = idp.azure_provider()
    credential = AzureTokenCredential(provider)
    credential.get_token(SCOPE)
    assert_no_secret([repr(credential), str(credential)], [current_token(provider), idp.azure.client_secret.expose_secret()])
    assert isinstance(provider, AzureAdCredentialProvider)
