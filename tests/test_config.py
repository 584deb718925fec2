"""literauth.config: [[models]] TOML configuration, interpolation, shared providers, error reports."""

from __future__ import annotations

import copy
import dataclasses
import importlib.util
import pathlib
import pickle
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator, Mapping
from types import ModuleType

import pytest

from literauth import (
    AwsCredentials,
    BearerToken,
    ConfigurationError,
    StaticTokenProvider,
)
from literauth.aws import WebIdentityCredentialProvider
from literauth.azure import AzureAdCredentialProvider
from literauth.config import (
    ConfigProblem,
    ModelConfigError,
    ModelEntry,
    ModelTable,
    load_models,
    loads_models,
)
from literauth.config._fields import interpolate
from literauth.google import VertexOAuthCredentialProvider
from literauth.provider import RefreshingCredentialProvider
from literauth.testing import FakeIdentityServer

from .conftest import METADATA_OVERRIDES, START, FakeClock, FakeSleep, assert_no_secret

# The three entries of the issue, verbatim.
ISSUE_EXAMPLE = """\
[[models]]
name = "gpt-4o"
provider_model = "azure/gpt-4o"
api_key = "${AZURE_AD_TOKEN}"   # static token

[[models]]
name = "claude-3-opus"
provider_model = "bedrock/anthropic.claude-3-opus-20240229-v1:0"
# AWS credentials read from AWS_ROLE_ARN + AWS_WEB_IDENTITY_TOKEN_FILE

[[models]]
name = "gemini-1.5-pro"
provider_model = "vertex/google/gemini-1.5-pro-001"
# Google credentials read from GOOGLE_APPLICATION_CREDENTIALS
"""

AZURE_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.static-azure-ad-token-for-tests"
KEY = "sk-test-0123456789abcdefghijklmnopqrstuv"


