"""Entries and keys: versioned, sealed, bound to their slot; identities without a secret need the user's key."""

from __future__ import annotations

import logging
import pathlib
from datetime import datetime, timedelta

import pytest

from literauth import (
    AwsCredentials,
    BearerToken,
    ManagedIdentityCredentialProvider,
    SecretString,
)
from literauth.cache import FileCache
from literauth.cache._entry import decode, encode
from literauth.cache._keys import in_process_slot, shared_slot
from literauth.credentials import UTC
from literauth.errors import ConfigurationError
from literauth.testing import FakeIdentityServer

EXPIRY = datetime(2030, 1, 1, tzinfo=UTC)
FIELDS = {"tenant": "t", "client": "c"}


def test_round_trip_of_both_credential_kinds() -> None:
    slot = shared_slot("azure.client_secret", FIELDS, b"secret", None)
    assert slot is not None
    for credential in (
        BearerToken(SecretString("tok"), EXPIRY),
        AwsCredentials(SecretString("AKIA"), SecretString("sk"), SecretString("st"), EXPIRY),
        AwsCredentials(SecretString("AKIA"), SecretString("sk"), None, None),
    ):
        loaded = decode(encode(credential, 1.5, slot.cipher, slot.aad), slot.cipher, slot.aad)
        assert loaded is not None and loaded.credential == credential and loaded.issued_at == 1.5


def test_an_entry_opens_only_in_its_own_slot_with_its_own_key() -> None:
    mine = shared_slot("p", FIELDS, b"secret", None)
    other_identity = shared_slot("p", {**FIELDS, "client": "d"}, b"secret", None)
    rotated = shared_slot("p", FIELDS, b"secret-2", None)
    assert mine is not None and other_identity is not None and rotated is not None
    assert len({mine.name, other_identity.name, rotated.name}) == 3
    blob = encode(BearerToken(SecretString("tok"), EXPIRY), 0.0, mine.cipher, mine.aad)
    assert decode(blob, other_identity.cipher, other_identity.aad) is None
    assert decode(blob, rotated.cipher, rotated.aad) is None
    assert decode(blob, mine.cipher, other_identity.aad) is None  # moved to another name: refused too
    plain = encode(BearerToken(SecretString("tok"), EXPIRY), 0.0, None, b"")
    assert decode(plain, mine.cipher, mine.aad) is None  # a plain entry where a sealed one belongs


def test_the_users_key_is_mixed_in_and_checked() -> None:
    key = b"k" * 32
    assert shared_slot("p", FIELDS, None, None) is None  # nothing to derive from: not shared
    with_key = shared_slot("p", FIELDS, None, key)
    both = shared_slot("p", FIELDS, b"secret", key)
    alone = shared_slot("p", FIELDS, b"secret", None)
    assert with_key is not None and both is not None and alone is not None
    assert len({with_key.name, both.name, alone.name}) == 3
    with pytest.raises(ConfigurationError, match="at least 32 bytes, got 5"):
        FileCache(key="short")


def test_in_process_names_key_on_the_secret() -> None:
    assert in_process_slot("p", FIELDS, b"a").name != in_process_slot("p", FIELDS, b"b").name
    assert in_process_slot("p", FIELDS, None).name != in_process_slot("p", FIELDS, b"").name
    assert in_process_slot("p", FIELDS, b"a") == in_process_slot("p", dict(reversed(FIELDS.items())), b"a")


def test_an_identity_without_a_secret_is_shared_only_with_a_key(
    server: FakeIdentityServer, tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LITERAUTH_CACHE_KEY", raising=False)

    def build(store: FileCache) -> ManagedIdentityCredentialProvider:
        provider = server.provider("azure.managed_identity", cache=store)
        assert isinstance(provider, ManagedIdentityCredentialProvider)
        return provider

    with caplog.at_level(logging.INFO, "literauth.cache"):
        build(FileCache(tmp_path / "plain")).resolve()
        build(FileCache(tmp_path / "plain")).resolve()
    assert not list((tmp_path / "plain").glob("*.entry"))
    assert caplog.text.count("has no secret of its own") == 1  # once per process, not per provider
    assert server.imds.request_count == 2
    monkeypatch.setenv("LITERAUTH_CACHE_KEY", "x" * 40)
    build(FileCache(tmp_path / "keyed")).resolve()
    build(FileCache(tmp_path / "keyed")).resolve()
    assert len(list((tmp_path / "keyed").glob("*.entry"))) == 1 and server.imds.request_count == 3


def test_expiry_is_absolute_and_each_reader_applies_its_own_margin() -> None:
    slot = in_process_slot("p", FIELDS, None)
    credential = BearerToken(SecretString("tok"), EXPIRY - timedelta(hours=1))
    loaded = decode(encode(credential, 10.0, None, slot.aad), None, slot.aad)
    assert loaded is not None and loaded.credential.expires_at == credential.expires_at
