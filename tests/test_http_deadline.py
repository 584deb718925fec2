"""Wall-clock deadlines: a trickling endpoint cannot hold a fetch past its budget (newuser #1)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from literauth import TransportError
from literauth._http import TokenFetcher, TokenRequest
from literauth._oauth import parse_oauth_error
from literauth._policy import RetryPolicy
from literauth.errors import TransportReason

HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"


class Trickler:
    """A raw loopback server: reads the request, sends `head`, then one byte every 0.2 s."""

    def __init__(self, head: bytes) -> None:
        self.head = head
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stop = threading.Event()
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.listener.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(self.head)
                while not self.stop.wait(0.2):
                    conn.sendall(b" ")
            except OSError:
                return  # the client shut its end: done

    def close(self) -> None:
        self.stop.set()
        self.listener.close()


@pytest.fixture
def body_trickler() -> Iterator[Trickler]:
    server = Trickler(HEADERS)
    yield server
    server.close()


@pytest.fixture
def header_trickler() -> Iterator[Trickler]:
    server = Trickler(b"HTTP/1.1 200 OK\r\nX-Slow: ")  # the header line never ends
    yield server
    server.close()


def _fetch(port: int, **options: object) -> tuple[TransportError, float]:
    retry = RetryPolicy(max_attempts=3, total_timeout=1.0, backoff_base=0.01)
    fetcher = TokenFetcher("test", f"http://127.0.0.1:{port}/token", timeout=(1.0, 0.5), retry=retry, **options)  # type: ignore[arg-type]
    started = time.monotonic()
    with pytest.raises(TransportError) as info:
        fetcher.send(TokenRequest(form={"grant_type": "x"}), parse_oauth_error)
    return info.value, time.monotonic() - started


def test_a_body_trickled_byte_by_byte_times_out_within_the_budget(body_trickler: Trickler) -> None:
    error, took = _fetch(body_trickler.port)
    assert error.reason is TransportReason.TIMEOUT and error.retryable
    assert "timed out" in str(error)
    assert took < 5  # a guard, not a timing target: without the deadline this never returns


def test_a_callers_session_is_bounded_too(body_trickler: Trickler) -> None:
    with requests.Session() as session:
        error, took = _fetch(body_trickler.port, session=session)
    assert error.reason is TransportReason.TIMEOUT and took < 5


def test_trickled_headers_time_out_within_the_budget(header_trickler: Trickler) -> None:
    error, took = _fetch(header_trickler.port)
    assert error.reason is TransportReason.TIMEOUT and took < 5


def test_each_attempt_is_bounded_and_retried_within_the_fetch_budget(body_trickler: Trickler) -> None:
    retry = RetryPolicy(max_attempts=5, total_timeout=3.0, backoff_base=0.01)
    fetcher = TokenFetcher("test", f"http://127.0.0.1:{body_trickler.port}/token", timeout=(0.3, 0.3), retry=retry)
    started = time.monotonic()
    with pytest.raises(TransportError) as info:
        fetcher.send(TokenRequest(form={"grant_type": "x"}), parse_oauth_error)
    took = time.monotonic() - started
    assert info.value.reason is TransportReason.TIMEOUT
    assert body_trickler.connections >= 2  # one attempt's deadline (0.6 s) left room for another
    assert took < 8


def test_the_budget_is_exposed_for_waiters() -> None:
    fetcher = TokenFetcher("test", "https://login.example.com/token")
    assert fetcher.deadline_budget == RetryPolicy().total_timeout == 60.0
    short = TokenFetcher("test", "https://login.example.com/token", retry=RetryPolicy(total_timeout=5))
    assert short.deadline_budget == 5.0
