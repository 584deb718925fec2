"""literauth.config's three jobs, each on its own: field checkers, identity sharing, the registry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from literauth import _registry
from literauth.config import ModelConfigError, loads_models
from literauth.config._fields import (
    REFERENCE,
    Checked,
    FromEnvironment,
    StaticKey,
    Text,
    _fallbacks,
    _timeout,
    check_entries,
    interpolate,
    references,
)
from literauth.config._identity import _Sharing, share_identities
from literauth.credentials import BearerToken
from literauth.errors import ConfigurationError
from literauth.provider import CredentialProvider, StaticTokenProvider
from literauth.secret import SecretString

from .conftest import assert_no_secret

KEY = "sk-test-0123456789abcdefghijklmnopqrstuv"


def text(value: str) -> Text:
    return Text(value, value, from_variables=False)


# -- field checkers return a value or problems (F-C1) -----------------------------------------------


def test_a_checker_returns_its_value_or_its_problems() -> None:
    assert _timeout(30) == Checked(30.0)
    assert _timeout(0) == Checked(None, ("must be a positive number of seconds, got 0",))
    assert _timeout("30").value is None
    duplicated = _fallbacks([text("a"), text("b"), text("a")])
    assert [t.value for t in duplicated.value or ()] == ["a", "b"]  # still usable: checked further
    assert duplicated.problems == ("lists 'a' twice",)


def test_an_entry_s_identity_follows_from_its_values_not_a_problem_count() -> None:
    tables: list[tuple[int, dict[str, object]]] = [
        (0, {"name": "a", "provider_model": "openai/x", "api_key": "k"}),
        (1, {"name": "b", "provider_model": "azure/x"}),
        (2, {"name": "c", "provider_model": "openai/x", "api_key": "${UNSET}"}),  # key unusable
        (3, {"name": "d", "provider_model": "nope", "api_key": "k"}),  # provider_model unusable
        (4, {"name": "e", "provider_model": "azure/x", "timeout_secs": 0}),  # other field broken
    ]
    entries = check_entries("s", tables, {})
    identities = [type(e.identity) for e in entries]
    assert identities == [StaticKey, FromEnvironment, type(None), type(None), FromEnvironment]
    assert [len(e.problems) for e in entries] == [0, 0, 1, 1, 1]


def test_one_regex_finds_the_references_interpolation_uses() -> None:
    value = "$${LITERAL} ${A} ${B:-x} ${1BAD} ${OPEN"
    assert [m.group(0) for m in REFERENCE.finditer(value)][:3] == ["$${", "${A}", "${B:-x}"]
    assert [(r.name, r.has_default) for r in references(value)] == [("A", False), ("B", True)]
    shown = interpolate("${A}/${B:-secret-default}", {"A": KEY}).value
    assert shown is not None and shown.written == "${A}/${B:-…}" and shown.from_variables
    assert interpolate("$${A}", {}).value == Text("${A}", "$${A}", from_variables=False)


# -- identity sharing: keys compared by digest (F-C2) -------------------------------------------------


def test_static_keys_are_shared_by_digest_never_keyed_by_plaintext() -> None:
    sharing = _Sharing("s", {}, {})
    first = sharing.static_for(SecretString(KEY))
    assert sharing.static_for(SecretString(KEY)) is first
    assert sharing.static_for(SecretString(KEY + "x")) is not first
    assert all(isinstance(k, bytes) and len(k) == 32 for k in sharing.static)  # sha256 digests
    assert_no_secret([repr(sharing.static), repr(vars(sharing))], [KEY])


def test_share_identities_reports_and_shares() -> None:
    entries = check_entries("s", [(0, {"name": "a", "provider_model": "x/y", "api_key": KEY}),
                                  (1, {"name": "b", "provider_model": "z/y", "api_key": f" {KEY}\n"}),
                                  (2, {"name": "c", "provider_model": "z/y"})], {})
    found = share_identities("s", entries, {}, {})
    assert found.providers[0] is found.providers[1]  # the same key once stripped
    assert [(p.index, p.field) for p in found.problems] == [(2, "api_key")]  # z/ needs an api_key


# -- per-provider knowledge comes from the registry (F-C4) -------------------------------------------


class EnvTokenProvider(CredentialProvider):
    """A provider a new registry entry could name: a token from FAKE_TOKEN."""

    def __init__(self, token: str) -> None:
        self._credential = BearerToken(SecretString(token))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **options: Any) -> EnvTokenProvider:
        token = (environ or {}).get("FAKE_TOKEN")
        if not token:
            raise ConfigurationError("FAKE_TOKEN is not set")
        return cls(token)

    def resolve(self) -> BearerToken:
        return self._credential


@pytest.fixture
def fake_spec(monkeypatch: pytest.MonkeyPatch) -> _registry.ProviderSpec:
    spec = _registry.ProviderSpec(
        name="fake.token", cloud="any", class_name="EnvTokenProvider", module=__name__, credential="bearer",
        required_env=("FAKE_TOKEN",), config_prefixes=("fakecloud", "fake_ai"),
    )
    monkeypatch.setattr(_registry, "SPECS", (*_registry.SPECS, spec))
    return spec


def test_a_registered_prefix_gets_its_provider_from_the_registry(fake_spec: _registry.ProviderSpec) -> None:
    config = ('[[models]]\nname = "a"\nprovider_model = "fakecloud/m1"\n'
              '[[models]]\nname = "b"\nprovider_model = "fake_ai/m2"\n')
    table = loads_models(config, environ={"FAKE_TOKEN": KEY})
    assert isinstance(table["a"].credential_provider, EnvTokenProvider)
    assert table["a"].credential_provider is table["b"].credential_provider  # one spec, one identity
    with pytest.raises(ModelConfigError) as excinfo:
        loads_models(config, environ={})
    messages = [p.message for p in excinfo.value.problems]
    assert "FAKE_TOKEN is not set" in messages[0] and "see models[0]" in messages[1]


def test_the_prefixes_named_in_messages_come_from_the_registry(fake_spec: _registry.ProviderSpec) -> None:
    with pytest.raises(ModelConfigError, match=r"only azure/, vertex/, vertex_ai/, bedrock/, fakecloud/, fake_ai/ do"):
        loads_models('[[models]]\nname = "a"\nprovider_model = "openai/x"\n', environ={})


def test_static_providers_from_the_environment_share_with_an_equal_key() -> None:
    config = ('[[models]]\nname = "a"\nprovider_model = "azure/x"\n'
              '[[models]]\nname = "b"\nprovider_model = "openai/x"\napi_key = "${AZURE_AD_TOKEN}"\n')
    table = loads_models(config, environ={"AZURE_AD_TOKEN": KEY})
    assert isinstance(table["a"].credential_provider, StaticTokenProvider)
    assert table["a"].credential_provider is table["b"].credential_provider
