"""BearerAuth, bearer_token_callable and the retry-once-on-rejection both auths share."""

from __future__ import annotations

import io
import threading
import typing
from collections.abc import Iterator

import pytest
import requests

from literauth import (
    AwsCredentials,
    BearerToken,
    ConfigurationError,
    SecretString,
    StaticTokenProvider,
)
from literauth.integrations._rejection import fresher_credential, invalidate
from literauth.integrations.requests import (
    BearerAuth,
    ProviderAuth,
    bearer_token_callable,
    check_provider,
)
from literauth.sigv4 import SigV4Auth

from .._api_server import Answer, ApiServer, aws_error
from ..conftest import assert_no_secret

TOKENS = ["token-one-0123456789abcdef", "token-two-0123456789abcdef", "token-three-0123456789abc"]


class RotatingProvider:
    """Serves one cached credential until `invalidate()`, then the next; counts both calls."""

    def __init__(self, credentials: list[object]) -> None:
        self._credentials = credentials
        self._index = 0
        self._lock = threading.Lock()
        self.resolves = 0
        self.invalidations = 0

    def resolve(self) -> object:
        with self._lock:
            self.resolves += 1
            return self._credentials[min(self._index, len(self._credentials) - 1)]

    def invalidate(self) -> None:
        with self._lock:
            self.invalidations += 1
            self._index += 1

    def __repr__(self) -> str:
        return "RotatingProvider()"


def bearer_provider() -> RotatingProvider:
    return RotatingProvider([BearerToken(SecretString(t)) for t in TOKENS])


def aws(n: int, token: bool = True) -> AwsCredentials:
    return AwsCredentials(
        SecretString(f"ASIAKEY{n:013d}"),
        SecretString(f"secret-{n}-wJalrXUtnFEMIK7MDENGbPxRfiCY"),
        SecretString(f"session-{n}-IQoJb3JpZ2luX2VjEXAMPLE") if token else None,
    )


def aws_keys(*numbers: int) -> dict[str, tuple[str, str | None]]:
    keys = {}
    for n in numbers:
        c = aws(n)
        keys[c.access_key_id.expose_secret()] = (
            c.secret_access_key.expose_secret(),
            c.session_token.expose_secret() if c.session_token else None,
        )
    return keys


@pytest.fixture
def api() -> Iterator[ApiServer]:
    with ApiServer() as server:
        yield server


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as s:
        yield s


def bearer_of(seen: object) -> str:
    return (seen.header("Authorization") or "").removeprefix("Bearer ")  # type: ignore[attr-defined]


# -- BearerAuth ------------------------------------------------------------------------


def test_sets_the_bearer_header_from_the_provider(api: ApiServer, session: requests.Session) -> None:
    provider = bearer_provider()
    response = session.get(api.url + "/v1/models", auth=BearerAuth(provider))
    assert response.status_code == 200
    assert [bearer_of(s) for s in api.seen] == [TOKENS[0]]
    assert provider.resolves == 1


def test_401_invalidates_and_retries_once_with_a_fresh_token(api: ApiServer, session: requests.Session) -> None:
    api.bearer_tokens = {TOKENS[1]}  # the first token was revoked
    provider = bearer_provider()
    response = session.post(api.url + "/chat", json={"q": "hi"}, auth=BearerAuth(provider))
    assert response.status_code == 200
    assert [bearer_of(s) for s in api.seen] == [TOKENS[0], TOKENS[1]]
    assert provider.invalidations == 1
    assert [r.status_code for r in response.history] == [401]
    assert response.request.headers["Authorization"] == f"Bearer {TOKENS[1]}"
    assert api.seen[0].body == api.seen[1].body == b'{"q": "hi"}'


def test_a_second_401_is_returned_as_is(api: ApiServer, session: requests.Session) -> None:
    api.bearer_tokens = set()
    provider = bearer_provider()
    response = session.get(api.url + "/x", auth=BearerAuth(provider))
    assert response.status_code == 401
    assert "invalid token" in response.text
    assert len(api.seen) == 2
    assert provider.invalidations == 1
    assert [bearer_of(s) for s in api.seen] == TOKENS[:2]


def test_other_errors_are_not_retried(api: ApiServer, session: requests.Session) -> None:
    provider = bearer_provider()
    for status in (400, 403, 429, 500):
        api.script(Answer(status, b"{}"))
        assert session.get(api.url + "/x", auth=BearerAuth(provider)).status_code == status
    assert len(api.seen) == 4
    assert provider.invalidations == 0


def test_a_provider_with_nothing_new_is_not_asked_twice(api: ApiServer, session: requests.Session) -> None:
    api.bearer_tokens = set()
    response = session.get(api.url + "/x", auth=BearerAuth(StaticTokenProvider("static-token-abcdefghij")))
    assert response.status_code == 401
    assert len(api.seen) == 1  # a retry with the same token would change nothing


