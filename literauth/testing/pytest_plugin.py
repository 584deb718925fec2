"""pytest plugin: fixtures that run providers against `FakeIdentityServer`.

Registered through the `pytest11` entry point, so installing literauth makes them available
in any test suite:

- `fake_identity_server`: a fresh server on loopback per test (fresh counters and faults).
- `fake_identity_env`: `os.environ` pointed at that server, so `from_env()` and code that
  calls it reach the fake; returns the variables set (`NO_PROXY` covers loopback).
- one provider fixture per registered provider with a fake, named after its spec
  (`fake_azure_client_secret_provider`, `fake_aws_web_identity_provider`,
  `fake_google_service_account_provider`), plus the older short names its fake declares
  (`fake_azure_provider`, `fake_sts_provider`, `fake_vertex_provider`). Each is built
  against the server, ignores proxy variables, and is closed after the test; a provider
  whose fake needs a missing package skips the test, saying which.

The `fake_` prefix keeps them clear of fixtures a suite defines itself (`server`, `clock`).
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Iterator

import pytest

from .._registry import SPECS, ProviderSpec
from ..provider import RefreshingCredentialProvider
from . import FakeIdentityServer, load_fake

__all__ = ["fake_identity_env", "fake_identity_server", "provider_fixture_names"]

# Variables that would take precedence over (or change) what `fake_identity_env` sets: every
# variable a registered provider reads, and the CA bundles requests honours.
_SHADOWING = tuple(dict.fromkeys(
    [name for spec in SPECS for name in (*spec.required_env, *spec.optional_env)]
    + ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"]
))


@pytest.fixture
def fake_identity_server() -> Iterator[FakeIdentityServer]:
    """A fresh `FakeIdentityServer` on loopback, stopped after the test."""
    with FakeIdentityServer() as server:
        yield server


@pytest.fixture
def fake_identity_env(
    fake_identity_server: FakeIdentityServer, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Point the environment of `from_env()` at `fake_identity_server` for this test."""
    for name in _SHADOWING:
        monkeypatch.delenv(name, raising=False)
    directory = tmp_path / "literauth-fake-identity"
    directory.mkdir(exist_ok=True)
    env = fake_identity_server.environ(directory)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def provider_fixture_names(spec: ProviderSpec) -> list[str]:
    """The fixture names of a spec's provider: ``fake_<cloud>_<mechanism>_provider``, then its fake's alias."""
    names = [f"fake_{spec.name.replace('.', '_')}_provider"]
    alias = load_fake(spec).fixture_alias
    if alias and alias not in names:
        names.append(alias)
    return names


def _provider_fixture(spec: ProviderSpec) -> Callable[[FakeIdentityServer], Iterator[RefreshingCredentialProvider]]:
    def fixture(fake_identity_server: FakeIdentityServer) -> Iterator[RefreshingCredentialProvider]:
        reason = fake_identity_server.unavailable.get(spec.name)
        if reason is not None:
            pytest.skip(f"{spec.name} {reason}")
        provider = fake_identity_server.provider(spec.name)
        try:
            yield provider
        finally:
            provider.close()

    fixture.__doc__ = f"`{spec.class_name}` pointed at `fake_identity_server`, closed after the test."
    return fixture


for _spec in SPECS:
    if _spec.fake is None:
        continue
    for _name in provider_fixture_names(_spec):
        globals()[_name] = pytest.fixture(name=_name)(_provider_fixture(_spec))
        __all__.append(_name)