def toml(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def entry(name: str = "m", provider_model: str = "openai/gpt-4o", **fields: str) -> str:
    """One [[models]] table; `fields` values are TOML source text."""
    lines = ["[[models]]", f'name = "{name}"', f'provider_model = "{provider_model}"']
    lines += [f"{key} = {value}" for key, value in fields.items()]
    return "\n".join(lines) + "\n"


def problems_of(excinfo: pytest.ExceptionInfo[ModelConfigError]) -> list[str]:
    return [str(p) for p in excinfo.value.problems]


@pytest.fixture
def env(server: FakeIdentityServer, tmp_path: pathlib.Path) -> dict[str, str]:
    """Environment variables pointing the three identity providers at the fake server."""
    return server.environ(tmp_path)


@pytest.fixture
def tables() -> Iterator[list[ModelTable]]:
    """Tables a test loads are closed afterwards (their providers own HTTP sessions)."""
    opened: list[ModelTable] = []
    yield opened
    for table in opened:
        table.close()


# -- the issue's example against FakeIdentityServer ---------------------------------------------


def test_issue_example_resolves_each_model(
    server: FakeIdentityServer, env: dict[str, str], tables: list[ModelTable]
) -> None:
    table = loads_models(ISSUE_EXAMPLE, environ={**env, "AZURE_AD_TOKEN": AZURE_TOKEN})
    tables.append(table)
    assert list(table) == ["gpt-4o", "claude-3-opus", "gemini-1.5-pro"]
    assert (server.azure.request_count, server.sts.request_count, server.google.request_count) == (0, 0, 0)

    gpt = table.resolve("gpt-4o")
    assert isinstance(gpt, BearerToken) and gpt.token.expose_secret() == AZURE_TOKEN
    claude = table.resolve("claude-3-opus")
    assert isinstance(claude, AwsCredentials) and claude.session_token is not None
    gemini = table.resolve("gemini-1.5-pro")
    assert isinstance(gemini, BearerToken)
    assert gemini.token.expose_secret() in server.google.issued_tokens

    assert isinstance(table["gpt-4o"].credential_provider, StaticTokenProvider)
    assert isinstance(table["claude-3-opus"].credential_provider, WebIdentityCredentialProvider)
    assert isinstance(table["gemini-1.5-pro"].credential_provider, VertexOAuthCredentialProvider)
    table.resolve("claude-3-opus")
    table.resolve("gemini-1.5-pro")
    assert (server.azure.request_count, server.sts.request_count, server.google.request_count) == (0, 1, 1)


def test_issue_example_entries_are_split(env: dict[str, str], tables: list[ModelTable]) -> None:
    table = loads_models(ISSUE_EXAMPLE, environ={**env, "AZURE_AD_TOKEN": AZURE_TOKEN})
    tables.append(table)
    claude = table["claude-3-opus"]
    assert (claude.provider, claude.model) == ("bedrock", "anthropic.claude-3-opus-20240229-v1:0")
    gemini = table["gemini-1.5-pro"]
    assert (gemini.provider, gemini.model) == ("vertex", "google/gemini-1.5-pro-001")
    assert gemini.provider_model == "vertex/google/gemini-1.5-pro-001"
    assert (gemini.base_url, gemini.timeout_secs, gemini.fallbacks) == (None, None, ())


def test_two_azure_models_share_one_provider_and_one_token(
    server: FakeIdentityServer, env: dict[str, str], tables: list[ModelTable]
) -> None:
    text = entry("gpt-4o", "azure/gpt-4o") + entry("gpt-4o-mini", "azure/gpt-4o-mini", timeout_secs="30")
    table = loads_models(text, environ=env)
    tables.append(table)
    first, second = table["gpt-4o"].credential_provider, table["gpt-4o-mini"].credential_provider
    assert first is second
    assert isinstance(first, AzureAdCredentialProvider)
    assert server.azure.request_count == 0  # nothing fetched at load
    token_a = table.resolve("gpt-4o")
    token_b = table.resolve("gpt-4o-mini")
    assert isinstance(token_a, BearerToken) and isinstance(token_b, BearerToken)
    assert token_a.token == token_b.token
    assert server.azure.request_count == 1
    assert server.azure.check_token(token_a.token)
    assert table.providers == (first,)


def test_vertex_and_vertex_ai_share_one_provider(
    server: FakeIdentityServer, env: dict[str, str], tables: list[ModelTable]
) -> None:
    text = entry("a", "vertex/gemini-1.5-pro") + entry("b", "vertex_ai/gemini-1.5-flash")
    table = loads_models(text, environ=env)
    tables.append(table)
    assert table["a"].credential_provider is table["b"].credential_provider
    table["a"].resolve()
    table["b"].resolve()
    assert server.google.request_count == 1


def test_bedrock_models_share_one_provider(
    server: FakeIdentityServer, env: dict[str, str], tables: list[ModelTable]
) -> None:
    text = entry("opus", "bedrock/anthropic.claude-3-opus") + entry("haiku", "bedrock/anthropic.claude-3-haiku")
    table = loads_models(text, environ=env)
    tables.append(table)
    assert table["opus"].credential_provider is table["haiku"].credential_provider
    assert table.resolve("opus") == table.resolve("haiku")
    assert server.sts.request_count == 1


def test_same_static_key_shares_a_provider_and_different_keys_do_not() -> None:
    text = (
        entry("a", api_key='"${KEY_A}"')
        + entry("b", "mistral/mistral-large", api_key='"${KEY_B}"')
        + entry("c", api_key='"${OTHER}"')
    )
    table = loads_models(text, environ={"KEY_A": KEY, "KEY_B": KEY, "OTHER": KEY + "-other"})
    assert table["a"].credential_provider is table["b"].credential_provider
    assert table["c"].credential_provider is not table["a"].credential_provider
    assert len(table.providers) == 2


def test_api_key_wins_over_the_environment_for_any_prefix(env: dict[str, str]) -> None:
    text = entry("a", "azure/gpt-4o", api_key='"k-azure"') + entry("b", "bedrock/x", api_key='"k-aws"')
    table = loads_models(text, environ=env)
    for name, key in (("a", "k-azure"), ("b", "k-aws")):
        assert isinstance(table[name].credential_provider, StaticTokenProvider)
        credential = table.resolve(name)
        assert isinstance(credential, BearerToken) and credential.token.expose_secret() == key


def test_azure_ad_token_in_the_environment_shares_with_an_equal_api_key(
    server: FakeIdentityServer, env: dict[str, str]
) -> None:
    text = entry("static", "azure/gpt-4o", api_key='"${AZURE_AD_TOKEN}"') + entry("from-env", "azure/gpt-4o")
    table = loads_models(text, environ={**env, "AZURE_AD_TOKEN": AZURE_TOKEN})
    assert table["static"].credential_provider is table["from-env"].credential_provider
    assert isinstance(table["from-env"].credential_provider, StaticTokenProvider)
    table.resolve("from-env")
    assert server.azure.request_count == 0


def test_provider_options_reach_the_refreshing_providers(
    env: dict[str, str], clock: FakeClock, tables: list[ModelTable]
) -> None:
    table = loads_models(entry("gpt", "azure/gpt-4o"), environ=env, clock=clock)
    tables.append(table)
    credential = table.resolve("gpt")
    assert credential.expires_at_epoch is not None
    assert START < credential.expires_at_epoch <= START + 3600  # computed from the injected clock


def test_environ_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITERAUTH_TEST_KEY", KEY)
    table = loads_models(entry(api_key='"${LITERAUTH_TEST_KEY}"'))
    credential = table.resolve("m")
    assert isinstance(credential, BearerToken) and credential.token.expose_secret() == KEY


@pytest.fixture
def closed(monkeypatch: pytest.MonkeyPatch) -> list[RefreshingCredentialProvider]:
    """Records every refreshing provider closed during the test."""
    calls: list[RefreshingCredentialProvider] = []
    original = RefreshingCredentialProvider.close

    def close(self: RefreshingCredentialProvider) -> None:
        calls.append(self)
        original(self)

    monkeypatch.setattr(RefreshingCredentialProvider, "close", close)
    return calls


def test_providers_are_closed_when_the_load_fails(
    env: dict[str, str], closed: list[RefreshingCredentialProvider]
) -> None:
    text = entry("good", "azure/gpt-4o") + entry("bad", "openai/gpt-4o")
    with pytest.raises(ModelConfigError):
        loads_models(text, environ=env)
    assert len(closed) == 1 and isinstance(closed[0], AzureAdCredentialProvider)


# -- the table --------------------------------------------------------------------------------


def test_table_is_a_read_only_mapping_in_file_order() -> None:
    names = ["zeta", "alpha", "mid", "beta"]
    table = loads_models("".join(entry(n, api_key='"k"') for n in names), environ={})
    assert isinstance(table, Mapping)
    assert list(table) == names and list(table.keys()) == names
    assert len(table) == 4 and "alpha" in table and "nope" not in table
    assert table.get("nope") is None
    with pytest.raises(TypeError):
        table["new"] = table["alpha"]  # type: ignore[index]
    with pytest.raises(TypeError):
        del table["alpha"]  # type: ignore[attr-defined]
    assert not hasattr(table, "__setitem__") and not hasattr(table, "pop")
    with pytest.raises(KeyError):
        table.resolve("nope")


def test_entry_is_frozen_and_resolves() -> None:
    table = loads_models(entry("m", api_key=f'"{KEY}"', timeout_secs="12", base_url='"https://api.example.com/v1"'),
                        environ={})
    model = table["m"]
    assert isinstance(model, ModelEntry)
    assert model.timeout_secs == 12.0 and isinstance(model.timeout_secs, float)
    assert model.base_url == "https://api.example.com/v1"
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.name = "other"  # type: ignore[misc]
    credential = model.resolve()
    assert isinstance(credential, BearerToken) and credential.token.expose_secret() == KEY


def test_fallbacks_are_kept_in_order_as_a_tuple() -> None:
    text = entry("a", api_key='"k"', fallbacks='["c", "b"]') + entry("b", api_key='"k"') + entry("c", api_key='"k"')
    table = loads_models(text, environ={})
    assert table["a"].fallbacks == ("c", "b")


def test_secrets_are_not_in_repr(env: dict[str, str], tables: list[ModelTable]) -> None:
    text = entry("static", api_key=f'"{KEY}"') + entry("azure", "azure/gpt-4o")
    table = loads_models(text, environ=env)
    tables.append(table)
    table.resolve("static")
    table.resolve("azure")
    texts = [repr(table), str(table), repr(dict(table)), *(repr(e) for e in table.values())]
    assert_no_secret(texts, [KEY, env["AZURE_CLIENT_SECRET"]])
    assert "static" in repr(table)


def test_close_closes_refreshing_providers(env: dict[str, str], closed: list[RefreshingCredentialProvider]) -> None:
    text = entry("a", "azure/gpt-4o") + entry("b", "azure/gpt-4o-mini") + entry("c", api_key='"k"')
    with loads_models(text, environ=env) as table:
        provider = table["a"].credential_provider
        assert closed == []
    assert closed == [provider]  # once, though two entries share it; static providers have nothing to close


def test_other_proxy_tables_are_ignored_and_not_interpolated() -> None:
    text = toml("""
        [general]
        master_key = "${UNSET_MASTER_KEY}"
        database_url = "postgres://x"

        [[keys]]
        key = "${UNSET_VIRTUAL_KEY}"
        models = ["gpt-4o"]

        [router_settings]
        routing_strategy = "simple-shuffle"

        [[models]]
        name = "gpt-4o"
        provider_model = "openai/gpt-4o"
        api_key = "${OPENAI_API_KEY}"
        """)
    table = loads_models(text, environ={"OPENAI_API_KEY": KEY})
    assert list(table) == ["gpt-4o"]


# -- interpolation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "environ", "expected"),
    [
        ("${A}", {"A": "x"}, "x"),
        ("pre-${A}-post", {"A": "x"}, "pre-x-post"),
        ("${A}${B}", {"A": "1", "B": "2"}, "12"),
        ("${A:-fallback}", {}, "fallback"),
        ("${A:-fallback}", {"A": ""}, "fallback"),  # as in the shell: empty takes the default
        ("${A:-fallback}", {"A": "set"}, "set"),
        ("${A:-}", {}, ""),
        ("${A:-https://x.example:8443/p?q=1}", {}, "https://x.example:8443/p?q=1"),
        ("${A:-a:-b}", {}, "a:-b"),
        ("${A}", {"A": ""}, ""),  # set but empty is kept; the field's own check decides
        ("$${A}", {"A": "x"}, "${A}"),
        ("$${", {}, "${"),
        ("$${A:-d} and ${A}", {"A": "x"}, "${A:-d} and x"),
        ("$A $$ $ {A} $}", {"A": "x"}, "$A $$ $ {A} $}"),
        ("${A}", {"A": "${B}"}, "${B}"),  # substituted text is not scanned again
        ("${A}", {"A": 'q"uo\'te\nnew"""line'}, 'q"uo\'te\nnew"""line'),
        ("${_x1}", {"_x1": "ok"}, "ok"),
        ("no references", {}, "no references"),
    ],
)
def test_interpolate(value: str, environ: dict[str, str], expected: str) -> None:
    result = interpolate(value, environ)
    assert result.problems == ()
    assert result.value is not None and result.value.value == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("${MISSING}", "MISSING is not set"),
        ("a ${MISSING} b", "MISSING is not set"),
        ("${", "without a closing"),
        ("abc ${OPEN", "without a closing"),
        ("${}", "malformed"),
        ("${1ABC}", "malformed"),
        ("${A B}", "malformed"),
        ("${A-default}", "malformed"),
        ("${A:=x}", "malformed"),
        ("${ A }", "malformed"),
    ],
)
def test_interpolate_errors(value: str, fragment: str) -> None:
    result = interpolate(value, {"A": "x"})
    assert result.value is None
    assert len(result.problems) == 1 and fragment in result.problems[0]