def test_a_concurrent_refresh_is_used_without_invalidating_again(api: ApiServer, session: requests.Session) -> None:
    provider = bearer_provider()
    api.bearer_tokens = {TOKENS[1]}
    auth = BearerAuth(provider)
    prepared = session.prepare_request(requests.Request("GET", api.url + "/x", auth=auth))
    provider.invalidate()  # another thread refreshed after this request was signed
    response = session.send(prepared)
    assert response.status_code == 200
    assert provider.invalidations == 1
    assert [bearer_of(s) for s in api.seen] == TOKENS[:2]


def test_a_seekable_file_body_is_replayed(api: ApiServer, session: requests.Session) -> None:
    api.bearer_tokens = {TOKENS[1]}
    data = b"file contents " * 1000
    response = session.put(api.url + "/upload", data=io.BytesIO(data), auth=BearerAuth(bearer_provider()))
    assert response.status_code == 200
    assert [s.body for s in api.seen] == [data, data]


def test_a_generator_body_cannot_be_replayed_so_the_401_is_returned(
    api: ApiServer, session: requests.Session
) -> None:
    api.bearer_tokens = {TOKENS[1]}
    provider = bearer_provider()

    def chunks() -> Iterator[bytes]:
        yield b"one-shot"

    response = session.post(api.url + "/upload", data=chunks(), auth=BearerAuth(provider))
    assert response.status_code == 401
    assert len(api.seen) == 1
    assert provider.invalidations == 0


def test_signing_a_request_twice_still_retries_only_once(api: ApiServer, session: requests.Session) -> None:
    api.bearer_tokens = set()
    provider = bearer_provider()
    auth = BearerAuth(provider)
    prepared = session.prepare_request(requests.Request("GET", api.url + "/x", auth=auth))
    auth(prepared)  # e.g. a caller re-applying the auth before sending
    assert len(prepared.hooks["response"]) == 1
    response = session.send(prepared)
    assert response.status_code == 401
    assert len(api.seen) == 2


def test_cookies_set_by_the_rejection_go_with_the_retry(api: ApiServer, session: requests.Session) -> None:
    api.script(Answer(401, b"{}", {"Set-Cookie": "affinity=node-7; Path=/"}))
    response = session.get(api.url + "/x", auth=BearerAuth(bearer_provider()))
    assert response.status_code == 200
    assert "affinity=node-7" in (api.seen[1].header("Cookie") or "")


def test_aws_credentials_are_a_configuration_error() -> None:
    auth = BearerAuth(RotatingProvider([aws(1)]))
    with pytest.raises(ConfigurationError, match="AwsCredentials.*SigV4Auth"):
        requests.Request("GET", "https://h/", auth=auth).prepare()


def test_something_without_resolve_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="resolve"):
        BearerAuth("a token string")  # type: ignore[arg-type]


def test_secrets_stay_out_of_repr_and_logs(
    api: ApiServer, session: requests.Session, debug_logs: pytest.LogCaptureFixture
) -> None:
    api.bearer_tokens = {TOKENS[1]}
    auth = BearerAuth(bearer_provider())
    session.get(api.url + "/x", auth=auth)
    assert "retrying once" in debug_logs.text
    assert_no_secret([repr(auth), str(auth), debug_logs.text], TOKENS)


def test_threads_rejected_together_all_heal(api: ApiServer) -> None:
    tokens = [f"token-{n}-0123456789abcdef" for n in range(10)]
    api.bearer_tokens = set(tokens[1:])  # every refresh yields a good token, as a real IdP does
    provider = RotatingProvider([BearerToken(SecretString(t)) for t in tokens])
    auth = BearerAuth(provider)
    start = threading.Barrier(8)
    statuses: list[int] = []

    def worker() -> None:
        with requests.Session() as s:
            start.wait()
            statuses.append(s.get(api.url + "/x", auth=auth).status_code)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 8
    assert len(api.seen) <= 16
    assert 1 <= provider.invalidations <= 8


# -- bearer_token_callable ---------------------------------------------------------------


def test_token_callable_returns_the_current_token_each_call() -> None:
    provider = bearer_provider()
    get_token = bearer_token_callable(provider)
    assert get_token() == TOKENS[0]
    provider.invalidate()
    assert get_token() == TOKENS[1]
    assert provider.resolves == 2
    assert_no_secret([repr(get_token)], TOKENS)


def test_token_callable_refuses_aws_credentials_and_non_providers() -> None:
    with pytest.raises(ConfigurationError, match="not a BearerToken"):
        bearer_token_callable(RotatingProvider([aws(1)]))()
    with pytest.raises(ConfigurationError, match="resolve"):
        bearer_token_callable(None)  # type: ignore[arg-type]


# -- SigV4Auth retry ---------------------------------------------------------------------


def sigv4_provider() -> RotatingProvider:
    return RotatingProvider([aws(1), aws(2), aws(3)])


