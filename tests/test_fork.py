"""Providers survive os.fork() even when another thread held their locks at fork time."""

from __future__ import annotations

import os
import threading

import pytest

from literauth.testing import FakeIdentityServer

from ._engine_helpers import ScriptedProvider, token_of
from ._fork import in_child
from .conftest import FakeClock

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # 3.12+ warns on fork with threads
]


def _hold_write_lock(provider: ScriptedProvider) -> tuple[threading.Event, threading.Thread]:
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with provider._lock.gen_wlock():
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder, daemon=True)
    thread.start()
    assert held.wait(5)
    return release, thread


def test_child_serves_cached_credential_despite_held_lock(clock: FakeClock) -> None:
    provider = ScriptedProvider(clock=clock)
    provider.resolve()
    release, thread = _hold_write_lock(provider)
    try:
        assert in_child(lambda: token_of(provider.resolve())) == "token-1"
    finally:
        release.set()
        thread.join(5)


def test_child_fetches_when_cache_expired_despite_held_lock(clock: FakeClock) -> None:
    provider = ScriptedProvider(clock=clock)
    provider.resolve()
    clock.advance(3600)
    release, thread = _hold_write_lock(provider)
    try:
        assert in_child(lambda: token_of(provider.resolve())) == "token-2"
    finally:
        release.set()
        thread.join(5)


def test_child_does_not_wait_for_a_fetch_running_in_the_parent(clock: FakeClock) -> None:
    release, entered = threading.Event(), threading.Event()
    provider = ScriptedProvider(clock=clock)

    def stuck() -> None:
        if provider.calls == 1:  # only the parent's first fetch hangs
            entered.set()
            release.wait(10)

    provider.delay = stuck
    parent = threading.Thread(target=provider.resolve, daemon=True)
    parent.start()
    try:
        assert entered.wait(5)
        assert provider.stats().refreshing
        # the child inherits calls == 1 and the parent's pending fetch, whose thread it lacks
        assert in_child(lambda: token_of(provider.resolve())) == "token-2"
    finally:
        release.set()
        parent.join(5)


def test_child_gets_a_fresh_http_session() -> None:
    from literauth import TokenEndpointError
    from literauth._http import TokenFetcher, TokenRequest
    from literauth._oauth import parse_oauth_error

    with FakeIdentityServer() as server:
        fetcher = TokenFetcher("fork-test", server.url + "/nowhere")
        with pytest.raises(TokenEndpointError) as info:  # any answer will do: it creates the session
            fetcher.send(TokenRequest(form={}), parse_oauth_error)
        assert info.value.status_code == 404
        parent_session = fetcher._session
        assert parent_session is not None
        assert in_child(lambda: fetcher._get_session() is not parent_session) == "True"
        assert fetcher._session is parent_session