def test_every_unset_variable_in_a_value_is_reported() -> None:
    result = interpolate("${ONE}/${TWO}", {})
    assert [e.split()[2] for e in result.problems] == ["ONE", "TWO"]


def test_unset_variable_names_the_variable_and_the_entry() -> None:
    with pytest.raises(ModelConfigError) as excinfo:
        loads_models(entry("gpt", api_key='"${OPENAI_API_KEY}"'), environ={})
    (problem,) = excinfo.value.problems
    assert (problem.index, problem.name, problem.field) == (0, "gpt", "api_key")
    assert "OPENAI_API_KEY" in problem.message
    assert "models[0] 'gpt'" in str(excinfo.value)


def test_interpolation_in_names_urls_and_fallback_lists() -> None:
    text = (
        entry("${PREFIX}-a", api_key='"k"', base_url='"${BASE:-https://default.example}/v1"',
              fallbacks='["${PREFIX}-b"]')
        + entry("${PREFIX}-b", "${VENDOR}/${MODEL}", api_key='"k"')
    )
    table = loads_models(text, environ={"PREFIX": "team", "VENDOR": "openai", "MODEL": "gpt-4o"})
    assert list(table) == ["team-a", "team-b"]
    assert table["team-a"].base_url == "https://default.example/v1"
    assert table["team-a"].fallbacks == ("team-b",)
    assert table["team-b"].provider_model == "openai/gpt-4o"


