"""Each provider names its identity for the cache (`_cache_identity`): two identities never share
a slot, and the secret is the one the identity holds locally (None where it has none)."""

from __future__ import annotations

import pathlib

import pytest

from literauth import (
    AzureAdCredentialProvider,
    AzureCliCredentialProvider,
    ManagedIdentityCredentialProvider,
    WebIdentityCredentialProvider,
)
from literauth.cache._keys import shared_slot
from literauth.provider import RefreshingCredentialProvider
from literauth.testing import FakeIdentityServer

OTHER_SCOPE = "https://management.azure.com/.default"
TENANT = "contoso.onmicrosoft.com"


def _pair(server: FakeIdentityServer, name: str, tmp_path: pathlib.Path) -> tuple[RefreshingCredentialProvider, ...]:
    """Two providers of spec `name` that differ in one identity field."""
    if name == "azure.client_secret":
        return AzureAdCredentialProvider(TENANT, "c1", "s"), AzureAdCredentialProvider(TENANT, "c2", "s")
    if name == "azure.managed_identity":
        endpoint = "http://127.0.0.1:9"
        return (ManagedIdentityCredentialProvider(endpoint=endpoint, client_id="a"),
                ManagedIdentityCredentialProvider(endpoint=endpoint, client_id="b"))
    if name == "azure.cli":
        return AzureCliCredentialProvider(tenant_id=TENANT), AzureCliCredentialProvider(tenant_id="fabrikam.onmicrosoft.com")
    if name == "aws.web_identity":
        token = tmp_path / "token"
        token.write_text("x")
        role = "arn:aws:iam::123456789012:role/r"
        return (WebIdentityCredentialProvider(role, token, "one"), WebIdentityCredentialProvider(role, token, "two"))
    provider = server.provider(name)
    if name == "google.service_account":
        return provider, provider.with_scope("https://www.googleapis.com/auth/other")  # type: ignore[attr-defined]
    return provider, provider.with_scope(OTHER_SCOPE)  # type: ignore[attr-defined]


SECRETS = {  # whether the identity holds a secret of its own
    "azure.client_secret": True, "azure.client_certificate": True, "google.service_account": True,
    "azure.workload_identity": False, "azure.managed_identity": False, "azure.cli": False, "aws.web_identity": False,
}


@pytest.mark.parametrize("name", sorted(SECRETS))
def test_two_identities_differ_and_the_secret_is_local(
    server: FakeIdentityServer, name: str, tmp_path: pathlib.Path
) -> None:
    one, two = _pair(server, name, tmp_path)
    first, second = one._cache_identity(), two._cache_identity()
    assert first is not None and second is not None
    assert first[0] != second[0]
    assert (first[1] is not None) is SECRETS[name]
    for value in first[0].values():  # fields are names, never the secret
        assert first[1] is None or value.encode() not in first[1] or len(value) < 8
    if first[1] is not None:
        rotated = shared_slot(name, first[0], first[1] + b"!", None)
        assert rotated is not None and shared_slot(name, first[0], first[1], None) != rotated.name
    for provider in (one, two):
        provider.close()


def test_the_static_provider_is_not_a_refreshing_one() -> None:
    from literauth import StaticTokenProvider

    assert not hasattr(StaticTokenProvider("t"), "_cache_identity")
