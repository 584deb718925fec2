"""The engine with a token cache: read before fetching, written after, dropped when rejected."""

from __future__ import annotations

import logging
import pathlib

import pytest
import requests

from literauth import AzureAdCredentialProvider, BearerToken
from literauth.cache import FileCache, MemoryCache, default_cache
from literauth.errors import ConfigurationError
from literauth.integrations.requests import BearerAuth
from literauth.testing import FakeClock, FakeIdentityServer
from tests._api_server import Answer, ApiServer


def _provider(identity: FakeIdentityServer, clock: FakeClock, **options: object) -> AzureAdCredentialProvider:
    identity.advance(clock() - identity.clock())  # the fake issues tokens on the providers' clock
    return identity.azure.make_provider(clock=clock, background_refresh=False, **options)


def test_two_providers_of_one_identity_share_one_token_by_default(identity: FakeIdentityServer) -> None:
    clock = FakeClock()
    tokens = {_provider(identity, clock).resolve().token.expose_secret() for _ in range(20)}  # type: ignore[attr-defined]
    assert len(tokens) == 1
    assert identity.azure.request_count == 1  # a provider built per request: one token request
    assert len(default_cache()) == 1


def test_cache_false_keeps_tokens_to_the_provider(identity: FakeIdentityServer) -> None:
    clock = FakeClock()
    for _ in range(3):
        _provider(identity, clock, cache=False).resolve()
    assert identity.azure.request_count == 3
    assert len(default_cache()) == 0


def test_another_secret_or_scope_never_reads_the_token(identity: FakeIdentityServer) -> None:
    clock = FakeClock()
    _provider(identity, clock).resolve()
    client_id, secret = identity.azure.add_client()
    _provider(identity, clock, client_id=client_id, client_secret=secret).resolve()
    _provider(identity, clock, scope="https://management.azure.com/.default").resolve()
    assert identity.azure.request_count == 3


def test_loaded_tokens_are_not_counted_as_token_requests(identity: FakeIdentityServer) -> None:
    clock = FakeClock()
    first, second = _provider(identity, clock), _provider(identity, clock)
    first.resolve()
    second.resolve()
    assert (first.stats().token_requests, second.stats().token_requests) == (1, 0)
    assert second.stats().cache_loads == 1


def test_refresh_reads_the_cache_then_fetches_once(identity: FakeIdentityServer) -> None:
    clock = FakeClock()
    first, second = _provider(identity, clock), _provider(identity, clock)
    old = first.resolve()
    second.resolve()
    clock.advance(3600 - 200)  # into the refresh window of both
    identity.advance(3600 - 200)
    new = first.resolve()  # inline refresh: the old token is returned, a new one fetched and written
    assert new == old and identity.azure.request_count == 2
    assert second.resolve() == old  # due here too: reads the store, finds the new one
    assert identity.azure.request_count == 2
    assert second.resolve() == first.resolve() != old


def test_a_token_too_old_for_this_process_is_fetched_anew(identity: FakeIdentityServer) -> None:
    clock, late = FakeClock(), FakeClock()
    _provider(identity, clock).resolve()
    late.advance(3600 - 10)  # a process whose clock runs ahead: the entry is past its usable time
    token = _provider(identity, late).resolve()
    assert identity.azure.request_count == 2
    assert token.expires_at_epoch is not None and token.expires_at_epoch - late() > 3000


def test_invalidate_deletes_the_shared_entry_it_holds(identity: FakeIdentityServer) -> None:
    clock = FakeClock()
    first, second = _provider(identity, clock), _provider(identity, clock)
    bad = first.resolve()
    assert second.resolve() == bad
    second.invalidate()
    assert len(default_cache()) == 0
    assert first.resolve() == bad  # its own entry stays: invalidate() is per provider
    assert second.resolve() != bad and identity.azure.request_count == 2


def test_invalidate_keeps_a_newer_shared_entry(identity: FakeIdentityServer) -> None:
    clock = FakeClock()
    first, second = _provider(identity, clock), _provider(identity, clock)
    old = first.resolve()
    assert second.resolve() == old
    second.resolve(force_refresh=True)  # drops `old` everywhere, writes a new one
    newer = second.resolve()
    first.invalidate()  # its `old` is no longer what the store holds: the newer one stays
    assert first.resolve() == newer != old
    assert identity.azure.request_count == 2


def test_force_refresh_does_not_read_back_the_rejected_token(identity: FakeIdentityServer) -> None:
    clock = FakeClock()
    provider = _provider(identity, clock)
    bad = provider.resolve()
    assert provider.resolve(force_refresh=True) != bad
    assert identity.azure.request_count == 2


def test_bearer_auth_401_drops_the_token_from_the_shared_cache(
    identity: FakeIdentityServer, tmp_path: pathlib.Path
) -> None:
    """A token revoked while cached: the 401 retry drops it from the store, so others stop using it."""
    store = FileCache(tmp_path / "cache")
    clock = FakeClock()
    first, other = _provider(identity, clock, cache=store), _provider(identity, clock, cache=store)
    revoked = first.resolve()
    assert other.resolve() == revoked
    with ApiServer() as api:
        api.script(Answer(401, b'{"error": "revoked"}'))  # the API refuses the cached token once
        with requests.Session() as session:
            session.trust_env = False
            response = session.get(api.url, auth=BearerAuth(first), timeout=5)
    assert response.status_code == 200
    assert first.resolve() != revoked
    other.invalidate()  # another process learning of nothing: it would read the store
    assert other.resolve() == first.resolve()
    assert identity.azure.request_count == 2


def test_a_store_that_raises_never_fails_resolve(identity: FakeIdentityServer, caplog: pytest.LogCaptureFixture) -> None:
    class Broken(MemoryCache):
        def get(self, key: str) -> bytes | None:
            raise RuntimeError("disk on fire")

    clock = FakeClock()
    with caplog.at_level(logging.WARNING, "literauth.cache"):
        assert isinstance(_provider(identity, clock, cache=Broken()).resolve(), BearerToken)
    assert "RuntimeError" in caplog.text and "disk on fire" not in caplog.text


def test_bad_cache_option_is_refused(identity: FakeIdentityServer) -> None:
    with pytest.raises(ConfigurationError, match="cache must be None"):
        identity.azure.make_provider(cache="redis")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="max_entries"):
        MemoryCache(max_entries=0)


def test_memory_cache_is_a_bounded_lru() -> None:
    store = MemoryCache(max_entries=2)
    store.put("a", b"1", 0)
    store.put("b", b"2", 0)
    assert store.get("a") == b"1"  # now the most recent
    store.put("c", b"3", 0)
    assert (store.get("a"), store.get("b"), store.get("c")) == (b"1", None, b"3")
    with store.lease("k", 1) as held:
        assert held
        with store.lease("k", 0.01) as second:
            assert not second  # single flight within the process


def test_invalidate_if_current_drops_the_shared_entry_only_for_the_current_credential(
    identity: FakeIdentityServer,
) -> None:
    clock = FakeClock()
    first, second = _provider(identity, clock), _provider(identity, clock)
    bad = first.resolve()
    assert second.resolve() == bad
    assert not first.invalidate_if_current(BearerToken(bad.token, bad.expires_at))  # equal, not the same object
    assert len(default_cache()) == 1
    assert first.invalidate_if_current(bad)
    assert len(default_cache()) == 0  # dropped for the other providers too
    second.invalidate()
    assert second.resolve() == first.resolve() != bad
    assert identity.azure.request_count == 2
