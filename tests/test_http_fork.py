"""After os.fork() a caller's session keeps its settings but never reuses the parent's sockets."""

from __future__ import annotations

import json
import os
import select
from collections.abc import Callable

import pytest
import requests
from requests.adapters import HTTPAdapter

from literauth._http import TokenFetcher
from literauth._oauth import parse_oauth_error
from literauth.testing import FakeIdentityServer

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # 3.12+ warns on fork with threads
]


def _in_child(work: Callable[[], object]) -> str:
    """Run `work()` in a forked child; return what it wrote, failing on a hang."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        try:
            result = str(work())
        except BaseException as exc:  # noqa: BLE001 - report anything to the parent
            result = f"error: {type(exc).__name__}: {exc}"
        os.write(write_fd, result.encode())
        os._exit(0)
    os.close(write_fd)
    ready, _, _ = select.select([read_fd], [], [], 20)
    if not ready:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the child hung")
    output = os.read(read_fd, 4096).decode()
    os.close(read_fd)
    os.waitpid(pid, 0)
    return output


def test_a_callers_session_gets_fresh_pools_and_keeps_its_settings() -> None:
    with FakeIdentityServer() as server, requests.Session() as session:
        adapter = HTTPAdapter(max_retries=2, pool_maxsize=7)
        session.mount("http://", adapter)
        session.headers["X-Caller"] = "kept"
        session.trust_env = False
        fetcher = TokenFetcher("fork-test", server.url + "/nowhere", session=session)
        second = TokenFetcher("fork-test-2", server.url + "/nowhere", session=session)  # one reset per session
        with pytest.raises(Exception):  # noqa: B017 - any answer will do: it fills the pool
            fetcher.post_form({}, parse_oauth_error)
        parent_pools = adapter.poolmanager

        def child() -> str:
            same_adapter = session.adapters["http://"] is adapter
            fresh = adapter.poolmanager is not parent_pools and len(adapter.poolmanager.pools) == 0
            kept = (adapter.max_retries.total, adapter._pool_maxsize, session.headers["X-Caller"], session.trust_env)
            with pytest.raises(Exception):  # noqa: B017 - the child still reaches the server
                second.post_form({}, parse_oauth_error)
            return json.dumps([same_adapter, fresh, list(kept)])

        assert json.loads(_in_child(child)) == [True, True, [2, 7, "kept", False]]
        assert adapter.poolmanager is parent_pools  # the parent is untouched
        assert session.headers["X-Caller"] == "kept"
        assert second.host == "127.0.0.1"


def test_an_own_session_is_dropped_in_the_child() -> None:
    with FakeIdentityServer() as server:
        fetcher = TokenFetcher("fork-test", server.url + "/nowhere")
        with pytest.raises(Exception):  # noqa: B017 - any answer will do: it creates the session
            fetcher.post_form({}, parse_oauth_error)
        parent = fetcher._session
        assert _in_child(lambda: fetcher._session is None and fetcher._get_session() is not parent) == "True"
        assert fetcher._session is parent