@pytest.mark.parametrize(
    "rejection",
    [
        aws_error(403, "ExpiredTokenException"),
        aws_error(400, "ExpiredTokenException"),
        Answer(403, b'<ErrorResponse><Error><Code>ExpiredToken</Code></Error></ErrorResponse>', {"Content-Type": "text/xml"}),
        Answer(403, b'<Error><Code>InvalidClientTokenId</Code></Error>', {"Content-Type": "text/xml"}),
        Answer(400, b'{"__type":"UnrecognizedClientException","message":"bad"}', {"Content-Type": "application/json"}),
    ],
    ids=["json-403", "json-400", "xml-expired", "xml-invalid-id", "json-unrecognised"],
)
def test_sigv4_rejection_invalidates_and_resigns_with_the_body_replayed(
    api: ApiServer, session: requests.Session, rejection: Answer
) -> None:
    api.aws_keys = aws_keys(1, 2)
    api.script(rejection)
    provider = sigv4_provider()
    body = b'{"messages":[{"role":"user","content":[{"text":"hello"}]}]}'
    response = session.post(api.url + "/model/anthropic.claude-3-haiku-20240307-v1:0/converse", data=body,
                            headers={"Content-Type": "application/json"}, auth=SigV4Auth(provider, region="us-east-1"))
    assert response.status_code == 200, api.sigv4_failures
    assert provider.invalidations == 1
    first, second = api.seen
    assert first.body == second.body == body
    assert "ASIAKEY0000000000001/" in (first.header("Authorization") or "")
    assert "ASIAKEY0000000000002/" in (second.header("Authorization") or "")
    assert second.header("X-Amz-Security-Token") == "session-2-IQoJb3JpZ2luX2VjEXAMPLE"
    assert second.path == "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    assert api.sigv4_failures == []


def test_sigv4_expired_keys_heal_through_a_real_verifier(api: ApiServer, session: requests.Session) -> None:
    api.aws_keys = aws_keys(1, 2)
    api.expired_keys = {"ASIAKEY0000000000001"}
    provider = sigv4_provider()
    response = session.put(api.url + "/bucket/key", data=io.BytesIO(b"payload"),
                           auth=SigV4Auth(provider, region="us-east-1", service="s3"))
    assert response.status_code == 200, api.sigv4_failures
    assert [s.body for s in api.seen] == [b"payload", b"payload"]
    assert response.history[0].json()["__type"].endswith("ExpiredTokenException")


def test_sigv4_second_rejection_is_returned(api: ApiServer, session: requests.Session) -> None:
    api.aws_keys = {}
    provider = sigv4_provider()
    response = session.get(api.url + "/", auth=SigV4Auth(provider, region="us-east-1", service="sts"))
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"].startswith("UnrecognizedClientException")
    assert len(api.seen) == 2
    assert provider.invalidations == 1


def test_sigv4_other_403s_are_not_retried(api: ApiServer, session: requests.Session) -> None:
    provider = sigv4_provider()
    for code in ("AccessDeniedException", "InvalidSignatureException", "ThrottlingException"):
        api.script(aws_error(403, code))
        assert session.get(api.url + "/", auth=SigV4Auth(provider, region="us-east-1")).status_code == 403
    assert len(api.seen) == 3
    assert provider.invalidations == 0


# -- the shared pieces: typed auths, the provider check, the fresher-credential decision --------


@pytest.mark.parametrize(("auth", "credential"), [(BearerAuth, BearerToken), (SigV4Auth, AwsCredentials)])
def test_each_auth_checks_at_run_time_the_credential_it_is_typed_for(
    auth: type[ProviderAuth[typing.Any]], credential: type[object]
) -> None:
    bases = [base for base in auth.__orig_bases__ if typing.get_origin(base) is ProviderAuth]  # type: ignore[attr-defined]
    assert [typing.get_args(base) for base in bases] == [(credential,)]
    assert auth.credential_type is credential


def test_check_provider_returns_the_provider_and_refuses_a_non_callable_resolve() -> None:
    provider = bearer_provider()
    assert check_provider(provider, "x") is provider

    class NotCallable:
        resolve = "not a method"

    with pytest.raises(ConfigurationError, match="resolve"):
        check_provider(NotCallable(), "x")


def test_fresher_credential_takes_a_concurrent_refresh_without_invalidating() -> None:
    provider = bearer_provider()
    rejected = BearerToken(SecretString("rejected-token-0123456789"))
    fresh = fresher_credential(provider, rejected, provider.resolve)  # type: ignore[arg-type]
    assert fresh == BearerToken(SecretString(TOKENS[0]))
    assert provider.invalidations == 0


def test_fresher_credential_invalidates_once_when_the_cache_still_holds_the_rejected_one() -> None:
    provider = bearer_provider()
    used = provider.resolve()
    assert fresher_credential(provider, used, provider.resolve) == BearerToken(SecretString(TOKENS[1]))
    assert provider.invalidations == 1


def test_fresher_credential_is_none_when_nothing_changes() -> None:
    static = StaticTokenProvider("static-token-0123456789")
    used = static.resolve()
    assert fresher_credential(static, used, static.resolve) is None  # invalidate() exists but drops nothing

    class ResolveOnly:
        def resolve(self) -> BearerToken:
            return used

    assert invalidate(ResolveOnly()) is False
    assert fresher_credential(ResolveOnly(), used, ResolveOnly().resolve) is None