def test_values_with_quotes_and_newlines_cannot_break_the_toml() -> None:
    nasty = f'{KEY}"api_key="injected'
    text = entry("a", api_key='"${NASTY}"') + toml('''
        [[models]]
        name = "b"
        provider_model = "openai/gpt-4o"
        api_key = """
        multi-${WORD}-"quoted"-'single'"""
        ''')
    table = loads_models(text, environ={"NASTY": nasty, "WORD": "x"})
    a = table.resolve("a")
    b = table.resolve("b")
    assert isinstance(a, BearerToken) and a.token.expose_secret() == nasty
    assert isinstance(b, BearerToken) and b.token.expose_secret() == "multi-x-\"quoted\"-'single'"
    assert list(table) == ["a", "b"]
    # a newline that tries to start a new TOML key is refused like any token with whitespace
    with pytest.raises(ConfigurationError, match="whitespace") as info:
        loads_models(text, environ={"NASTY": f'{KEY}"\napi_key = "injected', "WORD": "x"})
    assert KEY not in str(info.value) and "injected" not in str(info.value)


def test_literal_strings_are_interpolated_too_and_escape_works() -> None:
    text = entry("a", api_key="'${K}'") + entry("b", api_key='"$${NOT_A_VAR}"')
    table = loads_models(text, environ={"K": KEY})
    a, b = table.resolve("a"), table.resolve("b")
    assert isinstance(a, BearerToken) and a.token.expose_secret() == KEY
    assert isinstance(b, BearerToken) and b.token.expose_secret() == "${NOT_A_VAR}"


def test_comments_are_not_interpolated() -> None:
    text = toml("""
        # api_key = "${UNSET_IN_A_COMMENT}"
        [[models]]  # ${ALSO_UNSET}
        name = "m"  # ${UNSET_TOO:-x}
        provider_model = "openai/gpt-4o"
        api_key = "k"  # ${NOT_SET_EITHER
        """)
    assert list(loads_models(text, environ={})) == ["m"]


def test_keys_are_not_interpolated() -> None:
    text = entry() + '"${FIELD}" = "k"\n'
    with pytest.raises(ModelConfigError) as excinfo:
        loads_models(text, environ={"FIELD": "api_key"})
    fields = [p.field for p in excinfo.value.problems]
    assert "${FIELD}" in fields


def test_unknown_fields_are_not_interpolated() -> None:
    text = entry(api_key='"k"', api_base='"${UNSET_BASE}"')
    with pytest.raises(ModelConfigError) as excinfo:
        loads_models(text, environ={})
    (problem,) = excinfo.value.problems
    assert problem.field == "api_base" and "base_url" in problem.message


