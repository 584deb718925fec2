"""`FakeLlmServer`: records what arrives, answers each SDK's path in shape, refuses chosen tokens."""

from __future__ import annotations

import threading
import time

import pytest
import requests

from literauth.testing import FakeLlmServer
from literauth.testing._llm import cae_challenge


@pytest.fixture
def session() -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    return s


@pytest.mark.parametrize(
    ("path", "field", "value"),
    [
        ("/v1/projects/p/locations/l/publishers/google/models/g:generateContent", "candidates", None),
        ("/v1/projects/p/locations/l/publishers/anthropic/models/c:rawPredict", "type", "message"),
        ("/models/chat/completions", "object", "chat.completion"),
        ("/anything", "ok", True),
    ],
)
def test_each_sdk_path_gets_its_answer_and_the_request_is_recorded(
    session: requests.Session, path: str, field: str, value: object
) -> None:
    with FakeLlmServer() as llm:
        answer = session.post(llm.url + path, json={}, headers={"Authorization": "Bearer tok-1"})
        assert answer.status_code == 200 and field in answer.json()
        if value is not None:
            assert answer.json()[field] == value
        assert llm.tokens() == ["tok-1"] and llm.requests[0].path == path


def test_a_refused_token_gets_a_401_with_its_challenge(session: requests.Session) -> None:
    with FakeLlmServer() as llm:
        llm.refuse("bad", challenge=cae_challenge('{"x":1}'))
        refused = session.get(llm.url + "/x", headers={"Authorization": "Bearer bad"})
        assert refused.status_code == 401 and 'error="insufficient_claims"' in refused.headers["WWW-Authenticate"]
        assert session.get(llm.url + "/x", headers={"Authorization": "Bearer good"}).status_code == 200
        llm.refuse()  # every request
        assert session.get(llm.url + "/x").status_code == 401
        assert llm.tokens() == ["bad", "good", None]


def test_refusals_held_together_are_answered_at_once() -> None:
    with FakeLlmServer() as llm:
        llm.refuse("bad", together=3)
        sent: list[float] = []
        done: list[float] = []

        def call(delay: float) -> None:
            time.sleep(delay)  # stagger the arrivals
            sent.append(time.monotonic())
            with requests.Session() as s:
                s.trust_env = False
                assert s.get(llm.url + "/x", headers={"Authorization": "Bearer bad"}).status_code == 401
            done.append(time.monotonic())

        threads = [threading.Thread(target=call, args=(d,)) for d in (0.0, 0.1, 0.3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(15)
        assert len(done) == 3 and min(done) >= max(sent)  # nobody was answered before the last was sent


def test_https_serves_with_the_loopback_ca(session: requests.Session) -> None:
    pytest.importorskip("cryptography")
    with FakeLlmServer(https=True) as llm:
        assert llm.url.startswith("https://") and llm.ca_bundle is not None
        assert session.get(llm.url + "/x", verify=llm.ca_bundle).status_code == 200
