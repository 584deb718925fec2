"""`GoogleCredentials` driven by google-auth's `AuthorizedSession`, google-genai and AnthropicVertex.

The identity side is the real `VertexOAuthCredentialProvider` against `FakeIdentityServer`'s
Google token endpoint; the service side is `FakeLlmServer`, which records every token that
arrives. Each SDK is the real one, pointed at the loopback server by its `base_url`.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import anthropic
import google.auth.credentials as google_credentials
import pytest
from google import genai
from google.auth.exceptions import GoogleAuthError, RefreshError
from google.auth.transport.requests import AuthorizedSession
from google.genai import types as genai_types

from literauth import ConfigurationError, StaticTokenProvider
from literauth.adapters.google import GoogleCredentials
from literauth.credentials import UTC
from literauth.google import VertexOAuthCredentialProvider
from literauth.testing import FakeIdentityServer, FakeLlmServer, SyncedClock

from .._engine_helpers import ScriptedProvider
from ..conftest import FakeClock, assert_no_secret
from ._helpers import current_token, in_threads

GEMINI = "gemini-2.0-flash"
CLAUDE = "claude-sonnet-4@20250514"


@pytest.fixture
def idp() -> Iterator[FakeIdentityServer]:
    with FakeIdentityServer() as server:
        yield server


@pytest.fixture
def llm() -> Iterator[FakeLlmServer]:
    with FakeLlmServer() as server:
        yield server


def _provider(idp: FakeIdentityServer, **options: Any) -> tuple[VertexOAuthCredentialProvider, dict[str, str]]:
    info = idp.google.register_service_account()
    return VertexOAuthCredentialProvider.from_service_account_json(info, session=idp.session(), **options), info




# The three SDKs, each as "make a client on these credentials" and "make one call with it".


def _genai(credentials: object, llm: FakeLlmServer) -> Callable[[], str | None]:
    client = genai.Client(
        vertexai=True, credentials=credentials, project="proj", location="us-central1",
        http_options=genai_types.HttpOptions(base_url=llm.url),
    )
    return lambda: client.models.generate_content(model=GEMINI, contents="hi").text


def _vertex_claude(credentials: object, llm: FakeLlmServer) -> Callable[[], str | None]:
    client = anthropic.AnthropicVertex(
        region="us-east5", project_id="proj", credentials=credentials, base_url=llm.url + "/v1", max_retries=0
    )

    def call() -> str | None:
        block = client.messages.create(model=CLAUDE, max_tokens=16, messages=[{"role": "user", "content": "hi"}])
        return block.content[0].text  # type: ignore[union-attr]

    return call


def _session(credentials: object, llm: FakeLlmServer) -> Callable[[], int]:
    session = AuthorizedSession(credentials)  # type: ignore[arg-type]
    return lambda: session.post(llm.url + "/v1/projects/proj/locations/us-central1/x:predict", json={}).status_code


SDKS = {"genai": _genai, "anthropic-vertex": _vertex_claude, "authorized-session": _session}
ANSWERS = {"genai": "fake gemini says hi", "anthropic-vertex": "fake claude says hi", "authorized-session": 200}


# -- a real google-auth credential ---------------------------------------------------------------


def test_it_is_a_google_auth_credential_with_quota_project_support(idp: FakeIdentityServer) -> None:
    provider, _ = _provider(idp)
    credentials = GoogleCredentials(provider, quota_project_id="billing-proj")
    assert isinstance(credentials, google_credentials.CredentialsWithQuotaProject)
    assert isinstance(credentials, GoogleCredentials) and issubclass(type(credentials), GoogleCredentials)
    assert not isinstance(credentials, google_credentials.Scoped)  # scopes belong to the provider
    assert credentials.quota_project_id == "billing-proj"
    other = credentials.with_quota_project("other-proj")
    assert isinstance(other, GoogleCredentials) and other.quota_project_id == "other-proj"
    assert other.provider is provider and credentials.quota_project_id == "billing-proj"


def test_token_expiry_and_validity_read_through_to_the_provider(idp: FakeIdentityServer) -> None:
    provider, _ = _provider(idp)
    credentials = GoogleCredentials(provider)
    assert credentials.token == current_token(provider)
    cached = provider.resolve()
    expiry = credentials.expiry
    assert isinstance(expiry, datetime) and expiry.tzinfo is None  # naive UTC, as google-auth compares
    assert cached.expires_at is not None and expiry == cached.expires_at.astimezone(UTC).replace(tzinfo=None)
    assert credentials.valid and not credentials.expired
    assert credentials.token_state is google_credentials.TokenState.FRESH
    provider.invalidate()
    assert credentials.token == current_token(provider) != cached.token.expose_secret()  # no copy was kept
    assert idp.google.request_count == 2


def test_a_token_that_never_expires_has_no_expiry() -> None:
    credentials = GoogleCredentials(StaticTokenProvider("static-token-0123456789"))
    assert credentials.expiry is None and credentials.valid and credentials.token == "static-token-0123456789"


def test_google_auths_own_refresh_window_never_fetches_behind_literauths_back(
    idp: FakeIdentityServer, llm: FakeLlmServer
) -> None:
    idp.google.lifetime = 200  # inside google-auth's 225 s threshold: "expired" from birth for it
    provider, _ = _provider(idp)
    credentials = GoogleCredentials(provider)
    assert not credentials.expired
    call = _genai(credentials, llm)
    assert [call() for _ in range(3)] == ["fake gemini says hi"] * 3
    assert idp.google.request_count == 1


# -- the SDKs send literauth's current token -------------------------------------------------------


@pytest.mark.parametrize("sdk", SDKS)
def test_each_sdk_sends_the_current_token_and_sees_an_invalidate_at_the_next_call(
    sdk: str, idp: FakeIdentityServer, llm: FakeLlmServer
) -> None:
    provider, _ = _provider(idp)
    call = SDKS[sdk](GoogleCredentials(provider, quota_project_id="billing-proj"), llm)
    assert [call() for _ in range(3)] == [ANSWERS[sdk]] * 3
    first = current_token(provider)
    assert llm.tokens() == [first] * 3 and first in idp.google.issued_tokens
    if sdk != "anthropic-vertex":  # AnthropicVertex does not send the quota project
        assert {seen.header("x-goog-user-project") for seen in llm.requests} == {"billing-proj"}
    provider.invalidate()
    assert call() == ANSWERS[sdk]
    assert llm.tokens()[-1] == current_token(provider) != first
    assert idp.google.request_count == 2


@pytest.mark.parametrize("sdk", SDKS)
def test_a_rotation_by_the_identity_provider_reaches_the_next_call(
    sdk: str, idp: FakeIdentityServer, llm: FakeLlmServer
) -> None:
    clock = SyncedClock(idp)
    provider, _ = _provider(idp, clock=clock, background_refresh=False)
    call = SDKS[sdk](GoogleCredentials(provider), llm)
    call()
    clock.advance(idp.google.lifetime - 10)  # past what literauth serves: the next resolve() fetches
    call()
    first, second = llm.tokens()
    assert second != first and second == current_token(provider) and idp.google.request_count == 2


@pytest.mark.parametrize("sdk", SDKS)
def test_sixteen_threads_sharing_one_client_cost_one_token_request(
    sdk: str, idp: FakeIdentityServer, llm: FakeLlmServer
) -> None:
    provider, _ = _provider(idp)
    make = SDKS[sdk]
    if sdk == "authorized-session":  # a requests.Session per thread, the credentials shared
        credentials = GoogleCredentials(provider)
        answers = in_threads(16, lambda: [make(credentials, llm)() for _ in range(3)])
    else:
        call = make(GoogleCredentials(provider), llm)
        answers = in_threads(16, lambda: [call() for _ in range(3)])
    assert answers == [[ANSWERS[sdk]] * 3] * 16
    assert idp.google.request_count == 1
    assert set(llm.tokens()) == {current_token(provider)}


# -- failures and rejections -------------------------------------------------------------------------


@pytest.mark.parametrize("sdk", SDKS)
def test_a_provider_failure_is_google_auths_refresh_error_with_literauths_message(
    sdk: str, idp: FakeIdentityServer, llm: FakeLlmServer
) -> None:
    provider, info = _provider(idp)
    credentials = GoogleCredentials(provider)
    call = SDKS[sdk](credentials, llm)
    old = current_token(provider)
    provider.invalidate()
    idp.google.delete_account(info["client_email"])
    with pytest.raises(GoogleAuthError) as caught:
        call()
    assert isinstance(caught.value, RefreshError)
    message = str(caught.value)
    assert message.startswith("literauth: google.service_account") and "invalid_grant" in message
    assert llm.requests == []
    shown = "".join(traceback.format_exception(caught.value))
    assert_no_secret([message, repr(caught.value), shown, repr(credentials)], [old, info["private_key"]])
    assert credentials.expired and not credentials.valid and credentials.token is None
    assert credentials.token_state is google_credentials.TokenState.INVALID


def test_authorized_session_retries_a_401_once_with_a_fresh_token(idp: FakeIdentityServer, llm: FakeLlmServer) -> None:
    provider, _ = _provider(idp)
    rejected = current_token(provider)
    llm.refuse(rejected)
    call = _session(GoogleCredentials(provider), llm)
    assert call() == 200
    assert llm.tokens() == [rejected, current_token(provider)]
    assert idp.google.request_count == 2


@pytest.mark.parametrize("sdk", ["genai", "anthropic-vertex"])
def test_sdks_that_do_not_retry_a_401_raise_it_and_cost_no_fetch(
    sdk: str, idp: FakeIdentityServer, llm: FakeLlmServer
) -> None:
    provider, _ = _provider(idp)
    llm.refuse(current_token(provider))
    call = SDKS[sdk](GoogleCredentials(provider), llm)
    with pytest.raises((genai.errors.ClientError, anthropic.AuthenticationError)) as caught:
        call()
    assert getattr(caught.value, "code", None) == 401 or getattr(caught.value, "status_code", None) == 401
    assert len(llm.requests) == 1 and idp.google.request_count == 1


def test_a_token_rejected_every_time_costs_one_fetch_per_rejected_request(
    idp: FakeIdentityServer, llm: FakeLlmServer
) -> None:
    provider, _ = _provider(idp)
    llm.refuse()  # every token
    call = _session(GoogleCredentials(provider), llm)
    assert call() == 401
    assert len(llm.requests) == 3  # the request, and a retry after each of AuthorizedSession's two refreshes
    assert len(set(llm.tokens())) == 3  # each retry carried a new token
    assert idp.google.request_count == 1 + 2  # the first token, one per rejection that was retried


def test_eight_requests_rejected_together_cost_one_fetch(idp: FakeIdentityServer, llm: FakeLlmServer) -> None:
    provider, _ = _provider(idp)
    rejected = current_token(provider)
    llm.refuse(rejected, together=8)
    credentials = GoogleCredentials(provider)
    assert in_threads(8, lambda: _session(credentials, llm)()) == [200] * 8
    assert llm.tokens().count(rejected) == 8
    assert idp.google.request_count == 2  # the first token and one refresh for all eight
    assert set(llm.tokens()) == {rejected, current_token(provider)}


def test_refresh_drops_only_the_token_this_thread_used(clock: FakeClock) -> None:
    provider = ScriptedProvider(clock=clock)
    credentials = GoogleCredentials(provider)
    assert credentials.token == "token-1"
    credentials.refresh(None)  # this thread read token-1: it was rejected
    assert credentials.token == "token-2" and provider.calls == 2
    other: list[str | None] = []
    worker = threading.Thread(target=lambda: (credentials.refresh(None), other.append(credentials.token)))
    worker.start()  # a thread that never read a token has nothing to report rejected
    worker.join(10)
    assert other == ["token-2"] and provider.calls == 2


# -- construction, laziness ----------------------------------------------------------------------------


def test_bad_arguments_are_refused(idp: FakeIdentityServer) -> None:
    with pytest.raises(ConfigurationError, match="bearer-token provider"):
        GoogleCredentials(idp.sts_provider())
    with pytest.raises(ConfigurationError, match="quota_project_id"):
        GoogleCredentials(StaticTokenProvider("static-token-0123456789"), quota_project_id=" ")
    with pytest.raises(ConfigurationError, match="resolve"):
        GoogleCredentials(object())  # type: ignore[arg-type]


def test_importing_the_adapter_loads_no_google_module() -> None:
    code = (
        "import sys, literauth, literauth.adapters.google; "
        "from literauth.adapters.google import GoogleCredentials; "
        "print(sorted(m for m in sys.modules if m == 'google' or m.startswith('google.')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.strip() == "[]"


def test_without_google_auth_building_one_names_the_package() -> None:
    code = (
        "import sys; sys.modules['google.auth'] = None; sys.modules['google.auth.credentials'] = None\n"
        "from literauth import StaticTokenProvider, ConfigurationError\n"
        "from literauth.adapters.google import GoogleCredentials\n"
        "print(isinstance(object(), GoogleCredentials))\n"
        "try:\n    GoogleCredentials(StaticTokenProvider('static-token-0123456789'))\n"
        "except ConfigurationError as exc:\n    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert done.stdout.splitlines() == ["False", "google.auth.credentials is not installed: pip install google-auth"]