@pytest.mark.parametrize(
    ("api_key", "environ"),
    [('""', {}), ('"   "', {}), ('"${EMPTY}"', {"EMPTY": ""}), ('"${BLANK}"', {"BLANK": " \n"}),
     ('"${E:-}"', {})],
)
def test_an_empty_api_key_is_an_error(api_key: str, environ: dict[str, str]) -> None:
    with pytest.raises(ModelConfigError, match="api_key.*is empty"):
        loads_models(entry(api_key=api_key), environ=environ)


def test_api_key_is_stripped_of_surrounding_whitespace() -> None:
    table = loads_models(entry(api_key='"${K}"'), environ={"K": f"  {KEY}\n"})
    credential = table.resolve("m")
    assert isinstance(credential, BearerToken) and credential.token.expose_secret() == KEY


def test_secrets_and_defaults_never_appear_in_errors() -> None:
    default_secret = "sk-default-secret-value-0123456789"
    env_secret = "sk-environment-secret-value-987654"
    text = (
        entry("a", api_key=f'"${{MISSING:-{default_secret}}} ${{UNSET}}"')
        + entry("b", "openai/x", api_key=f'"{env_secret}${{"')
        + entry("c", "openai/x", api_key="12345678901234567890")
        + entry("d", "openai/x", api_key='"${SET}"', base_url=f'"http://user:{env_secret}@example.com"')
        + entry("e", "openai/x", api_key='"${SET}"', base_url=f'"https://example.com/?key={env_secret}"',
                timeout_secs='"x"', bogus='"' + env_secret + '"')
        + entry("f", "openai/x", api_key=f'"{default_secret}"', base_url=f'"ftp://example.com/{env_secret}"')
    )
    with pytest.raises(ModelConfigError) as excinfo:
        loads_models(text, environ={"SET": env_secret})
    texts = [str(excinfo.value), repr(excinfo.value), *(repr(p) for p in excinfo.value.problems)]
    assert_no_secret(texts, [default_secret, env_secret, "12345678901234567890"])
    assert {p.name for p in excinfo.value.problems} == {"a", "b", "c", "d", "e", "f"}


# -- every error path, reported together -------------------------------------------------------------


def test_every_problem_in_a_file_is_reported_at_once(tmp_path: pathlib.Path) -> None:
    text = toml("""
        [general]
        master_key = "whatever"

        [[models]]
        name = "gpt-4o"
        provider_model = "azure/gpt-4o"
        api_key = "${UNSET_AZURE_KEY}"
        api_base = "https://x.openai.azure.com"

        [[models]]
        name = "gpt-4o"
        provider_model = "openai/gpt-4o"
        api_key = "k"

        [[models]]
        provider_model = "openai/gpt-4o-mini"
        api_key = "k"

        [[models]]
        name = "claude"
        provider_model = "bedrock/anthropic.claude-3-opus"
        timeout_secs = -5
        fallbacks = ["claude", "gtp-4o"]

        [[models]]
        name = "local"
        provider_model = "ollama/llama3"
        base_url = "http://example.com"

        [[models]]
        name = "gemini"
        provider_model = "vertex/gemini-1.5-pro"
        """)
    path = tmp_path / "proxy.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ModelConfigError) as excinfo:
        load_models(path, environ=dict(METADATA_OVERRIDES))  # vertex/: the metadata server refused
    error = excinfo.value
    assert isinstance(error, ConfigurationError)
    assert error.source == str(path)
    found = [(p.index, p.name, p.field, p.message) for p in error.problems]
    expected = [
        (0, "gpt-4o", "api_key", "UNSET_AZURE_KEY is not set"),
        (0, "gpt-4o", "api_base", "did you mean 'base_url'"),
        (1, "gpt-4o", None, "already used by models[0]"),
        (2, None, None, "'name' is missing"),
        (3, "claude", "timeout_secs", "positive"),
        (3, "claude", "fallbacks", "cannot fall back to itself"),
        (3, "claude", "fallbacks", "did you mean 'gpt-4o'"),
        (3, "claude", None, "AWS_ROLE_ARN"),
        (4, "local", "base_url", "https"),
        (4, "local", "api_key", "add api_key"),
        (5, "gemini", None, "GOOGLE_APPLICATION_CREDENTIALS"),
    ]
    for index, name, field, fragment in expected:
        assert any(
            (i, n, f) == (index, name, field) and fragment in m for i, n, f, m in found
        ), (index, name, field, fragment, found)
    assert len(error.problems) == len(expected)
    assert [p.index for p in error.problems] == sorted(p.index for p in error.problems)  # type: ignore[type-var]
    message = str(error)
    assert message.startswith(f"{path}: 11 problems")
    for line in message.splitlines()[1:]:
        assert line.strip().startswith(f"{path}: models[")


def test_one_broken_environment_is_reported_once_per_entry(env: dict[str, str]) -> None:
    environ = {k: v for k, v in env.items() if k != "AWS_ROLE_ARN"}
    text = entry("a", "bedrock/x") + entry("b", "bedrock/y") + entry("c", "azure/gpt-4o")
    with pytest.raises(ModelConfigError) as excinfo:
        loads_models(text, environ=environ)
    messages = {p.name: p.message for p in excinfo.value.problems}
    assert set(messages) == {"a", "b"}
    assert "AWS_ROLE_ARN" in messages["a"] and "api_key" in messages["a"]
    assert "see models[0]" in messages["b"]


