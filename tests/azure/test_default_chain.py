"""`literauth.azure.default_chain()`: the order, decisions without I/O, the bounded IMDS probe, describe()."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from literauth import (
    AzureAdCredentialProvider,
    AzureCliCredentialProvider,
    ClientCertificateCredentialProvider,
    ManagedIdentityCredentialProvider,
    StaticTokenProvider,
    WorkloadIdentityCredentialProvider,
)
from literauth.azure import default_chain
from literauth.chain import ChainProvider
from literauth.credentials import BearerToken
from literauth.errors import ConfigurationError, SourceNotConfigured
from literauth.testing import BlackHole, FakeIdentityServer
from literauth.testing.azure.cli import FakeAzureCli

from ..conftest import METADATA_OVERRIDES, REFUSED_PORT

SOURCES = ["environment token (AZURE_AD_TOKEN)", "client secret", "client certificate", "workload identity",
           "managed identity", "Azure CLI"]
MANAGEMENT = "https://management.azure.com/.default"
NO_AZ = {"PATH": "/nonexistent"}


def _statuses(chain: ChainProvider) -> list[str]:
    return [outcome.status for outcome in chain.describe()]


def _requests(server: FakeIdentityServer) -> int:
    return sum(server.endpoint(name).request_count for name in
               ("azure.client_secret", "azure.client_certificate", "azure.workload_identity", "azure.managed_identity"))


def test_nothing_is_read_before_the_first_use(server: FakeIdentityServer, tmp_path: Path) -> None:
    chain = default_chain(environ=server.endpoint("azure.client_secret").environ(tmp_path))
    assert chain.chosen is None and _statuses(chain) == ["not tried"] * 6
    assert [outcome.name for outcome in chain.describe()] == SOURCES
    assert isinstance(chain, ChainProvider) and chain.credential_type is BearerToken


def test_a_client_secret_is_chosen_without_io_and_the_rest_not_tried(server: FakeIdentityServer, tmp_path: Path) -> None:
    environ = {**METADATA_OVERRIDES, **NO_AZ, **server.environ(tmp_path)}  # every source configured
    with default_chain(environ=environ) as chain:
        assert isinstance(chain.choose(), AzureAdCredentialProvider)
        assert _requests(server) == 0  # chosen from variables alone
        assert _statuses(chain) == ["skipped", "chosen", "not tried", "not tried", "not tried", "not tried"]
        assert server.azure.check_token(chain.resolve().token)


def test_azure_ad_token_wins_and_is_served_as_it_is(server: FakeIdentityServer, tmp_path: Path) -> None:
    environ = {**server.environ(tmp_path), "AZURE_AD_TOKEN": " ready-made-token \n"}
    chain = default_chain(environ=environ)
    assert isinstance(chain.choose(), StaticTokenProvider)
    assert chain.resolve().token.expose_secret() == "ready-made-token"
    assert _requests(server) == 0 and _statuses(chain)[0] == "chosen"


@pytest.mark.parametrize(("kind", "cls", "index"), [
    ("azure.client_certificate", ClientCertificateCredentialProvider, 2),
    ("azure.workload_identity", WorkloadIdentityCredentialProvider, 3),
])
def test_each_file_based_source_is_chosen_from_its_variables(
    server: FakeIdentityServer, tmp_path: Path, kind: str, cls: type, index: int
) -> None:
    environ = {**METADATA_OVERRIDES, **NO_AZ, **server.endpoint(kind).environ(tmp_path)}
    with default_chain(environ=environ) as chain:
        assert isinstance(chain.choose(), cls)
        assert _statuses(chain)[:index] == ["skipped"] * index and _statuses(chain)[index] == "chosen"
        assert isinstance(chain.resolve(), BearerToken) and server.endpoint(kind).request_count == 1


def test_app_service_needs_no_probe() -> None:
    """App Service variables select the flavour; choosing sends nothing (port 1 would refuse it)."""
    environ = {**NO_AZ, "IDENTITY_ENDPOINT": "http://127.0.0.1:1/msi/token", "IDENTITY_HEADER": "h" * 32}
    chain = default_chain(environ=environ)
    chosen = chain.choose()
    assert isinstance(chosen, ManagedIdentityCredentialProvider) and chosen.flavour == "app_service"
    chain.close()


def test_imds_is_chosen_when_its_probe_is_answered(server: FakeIdentityServer, tmp_path: Path) -> None:
    imds = server.endpoint("azure.managed_identity")
    with default_chain(environ={**NO_AZ, **imds.environ(tmp_path)}) as chain:
        chosen = chain.choose()
        assert isinstance(chosen, ManagedIdentityCredentialProvider) and chosen.flavour == "imds"
        probe = imds.requests[-1]
        assert imds.request_count == 1 and probe.header("Metadata") is None  # IMDS refused it: no token issued
        assert imds.check_token(chain.resolve().token)
        assert imds.request_count == 2 and imds.requests[-1].header("Metadata") == "true"


def test_a_refused_imds_is_skipped_and_the_cli_chosen(tmp_path: Path) -> None:
    az = FakeAzureCli(tmp_path / "bin")
    environ = {**METADATA_OVERRIDES, **az.environ()}
    with default_chain(environ=environ) as chain:
        assert isinstance(chain.choose(), AzureCliCredentialProvider)
        managed = chain.describe()[4]
        assert managed.status == "skipped" and "connection refused" in (managed.reason or "")
        assert "127.0.0.1" in (managed.reason or "") and "probe deadline 0.5 s" in (managed.reason or "")
        assert chain.resolve().token.expose_secret() == az.token


def test_a_black_holed_imds_costs_one_probe_deadline_then_moves_on() -> None:
    with BlackHole() as hole:  # accepts connections, never answers: a filtered 169.254.169.254
        chain = default_chain(environ={**NO_AZ, "AZURE_POD_IDENTITY_AUTHORITY_HOST": hole.url}, probe_timeout=0.2)
        started = time.monotonic()
        with pytest.raises(SourceNotConfigured):
            chain.resolve()
        elapsed = time.monotonic() - started
    managed = chain.describe()[4]
    assert managed.status == "skipped" and "timeout" in (managed.reason or "")
    assert elapsed < 5  # bounded by the probe deadline, not by retries or a 300 s read timeout


def test_nothing_configured_is_one_error_listing_every_source() -> None:
    chain = default_chain(environ={**METADATA_OVERRIDES, **NO_AZ})
    with pytest.raises(SourceNotConfigured) as info:
        chain.resolve()
    assert isinstance(info.value, ConfigurationError)
    message = str(info.value)
    assert all(f"{name}: skipped" in message for name in SOURCES)
    assert "AZURE_CLIENT_SECRET is not set" in message and "not on PATH" in message
    assert _statuses(chain) == ["skipped"] * 6


def test_a_configured_but_broken_source_stops_the_chain(tmp_path: Path) -> None:
    environ = {**METADATA_OVERRIDES, **NO_AZ, "AZURE_CLIENT_SECRET": "s", "AZURE_TENANT_ID": "not a tenant!",
               "AZURE_CLIENT_ID": "00000000-0000-0000-0000-000000000001"}
    chain = default_chain(environ=environ)
    with pytest.raises(ConfigurationError, match="tenant_id") as info:
        chain.resolve()
    assert not isinstance(info.value, SourceNotConfigured)
    assert _statuses(chain) == ["skipped", "failed", "not tried", "not tried", "not tried", "not tried"]


def test_scope_reaches_every_source_and_with_scope_keeps_the_choice(server: FakeIdentityServer, tmp_path: Path) -> None:
    environ = {**METADATA_OVERRIDES, **NO_AZ, **server.endpoint("azure.client_secret").environ(tmp_path)}
    with default_chain(environ=environ, scope=MANAGEMENT) as chain:
        chosen = chain.choose()
        assert isinstance(chosen, AzureAdCredentialProvider) and chosen.scope == MANAGEMENT
    with default_chain(environ=environ) as chain:
        other = chain.with_scope(MANAGEMENT)
        assert isinstance(other, ChainProvider) and other.describe() == chain.describe()
        assert isinstance(other.chosen, AzureAdCredentialProvider) and other.chosen.scope == MANAGEMENT
        assert chain.chosen is not None and chain.chosen.scope != MANAGEMENT  # type: ignore[attr-defined]
        other.close()


def test_bad_arguments_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="probe_timeout"):
        default_chain(probe_timeout=0)
    with pytest.raises(ConfigurationError, match="scope"):
        default_chain(scope=3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="refresh_margn"):  # at once, though AZURE_AD_TOKEN would take no options
        default_chain(environ={"AZURE_AD_TOKEN": "t"}, refresh_margn=3)  # type: ignore[call-arg]


def test_the_refused_port_fixture_is_really_refused() -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", REFUSED_PORT), timeout=1).close()
