"""The provider registry: every spec names a real provider, and names, commands and prefixes are unique."""

from __future__ import annotations

import importlib
import pathlib

import pytest

from literauth import ConfigurationError
from literauth._registry import CHAINS, SPECS, ChainSpec, by_command, by_name, by_prefix
from literauth.testing import FakeIdentityServer


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_each_spec_describes_its_provider(spec) -> None:  # type: ignore[no-untyped-def]
    cls = spec.load()
    assert cls.provider_name == spec.name
    assert spec.name.split(".")[0] == spec.cloud
    assert tuple(getattr(cls, "REQUIRED_ENV", spec.required_env)) == spec.required_env
    if spec.fake is not None:  # None: not an HTTP provider (azure.cli runs a process)
        module, _, name = spec.fake.partition(":")
        assert hasattr(importlib.import_module(module), name), spec.fake


def test_names_commands_and_prefixes_are_unique() -> None:
    names = [s.name for s in (*CHAINS, *SPECS)]
    commands = [s.command for s in SPECS if s.command] + [c for chain in CHAINS for c in chain.commands]
    prefixes = [p for s in (*CHAINS, *SPECS) for p in s.config_prefixes]
    assert len(set(names)) == len(names)
    assert len(set(commands)) == len(commands)
    assert len(set(prefixes)) == len(prefixes)


def test_lookups() -> None:
    assert by_name("aws.web_identity").command == "bedrock"
    assert by_command("vertex") is by_prefix("vertex_ai")
    assert by_command("nosuch") is None and by_prefix("nosuch") is None
    assert by_command("azure") is by_prefix("azure") is by_name("azure.default")  # the chain, not one source
    assert isinstance(by_command("azure"), ChainSpec)
    with pytest.raises(ConfigurationError, match="known: azure.default, google.default, azure.client_secret"):
        by_name("nosuch")


FAKED = [spec for spec in SPECS if spec.fake is not None]  # azure.cli: tests/azure/test_cli.py


@pytest.mark.parametrize("spec", FAKED, ids=lambda s: s.name)
def test_from_env_builds_the_class_from_the_fake_servers_variables(  # type: ignore[no-untyped-def]
    spec, server: FakeIdentityServer, tmp_path: pathlib.Path
) -> None:
    environ = server.environ(tmp_path, spec=spec.name)  # Google file types share one variable
    with spec.from_env(environ) as provider:
        assert type(provider) is spec.load()
        provider.resolve()


@pytest.mark.parametrize("spec", [s for s in SPECS if s.required_env], ids=lambda s: s.name)
def test_missing_variables_are_named(spec) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigurationError, match=spec.required_env[0]):
        spec.from_env({})


@pytest.mark.parametrize("spec", FAKED, ids=lambda s: s.name)
def test_each_provider_stays_under_the_shared_key_limit(  # type: ignore[no-untyped-def]
    spec, server: FakeIdentityServer, tmp_path: pathlib.Path
) -> None:
    """Past 30 instance attributes CPython stops sharing dict keys, and every hit gets slower.

    The cache hit reads `_entry`, `_clock` and the counters straight off the instance; with
    a combined dict those reads lose their specialisation (measured: +10% per hit).
    """
    with spec.from_env(server.environ(tmp_path, spec=spec.name)) as provider:
        provider.resolve()
        assert len(vars(provider)) <= 30, sorted(vars(provider))


@pytest.mark.parametrize("chain", CHAINS, ids=lambda c: c.name)
def test_every_chain_builds_a_chain_provider_without_io(chain: ChainSpec) -> None:
    """A chain is built from any environment without reading it: it chooses on first use."""
    from literauth.chain import ChainProvider

    built = chain.from_env({})
    assert isinstance(built, ChainProvider) and built.chosen is None
    assert all(outcome.status == "not tried" for outcome in built.describe())