def test_the_error_survives_copy_and_pickle() -> None:
    with pytest.raises(ModelConfigError) as excinfo:
        loads_models(entry(api_key='"${MISSING}"'), environ={})
    for clone in (copy.copy(excinfo.value), pickle.loads(pickle.dumps(excinfo.value))):
        assert isinstance(clone, ModelConfigError)
        assert str(clone) == str(excinfo.value) and clone.problems == excinfo.value.problems


def test_problem_str_is_readable() -> None:
    problem = ConfigProblem("cfg.toml", "went wrong", 2, "gpt", "api_key")
    assert str(problem) == "cfg.toml: models[2] 'gpt': field 'api_key': went wrong"
    assert str(ConfigProblem("cfg.toml", "no [[models]] entries")) == "cfg.toml: no [[models]] entries"


def test_a_single_problem_reads_naturally() -> None:
    with pytest.raises(ModelConfigError, match=r"^<string>: 1 problem in the model configuration:\n"):
        loads_models(entry(name="a", provider_model="openai/x"), environ={})


# A broad table of bad inputs: (TOML text, fragment of the one problem, index, field).
BAD_DOCUMENTS = [
    ("[general]\nx = 1\n", "no [[models]] entries", None, None),
    ('[[model]]\nname = "a"\n', "found [[model]]", None, None),
    ('models = "gpt-4o"\n', "array of tables", None, None),
    ("models = []\n", "is empty", None, None),
    ("[models]\nname = 'a'\n", "array of tables", None, None),
    ("models = [1]\n", "must be a table, not an integer", 0, None),
    ("models = [[1, 2]]\n", "must be a table, not an array", 0, None),
    ("[[models]]\n", "'name' is missing", 0, None),  # (and provider_model: checked separately)
]

BAD_ENTRIES = [
    # name
    ('[[models]]\nname = 1\nprovider_model = "openai/x"\napi_key = "k"\n', "must be a string, not an integer",
     "name"),
    ('[[models]]\nname = ""\nprovider_model = "openai/x"\napi_key = "k"\n', "must not be empty", "name"),
    ('[[models]]\nname = " a"\nprovider_model = "openai/x"\napi_key = "k"\n', "whitespace", "name"),
    ('[[models]]\nname = ["a"]\nprovider_model = "openai/x"\napi_key = "k"\n', "not an array", "name"),
    ('[[models]]\nname = 2024-01-01\nprovider_model = "openai/x"\napi_key = "k"\n', "not a date", "name"),
    # provider_model
    ('[[models]]\nname = "a"\napi_key = "k"\n', "'provider_model' is missing", None),
    (entry(provider_model="gpt-4o", api_key='"k"'), "'<provider>/<model id>'", "provider_model"),
    (entry(provider_model="/gpt-4o", api_key='"k"'), "'<provider>/<model id>'", "provider_model"),
    (entry(provider_model="openai/", api_key='"k"'), "'<provider>/<model id>'", "provider_model"),
    (entry(provider_model="openai/  ", api_key='"k"'), "'<provider>/<model id>'", "provider_model"),
    (entry(provider_model="Azure/gpt-4o", api_key='"k"'), "lower-case", "provider_model"),
    (entry(provider_model="open ai/gpt-4o", api_key='"k"'), "lower-case", "provider_model"),
    (entry(provider_model="openai/ gpt-4o", api_key='"k"'), "whitespace", "provider_model"),
    ('[[models]]\nname = "a"\nprovider_model = 4\napi_key = "k"\n', "must be a string", "provider_model"),
    # api_key
    (entry(api_key="123"), "must be a string, not an integer", "api_key"),
    (entry(api_key="true"), "must be a string, not a boolean", "api_key"),
    (entry(api_key='["a"]'), "must be a string, not an array", "api_key"),
    (entry(api_key="{ value = 'a' }"), "must be a string, not a table", "api_key"),
    (entry(api_key='""'), "is empty", "api_key"),
    (entry(api_key='"${K}"'), "K is not set", "api_key"),
    (entry(api_key='"${K"'), "without a closing", "api_key"),
    (entry(api_key='"${1}"'), "malformed", "api_key"),
    # base_url
    (entry(api_key='"k"', base_url="1"), "must be a string", "base_url"),
    (entry(api_key='"k"', base_url='""'), "absolute https://", "base_url"),
    (entry(api_key='"k"', base_url='"example.com"'), "absolute https://", "base_url"),
    (entry(api_key='"k"', base_url='"ftp://example.com"'), "absolute https://", "base_url"),
    (entry(api_key='"k"', base_url='"https://"'), "absolute https://", "base_url"),
    (entry(api_key='"k"', base_url='"http://example.com"'), "plain http only on loopback", "base_url"),
    (entry(api_key='"k"', base_url='"https://u:p@example.com"'), "user information", "base_url"),
    (entry(api_key='"k"', base_url='"https://[::1"'), "not a valid URL", "base_url"),
    (entry(api_key='"k"', base_url='"${BASE}"'), "BASE is not set", "base_url"),
    # timeout_secs
    (entry(api_key='"k"', timeout_secs="0"), "positive", "timeout_secs"),
    (entry(api_key='"k"', timeout_secs="-1.5"), "positive", "timeout_secs"),
    (entry(api_key='"k"', timeout_secs="nan"), "positive", "timeout_secs"),
    (entry(api_key='"k"', timeout_secs="inf"), "positive", "timeout_secs"),
    (entry(api_key='"k"', timeout_secs='"30"'), "not a string", "timeout_secs"),
    (entry(api_key='"k"', timeout_secs="true"), "not a boolean", "timeout_secs"),
    (entry(api_key='"k"', timeout_secs="[30]"), "not an array", "timeout_secs"),
    # fallbacks
    (entry(api_key='"k"', fallbacks='"other"'), "array of model names", "fallbacks"),
    (entry(api_key='"k"', fallbacks="[1]"), "array of model names", "fallbacks"),
    (entry(api_key='"k"', fallbacks='["m"]'), "itself", "fallbacks"),
    (entry(api_key='"k"', fallbacks='["ghost"]'), "no [[models]] entry defines", "fallbacks"),
    (entry(api_key='"k"', fallbacks='["${FB}"]'), "FB is not set", "fallbacks"),
    # unknown fields
    (entry(api_key='"k"', api_base='"https://x"'), "did you mean 'base_url'", "api_base"),
    (entry(api_key='"k"', apikey='"k"'), "did you mean 'api_key'", "apikey"),
    (entry(api_key='"k"', Name='"x"'), "did you mean 'name'", "Name"),
    (entry(api_key='"k"', timeout="30"), "did you mean 'timeout_secs'", "timeout"),
    (entry(api_key='"k"', fallback='["x"]'), "did you mean 'fallbacks'", "fallback"),
    (entry(api_key='"k"', rpm="100"), "the fields are name", "rpm"),
    ('[[models]]\nname = "m"\nprovider_model = "openai/x"\napi_key = "k"\n[models.extra]\nx = 1\n',
     "unknown field", "extra"),
    # credentials
    (entry(provider_model="openai/gpt-4o"), 'api_key = "${OPENAI_API_KEY}"', "api_key"),
    (entry(provider_model="azure_ai/x"), 'api_key = "${AZURE_AI_API_KEY}"', "api_key"),
    (entry(provider_model="azure/gpt-4o"), "azure default chain: no credential source is configured", None),
    (entry(provider_model="bedrock/x"), "AWS_ROLE_ARN", None),
    (entry(provider_model="vertex_ai/x"), "GOOGLE_APPLICATION_CREDENTIALS", None),
]


