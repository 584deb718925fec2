"""After os.fork() a caller's session keeps its settings but never reuses the parent's sockets."""

from __future__ import annotations

import json
import os

import pytest
import requests
from requests.adapters import HTTPAdapter

from literauth._http import TokenFetcher, TokenRequest
from literauth._oauth import parse_oauth_error
from literauth.testing import FakeIdentityServer

from ._fork import in_child

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # 3.12+ warns on fork with threads
]


def test_a_callers_session_gets_fresh_pools_and_keeps_its_settings() -> None:
    with FakeIdentityServer() as server, requests.Session() as session:
        adapter = HTTPAdapter(max_retries=2, pool_maxsize=7)
        session.mount("http://", adapter)
        session.headers["X-Caller"] = "kept"
        session.trust_env = False
        fetcher = TokenFetcher("fork-test", server.url + "/nowhere", session=session)
        second = TokenFetcher("fork-test-2", server.url + "/nowhere", session=session)  # one reset per session
        with pytest.raises(Exception):  # noqa: B017 - any answer will do: it fills the pool
            fetcher.send(TokenRequest(form={}), parse_oauth_error)
        parent_pools = adapter.poolmanager

        def child() -> str:
            same_adapter = session.adapters["http://"] is adapter
            fresh = adapter.poolmanager is not parent_pools and len(adapter.poolmanager.pools) == 0
            kept = (adapter.max_retries.total, adapter._pool_maxsize, session.headers["X-Caller"], session.trust_env)
            with pytest.raises(Exception):  # noqa: B017 - the child still reaches the server
                second.send(TokenRequest(form={}), parse_oauth_error)
            return json.dumps([same_adapter, fresh, list(kept)])

        assert json.loads(in_child(child)) == [True, True, [2, 7, "kept", False]]
        assert adapter.poolmanager is parent_pools  # the parent is untouched
        assert session.headers["X-Caller"] == "kept"
        assert second.host == "127.0.0.1"


def test_an_own_session_is_dropped_in_the_child() -> None:
    with FakeIdentityServer() as server:
        fetcher = TokenFetcher("fork-test", server.url + "/nowhere")
        with pytest.raises(Exception):  # noqa: B017 - any answer will do: it creates the session
            fetcher.send(TokenRequest(form={}), parse_oauth_error)
        parent = fetcher._session
        assert in_child(lambda: fetcher._session is None and fetcher._get_session() is not parent) == "True"
        assert fetcher._session is parent
