"""`FakeIdentityServer` from the registry: endpoints by spec name, environ() as a union, proxies ignored."""

from __future__ import annotations

import importlib.util
import os
import pathlib
from typing import Any

import pytest

from literauth import AwsCredentials, BearerToken
from literauth._registry import SPECS, by_name
from literauth.testing import (
    AzureAdEndpoint,
    FakeIdentityServer,
    FakeUnavailable,
    GoogleOAuthEndpoint,
    StsEndpoint,
    SyncedClock,
)
from literauth.testing import load_fake as load

FAKED = [spec for spec in SPECS if spec.fake is not None]
NAMES = [spec.name for spec in FAKED]
PROXY = "http://127.0.0.1:1"  # nothing listens: a request sent through it fails at once


@pytest.fixture
def proxied(monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine with a corporate proxy and no NO_PROXY (newuser finding #2)."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, PROXY)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_every_spec_with_a_fake_has_its_endpoint(server: FakeIdentityServer) -> None:
    assert list(server.endpoints) == NAMES
    for spec in FAKED:
        assert type(server.endpoint(spec.name)) is load(spec)
        assert server.endpoints[spec.name] is server.endpoint(spec.name)
    assert server.azure is server.endpoint("azure.client_secret") and isinstance(server.azure, AzureAdEndpoint)
    assert server.sts is server.endpoint("aws.web_identity") and isinstance(server.sts, StsEndpoint)
    assert server.google is server.endpoint("google.service_account")
    assert isinstance(server.google, GoogleOAuthEndpoint)
    with pytest.raises(KeyError, match="azure.client_secret"):
        server.endpoint("azure.nosuch")


def test_a_server_can_serve_some_specs_only() -> None:
    with FakeIdentityServer(specs=[by_name("azure.client_secret")]) as server:
        assert list(server.endpoints) == ["azure.client_secret"]
        assert isinstance(server.azure_provider().resolve(), BearerToken)
        with pytest.raises(KeyError, match="aws.web_identity"):
            server.sts  # noqa: B018 - the property raises


@pytest.mark.parametrize("name", NAMES)
def test_generic_provider_helper_reaches_its_fake(server: FakeIdentityServer, name: str) -> None:
    with server.provider(name) as provider:
        credential = provider.resolve()
    expected = AwsCredentials if by_name(name).credential == "aws" else BearerToken
    assert isinstance(credential, expected)
    assert server.endpoint(name).credential_request_count == 1  # IMDSv2: not its session steps
    assert sum(endpoint.credential_request_count for endpoint in server.endpoints.values()) == 1


def test_environ_is_the_union_of_each_fakes(server: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    env = server.environ(tmp_path)
    for spec in FAKED:
        own = server.endpoint(spec.name).environ(tmp_path)
        assert set(own) <= set(env), spec.name
        assert set(spec.required_env) <= set(env), spec.name  # from_env() finds all it needs
    assert "127.0.0.1" in env["NO_PROXY"].split(",") and env["no_proxy"] == env["NO_PROXY"]
    assert "REQUESTS_CA_BUNDLE" not in env  # plain HTTP
    assert server.unavailable == {}


@pytest.mark.parametrize("name", NAMES)
def test_from_env_with_the_servers_environ_reaches_the_fake(
    server: FakeIdentityServer, tmp_path: pathlib.Path, name: str
) -> None:
    env = server.environ(tmp_path, spec=name)
    with by_name(name).from_env(env, session=server.session()) as provider:  # type: ignore[attr-defined]
        provider.resolve()
    assert server.endpoint(name).credential_request_count == 1


def test_a_fake_missing_its_package_is_named_not_dropped(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name == "cryptography" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with FakeIdentityServer() as server:
        reason = "needs cryptography: pip install 'literauth[{}]'"
        assert server.unavailable == {"google.service_account": reason.format("vertex-auth"),
                                      "azure.client_certificate": reason.format("azure-auth")}
        env = server.environ(tmp_path)
        assert not env.get("GOOGLE_APPLICATION_CREDENTIALS", "").endswith("service-account.json")  # no key file
        assert "AZURE_CLIENT_SECRET" in env
        with pytest.raises(FakeUnavailable, match=r"google.service_account: needs cryptography: pip install"):
            server.provider("google.service_account")
        with pytest.raises(FakeUnavailable, match="needs cryptography"):
            server.google.environ(tmp_path)
        assert isinstance(server.provider("azure.client_secret").resolve(), BearerToken)  # the others still run


def test_reset_resets_every_endpoint(server: FakeIdentityServer) -> None:
    for endpoint in server.endpoints.values():
        endpoint.lifetime = 5
        endpoint.fail(500)
    server.reset()
    assert all(e.lifetime == 3600 and e.lifetime_override is None for e in server.endpoints.values())
    for name in NAMES:
        with server.provider(name) as provider:
            provider.resolve()  # no fault left queued


@pytest.mark.usefixtures("proxied")
@pytest.mark.parametrize("name", NAMES)
def test_providers_built_by_the_server_ignore_proxy_variables(server: FakeIdentityServer, name: str) -> None:
    assert os.environ["HTTP_PROXY"] == PROXY
    with server.provider(name) as provider:
        provider.resolve()
    assert server.endpoint(name).credential_request_count == 1


@pytest.mark.usefixtures("proxied")
def test_typed_helpers_ignore_proxy_variables(server: FakeIdentityServer) -> None:
    helpers = (server.azure_provider, server.managed_identity_provider, server.sts_provider, server.vertex_provider)
    for make in helpers:
        with make() as provider:
            provider.resolve()
    covered = {"azure.client_secret", "azure.managed_identity", "aws.web_identity", "google.service_account"}
    for name in (name for name in server.endpoints if name not in covered):  # the rest, by spec name
        with server.provider(name) as provider:
            provider.resolve()
    assert [e.credential_request_count for e in server.endpoints.values()] == [1] * len(server.endpoints)


@pytest.mark.usefixtures("proxied")
def test_from_env_providers_bypass_the_proxy_with_the_servers_no_proxy(
    server: FakeIdentityServer, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A provider making its own session reads the proxy variables; `environ()`'s NO_PROXY covers loopback."""
    env = server.environ(tmp_path)
    monkeypatch.setenv("NO_PROXY", env["NO_PROXY"])
    with by_name("azure.client_secret").from_env(env) as provider:  # type: ignore[attr-defined]
        provider.resolve()
    assert server.azure.request_count == 1


def test_the_proxy_guard_really_bites(server: FakeIdentityServer, proxied: None) -> None:
    """Control: a session honouring the variables goes to the dead proxy, so the tests above mean something."""
    import requests

    with pytest.raises(requests.exceptions.ProxyError):
        requests.get(server.url + "/token", timeout=2)
    assert server.google.request_count == 0


def test_synced_clock_moves_the_servers_clock(server: FakeIdentityServer) -> None:
    clock = SyncedClock(server)
    assert clock() == pytest.approx(server.clock(), abs=1)
    before = server.clock()
    clock.advance(7200)
    assert server.clock() - before == pytest.approx(7200, abs=1)
    assert clock() == pytest.approx(server.clock(), abs=1)