@pytest.mark.parametrize(("text", "fragment", "index", "field"), BAD_DOCUMENTS)
def test_bad_documents(text: str, fragment: str, index: int | None, field: str | None) -> None:
    with pytest.raises(ModelConfigError) as excinfo:
        loads_models(text, environ={})
    problem = excinfo.value.problems[0]
    assert fragment in problem.message
    assert (problem.index, problem.field) == (index, field)


@pytest.mark.parametrize(("text", "fragment", "field"), BAD_ENTRIES)
def test_bad_entries(text: str, fragment: str, field: str | None) -> None:
    with pytest.raises(ModelConfigError) as excinfo:
        loads_models(text, environ=dict(METADATA_OVERRIDES))  # azure/: IMDS refused, not reached
    assert len(excinfo.value.problems) == 1, problems_of(excinfo)
    (problem,) = excinfo.value.problems
    assert fragment in problem.message, str(problem)
    assert (problem.index, problem.field) == (0, field)


def test_an_empty_entry_reports_both_required_fields() -> None:
    with pytest.raises(ModelConfigError) as excinfo:
        loads_models("[[models]]\n", environ={})
    messages = [p.message for p in excinfo.value.problems]
    assert any("'name' is missing" in m for m in messages)
    assert any("'provider_model' is missing" in m for m in messages)


def test_a_broken_environment_file_is_reported(env: dict[str, str], tmp_path: pathlib.Path) -> None:
    bad_key_file = tmp_path / "not-json.json"
    bad_key_file.write_text("{", encoding="utf-8")
    with pytest.raises(ModelConfigError, match="not JSON") as excinfo:
        loads_models(entry(provider_model="vertex/x"), environ={**env, "GOOGLE_APPLICATION_CREDENTIALS": str(bad_key_file)})
    assert excinfo.value.problems[0].name == "m"


def test_a_problem_in_one_field_does_not_hide_the_entry_s_other_problems() -> None:
    text = entry("m", "${VENDOR}/x", api_key='"${K}"', timeout_secs="0", fallbacks='["nobody"]')
    with pytest.raises(ModelConfigError) as excinfo:
        loads_models(text, environ={})
    fields = sorted(p.field or "" for p in excinfo.value.problems)
    assert fields == ["api_key", "fallbacks", "provider_model", "timeout_secs"]
    # the failed interpolation is reported once, not also as a malformed provider_model
    assert sum("VENDOR" in p.message for p in excinfo.value.problems) == 1


