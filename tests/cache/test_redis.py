"""RedisCache against a real redis-server: sealed entries with TTLs, an owned lease, outages survived."""

from __future__ import annotations

import logging
import pathlib
import subprocess
import sys
import time

import pytest

from literauth import AzureAdCredentialProvider, BearerToken
from literauth._policy import RetryPolicy
from literauth.cache import RedisCache
from literauth.errors import ConfigurationError
from literauth.testing import FakeClock, FakeIdentityServer
from tests.conftest import secret_fragments

from .conftest import RedisServer

pytestmark = pytest.mark.integration
SLOW_CI = 5.0  # Redis call timeout where Redis is up: a loaded machine must not look like an outage
ROOT = pathlib.Path(__file__).resolve().parents[2]


def _provider(identity: FakeIdentityServer, store: RedisCache, clock: FakeClock, **options: object) -> AzureAdCredentialProvider:
    return identity.azure.make_provider(
        clock=clock, background_refresh=False, cache=store, timeout=1.0, retry=RetryPolicy(total_timeout=1.0),
        **options,
    )


def test_hosts_share_a_sealed_entry_with_a_ttl(identity: FakeIdentityServer, redis_server: RedisServer, prefix: str) -> None:
    clock = FakeClock(identity.clock())
    first = _provider(identity, RedisCache(redis_server.url, prefix=prefix, clock=clock, timeout=SLOW_CI), clock).resolve()
    second = _provider(identity, RedisCache(redis_server.url, prefix=prefix, clock=clock, timeout=SLOW_CI), clock).resolve()
    assert first == second and identity.azure.request_count == 1
    client = redis_server.client()
    (name,) = client.keys(prefix + "*")
    assert len(name) == len(prefix) + 64  # an HMAC: neither identity nor secret
    ttl = client.pttl(name) / 1000
    assert 3600 - 30 - 5 < ttl <= 3600 - 30  # expires at its usable-until time
    assert isinstance(first, BearerToken)
    stored = client.get(name)
    for piece in secret_fragments(first.token.expose_secret()):
        assert piece.encode() not in stored
    client.close()


def test_only_the_owner_releases_the_lease(redis_server: RedisServer, prefix: str) -> None:
    store = RedisCache(redis_server.url, prefix=prefix)
    client = redis_server.client()
    with store.lease("ab" * 32, 5) as held:
        assert held
        owner = client.get(prefix + "ab" * 32 + ":lease")
        assert 4000 < client.pttl(prefix + "ab" * 32 + ":lease") <= 5000  # PX: the fetch deadline
        with store.lease("ab" * 32, 0.05) as second:
            assert not second
        client.set(prefix + "ab" * 32 + ":lease", b"someone-else", px=5000)  # ours expired, another took it
    assert client.get(prefix + "ab" * 32 + ":lease") == b"someone-else" != owner  # not released by us
    client.close()


def test_a_killed_lease_holder_is_taken_over_when_its_lease_expires(
    identity: FakeIdentityServer, redis_server: RedisServer, prefix: str
) -> None:
    """A process holds the identity's lease (as if mid-fetch) and is SIGKILLed: the others wait
    no longer than the lease's duration, then fetch."""
    clock = FakeClock(identity.clock())
    store = RedisCache(redis_server.url, prefix=prefix, clock=clock, timeout=SLOW_CI)
    provider = _provider(identity, store, clock)
    name = provider._settings.cache.slot(provider).name  # type: ignore[union-attr]
    code = (
        "import sys, time; from literauth.cache import RedisCache\n"
        f"store = RedisCache({redis_server.url!r}, prefix={prefix!r})\n"
        f"with store.lease({name!r}, 1.5) as held:\n"
        "    print(held, flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE)
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"True"
    holder.kill()
    holder.wait()
    holder.stdout.close()
    started = time.monotonic()
    assert isinstance(provider.resolve(), BearerToken)
    assert time.monotonic() - started < provider._settings.budget + 1  # bounded by the lease, not stuck
    assert identity.azure.request_count == 1


def test_redis_down_from_the_start_resolves_directly_and_warns_once(
    identity: FakeIdentityServer, caplog: pytest.LogCaptureFixture
) -> None:
    from .conftest import free_port

    clock = FakeClock(identity.clock())
    url = f"redis://:hunter2-password@127.0.0.1:{free_port()}/0"  # nothing listens there
    with caplog.at_level(logging.WARNING, "literauth.cache"):
        store = RedisCache(url)
        for _ in range(3):
            assert isinstance(_provider(identity, store, clock).resolve(), BearerToken)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "unavailable (ConnectionError)" in warnings[0].getMessage()
    assert "hunter2" not in caplog.text
    assert identity.azure.request_count == 3


def test_auth_refused_resolves_directly(
    identity: FakeIdentityServer, tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    from .conftest import REDIS_BINARY

    if REDIS_BINARY is None:
        pytest.skip("redis-server is not installed")
    locked = RedisServer(tmp_path, "--requirepass", "right-password")
    try:
        clock = FakeClock(identity.clock())
        with caplog.at_level(logging.WARNING, "literauth.cache"):
            wrong = RedisCache(locked.url.replace("redis://", "redis://:wrong-password@"))
            assert isinstance(_provider(identity, wrong, clock).resolve(), BearerToken)
        assert "unavailable" in caplog.text and "wrong-password" not in caplog.text
        right = RedisCache(locked.url.replace("redis://", "redis://:right-password@"), prefix="acl:", timeout=SLOW_CI)
        _provider(identity, right, clock).resolve()
        assert identity.azure.request_count == 2
        import redis

        with redis.Redis.from_url(locked.url.replace("redis://", "redis://:right-password@")) as client:
            assert len(client.keys("acl:*")) == 1
    finally:
        locked.stop()


def test_redis_killed_and_restarted_mid_run(
    identity: FakeIdentityServer, own_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """0 failed resolves while Redis is gone, one WARNING for the outage, sharing again after."""
    clock = FakeClock(identity.clock())
    store = RedisCache(own_redis.url, clock=clock, retry_after=0.2, timeout=SLOW_CI)
    failures = 0
    with caplog.at_level(logging.INFO, "literauth.cache"):
        for round_ in range(6):
            if round_ == 2:
                own_redis.stop()
            if round_ == 4:
                own_redis.start()
                time.sleep(0.25)  # past retry_after, so the store tries Redis again
            for _ in range(2):
                try:
                    _provider(identity, store, clock).resolve()
                except Exception:  # noqa: BLE001 - counted: there must be none
                    failures += 1
            clock.advance(3600)
            identity.advance(3600)
    assert failures == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert "reachable again" in caplog.text
    # up: one request per round; down: every provider fetched itself
    assert identity.azure.request_count == 2 * 1 + 2 * 2 + 2 * 1


def test_bad_configuration_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="url or client, not both"):
        RedisCache("redis://127.0.0.1:1/0", client=object())
    with pytest.raises(ConfigurationError, match="at least 32 bytes"):
        RedisCache("redis://127.0.0.1:1/0", key="short")
    with pytest.raises(ConfigurationError) as info:
        RedisCache("nosuch://:pw-secret@127.0.0.1:1/0")
    assert "pw-secret" not in str(info.value)