# -- the example: a Flask app choosing credentials per model name -------------------------------------

EXAMPLE = pathlib.Path(__file__).resolve().parents[1] / "examples" / "flask_models_config.py"
EXAMPLE_TOML = EXAMPLE.with_name("models.toml")


def _example_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("flask_models_config_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_imports_without_side_effects(capsys: pytest.CaptureFixture[str]) -> None:
    before = set(threading.enumerate())
    module = _example_module()
    assert callable(module.create_app) and callable(module.create_app_from_file)
    assert set(threading.enumerate()) - before == set()
    assert capsys.readouterr() == ("", "")


def test_example_models_file_loads_with_shared_identities(env: dict[str, str], tables: list[ModelTable]) -> None:
    table = load_models(EXAMPLE_TOML, environ={**env, "MISTRAL_API_KEY": KEY})
    tables.append(table)
    assert list(table) == ["gpt-4o", "gpt-4o-mini", "claude-3-opus", "gemini-1.5-pro", "mistral-large"]
    assert table["gpt-4o"].credential_provider is table["gpt-4o-mini"].credential_provider
    assert len(table.providers) == 4
    assert table["claude-3-opus"].base_url == "https://bedrock-runtime.us-east-1.amazonaws.com"
    with pytest.raises(ModelConfigError, match="MISTRAL_API_KEY is not set"):
        load_models(EXAMPLE_TOML, environ=env)


def test_example_app_routes_each_model_to_its_credentials(
    server: FakeIdentityServer, env: dict[str, str]
) -> None:
    module = _example_module()
    app = module.create_app_from_file(EXAMPLE_TOML, environ={**env, "MISTRAL_API_KEY": KEY})
    client = app.test_client()
    listed = client.get("/v1/models").get_json()["data"]
    assert [m["id"] for m in listed][:2] == ["gpt-4o", "gpt-4o-mini"]
    assert listed[0]["fallbacks"] == ["gpt-4o-mini"]

    bedrock = client.post("/v1/chat/completions", json={"model": "claude-3-opus", "messages": []})
    assert bedrock.status_code == 200
    assert bedrock.get_json()["answer"]["auth"] == "aws-sigv4"
    azure = client.post("/v1/chat/completions", json={"model": "gpt-4o-mini"}).get_json()
    assert azure["served_by"] == "gpt-4o-mini" and azure["answer"]["auth"] == "bearer"
    assert client.post("/v1/chat/completions", json={"model": "nope"}).status_code == 404
    health = client.get("/healthz").get_json()["identities"]
    assert health[0]["models"] == ["gpt-4o", "gpt-4o-mini"] and health[0]["token_requests"] == 1
    assert (server.azure.request_count, server.sts.request_count, server.google.request_count) == (1, 1, 0)
    texts = [r.get_data(as_text=True) for r in (bedrock,)] + [str(azure), str(health)]
    assert_no_secret(texts, [KEY, env["AZURE_CLIENT_SECRET"]])
    app.extensions["model_table"].close()


def test_example_app_tries_fallbacks_then_gives_up(
    server: FakeIdentityServer, env: dict[str, str], fake_sleep: FakeSleep
) -> None:
    module = _example_module()
    text = entry("a", "azure/gpt-4o", fallbacks='["b"]') + entry("b", api_key=f'"{KEY}"')
    calls: list[str] = []

    def flaky(model: ModelEntry, credential: object, body: object) -> dict[str, str]:
        calls.append(model.name)
        raise module.UpstreamError(f"{model.name}: HTTP 503")

    with loads_models(text, environ=env, sleep=fake_sleep) as table:
        server.azure.fail(500, times=10)  # the token request fails too: a CredentialError, then a fallback
        reply = module.create_app(table, flaky).test_client().post("/v1/chat/completions", json={"model": "a"})
    assert reply.status_code == 502
    failures = reply.get_json()["failures"]
    assert [f["model"] for f in failures] == ["a", "b"]
    assert "500" in failures[0]["error"] and calls == ["b"]
    assert fake_sleep.calls  # the token request was retried, without really sleeping


def test_example_demo_runs_against_the_fake_server() -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--demo"], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "token requests: azure 1, sts 1, google 1 (for 5 models)" in result.stdout
    assert "served by gpt-4o-mini" in result.stdout
    assert result.stderr == ""


def test_an_api_key_with_whitespace_is_a_problem_of_its_entry_not_a_crash() -> None:
    text = entry("bad", api_key='"${K}"') + entry("also-bad", provider_model="azure/x", api_key='"a b"')
    with pytest.raises(ModelConfigError) as caught:
        loads_models(text, environ={"K": "ab\ncd"})
    assert [(p.index, p.field) for p in caught.value.problems] == [(0, "api_key"), (1, "api_key")]
    assert all("whitespace" in p.message for p in caught.value.problems)
    assert "ab\ncd" not in str(caught.value) and "a b" not in str(caught.value)
