"""literauth.config: `inspect()` (what `literauth check FILE` shows) and the rule that no message shows a variable's value."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import subprocess
import sys

import pytest

from literauth.config import (
    ConfigProblem,
    ConfigReport,
    EntryReport,
    ModelConfigError,
    VariableState,
    VariableUse,
    inspect,
    load_models,
    loads_models,
)
from literauth.testing import FakeIdentityServer

from .conftest import assert_no_secret

SECRET = "sk-live-SUPERSECRET-0123456789abcdef"  # an API key pasted into the wrong variable
LOWER = SECRET.lower()  # the same, valid as a provider prefix
DEFAULT = "sk-default-SECRET-9876543210fedcba"


def entry(name: str = "m", provider_model: str = "openai/gpt-4o", **fields: str) -> str:
    """One [[models]] table; `fields` values are TOML source text."""
    lines = ["[[models]]", f'name = "{name}"', f'provider_model = "{provider_model}"']
    lines += [f"{key} = {value}" for key, value in fields.items()]
    return "\n".join(lines) + "\n"


def _variants(secret: str) -> list[str]:
    """The secret and what a message might derive from it (case, `_API_KEY` variable names)."""
    return [secret, secret.upper(), secret.lower(), secret.upper().replace("-", "_")]


# Each entry puts a secret-looking variable value into a field that is shown in a message.
# (text, environment, the masked form the message shows instead)
LEAKS = [
    (entry(provider_model="${PM}", api_key='"k"'), {"PM": SECRET}, "'${PM}' must be '<provider>/<model id>'"),
    (entry(provider_model="${P}/x", api_key='"k"'), {"P": SECRET}, "provider of provider_model '${P}/x'"),
    (entry(provider_model="${P}/x"), {"P": LOWER}, "provider of provider_model '${P}/x' has no credentials"),
    (entry(provider_model="x/${M}", api_key='"k"'), {"M": " " + SECRET}, "model id of provider_model 'x/${M}'"),
    (entry(provider_model="${PM:-" + DEFAULT + "}", api_key='"k"'), {}, "'${PM:-…}' must be"),
    (entry(api_key='"k"', fallbacks='["${FB}"]'), {"FB": SECRET}, "names '${FB}', which no [[models]] entry"),
    (entry(api_key='"k"', fallbacks='["${FB}", "${FB}"]') + entry("${FB}", api_key='"k"'), {"FB": SECRET},
     "lists '${FB}' twice"),
    (entry("${N}", api_key='"k"'), {"N": " " + SECRET}, "'${N}' has leading or trailing whitespace"),
    (entry("${N}", api_key='"k"') + entry("${N}", "openai/x", api_key='"k"'), {"N": SECRET},
     "name '${N}' is already used by models[0]"),
    (entry("${N}", api_key='"k"', fallbacks='["${N}"]', timeout_secs="0"), {"N": SECRET}, "models[0] '${N}'"),
    (entry(api_key='"k"', base_url='"${URL}"'), {"URL": f"http://{LOWER}.example.com"}, "the value is '${URL}'"),
]


@pytest.mark.parametrize(("text", "environ", "masked"), LEAKS)
def test_a_variable_s_value_never_appears_in_an_error(text: str, environ: dict[str, str], masked: str) -> None:
    with pytest.raises(ModelConfigError) as excinfo:
        loads_models(text, environ=environ)
    error = excinfo.value
    texts = [str(error), repr(error), *(repr(p) for p in error.problems), *(str(p) for p in error.problems)]
    assert any(masked in t for t in texts), texts
    assert_no_secret(texts, [*_variants(SECRET), DEFAULT])


@pytest.mark.parametrize(("text", "environ", "masked"), LEAKS)
def test_a_variable_s_value_never_appears_in_a_report(
    text: str, environ: dict[str, str], masked: str, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "models.toml"
    path.write_text(text, encoding="utf-8")
    report = inspect(path, environ=environ)
    assert not report.usable
    texts = [repr(report), *(str(p) for p in report.all_problems)]
    assert any(masked in t for t in texts), texts
    assert_no_secret(texts, [*_variants(SECRET), DEFAULT])


def test_a_suggested_name_is_shown_as_written() -> None:
    text = entry("${N}", api_key='"k"') + entry("b", api_key='"k"', fallbacks='["prod-gpt-4o-larg"]')
    with pytest.raises(ModelConfigError) as excinfo:
        loads_models(text, environ={"N": "prod-gpt-4o-large"})
    (problem,) = excinfo.value.problems
    assert problem.message.endswith("did you mean '${N}'?") and "'prod-gpt-4o-large'" not in str(excinfo.value)


def test_literauth_check_shows_variable_names_not_values(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text(entry(provider_model="${PM}", api_key='"k"') + entry("b", api_key='"k"', fallbacks='["${FB}"]'),
                    encoding="utf-8")
    env = {**os.environ, "PM": SECRET, "FB": SECRET}
    done = subprocess.run([sys.executable, "-m", "literauth", "check", str(path)], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "${PM}" in done.stdout and "${FB}" in done.stdout
    assert_no_secret([done.stdout, done.stderr], _variants(SECRET))


def test_values_from_variables_still_load() -> None:
    table = loads_models(entry("${N}", "${PM}", api_key='"k"', fallbacks='["${N}-b"]') + entry("${N}-b", api_key='"k"'),
                         environ={"N": "team", "PM": "openai/gpt-4o"})
    assert list(table) == ["team", "team-b"]
    assert table["team"].provider_model == "openai/gpt-4o" and table["team"].fallbacks == ("team-b",)


# -- inspect() ------------------------------------------------------------------------------------------


@pytest.fixture
def env(server: FakeIdentityServer, tmp_path: pathlib.Path) -> dict[str, str]:
    return server.environ(tmp_path)


MIXED = (
    entry("gpt-4o", "azure/gpt-4o", base_url='"${AZURE_OPENAI_ENDPOINT:-https://x.openai.azure.com}"')
    + entry("claude", "bedrock/anthropic.claude-3")
    + entry("mistral", "mistral/large", api_key='"${MISTRAL_API_KEY}"', fallbacks='["gpt-4o"]')
    + entry("local", "ollama/llama3")
    + "[[models]]\nprovider_model = \"${VENDOR}/x\"\napi_key = \"${EMPTY}\"\n"
)


def test_inspect_reports_each_entry(env: dict[str, str], tmp_path: pathlib.Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text(MIXED + "[general]\nx = 1\n", encoding="utf-8")
    environ = {k: v for k, v in env.items() if k != "AWS_ROLE_ARN"}
    environ.update(VENDOR="openai", EMPTY="")
    report = inspect(path, environ=environ)
    assert isinstance(report, ConfigReport) and report.source == str(path)
    assert report.problems == () and not report.usable
    assert [e.index for e in report.entries] == [0, 1, 2, 3, 4]
    gpt, claude, mistral, local, unnamed = report.entries

    assert (gpt.name, gpt.provider_model, gpt.provider, gpt.spec, gpt.credentials) == (
        "gpt-4o", "azure/gpt-4o", "azure", "azure.default", "environment")
    assert gpt.variables == (VariableUse("AZURE_OPENAI_ENDPOINT", VariableState.UNSET, True),)
    assert gpt.usable and gpt.variables[0].satisfied

    assert (claude.spec, claude.credentials, claude.usable) == ("aws.web_identity", "environment", False)
    assert ["AWS_ROLE_ARN" in p.message for p in claude.problems] == [True]

    assert (mistral.spec, mistral.credentials) == (None, "api_key")
    assert mistral.variables == (VariableUse("MISTRAL_API_KEY", VariableState.UNSET, False),)
    assert [p.field for p in mistral.problems] == ["api_key"] and not mistral.variables[0].satisfied

    assert (local.spec, local.credentials) == (None, "environment")
    assert [p.field for p in local.problems] == ["api_key"]  # "add api_key"

    assert (unnamed.name, unnamed.provider_model, unnamed.provider) == (None, "${VENDOR}/x", "${VENDOR}")
    assert unnamed.credentials == "api_key"  # though its api_key is unusable
    assert [(v.name, v.state) for v in unnamed.variables] == [("VENDOR", VariableState.SET),
                                                               ("EMPTY", VariableState.EMPTY)]
    assert {p.field for p in unnamed.problems} == {None, "api_key"}  # name missing; key empty


def test_inspect_finds_exactly_what_load_models_reports(env: dict[str, str], tmp_path: pathlib.Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text(MIXED, encoding="utf-8")
    environ = {k: v for k, v in env.items() if k != "AWS_ROLE_ARN"}
    with pytest.raises(ModelConfigError) as excinfo:
        load_models(path, environ=environ)
    report = inspect(path, environ=environ)
    assert report.all_problems == excinfo.value.problems
    for entry_report in report.entries:
        assert all(p.index == entry_report.index for p in entry_report.problems)


@pytest.mark.parametrize(("text", "problems", "entries"), [
    ("[general]\nx = 1\n", ["no [[models]] entries"], 0),
    ("models = []\n", ["is empty"], 0),
    ("models = [1, 2]\n", [], 2),
    ("a = [\n", ["invalid TOML"], 0),
])
def test_inspect_file_level_problems(text: str, problems: list[str], entries: int, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text(text, encoding="utf-8")
    report = inspect(path, environ={})
    assert len(report.problems) == len(problems)
    assert all(fragment in p.message for fragment, p in zip(problems, report.problems))
    assert len(report.entries) == entries and not report.usable
    for not_a_table in report.entries:
        assert not_a_table.name is None and "must be a table" in not_a_table.problems[0].message


def test_inspect_of_a_usable_file(env: dict[str, str], tmp_path: pathlib.Path, server: FakeIdentityServer) -> None:
    path = tmp_path / "models.toml"
    path.write_text(entry("a", "azure/gpt-4o") + entry("b", "vertex_ai/gemini", api_key='"${K}"'), encoding="utf-8")
    report = inspect(path, environ={**env, "K": SECRET})
    assert report.usable and report.all_problems == ()
    assert [e.credentials for e in report.entries] == ["environment", "api_key"]
    assert report.entries[1].variables == (VariableUse("K", VariableState.SET, False),)
    assert_no_secret([repr(report)], [SECRET, env["AZURE_CLIENT_SECRET"]])
    assert server.azure.request_count == 0  # nothing is fetched


def test_inspect_closes_the_providers_it_built(env: dict[str, str], tmp_path: pathlib.Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from literauth.provider import RefreshingCredentialProvider

    closed: list[object] = []
    monkeypatch.setattr(RefreshingCredentialProvider, "close", lambda self: closed.append(self))
    path = tmp_path / "models.toml"
    path.write_text(entry("a", "azure/gpt-4o") + entry("b", "azure/gpt-4o-mini"), encoding="utf-8")
    inspect(path, environ=env)
    assert len(closed) == 1


def test_report_values_are_frozen(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text(entry("a", api_key='"${K}"', base_url='"${K}"'), encoding="utf-8")
    report = inspect(path, environ={})
    (only,) = report.entries
    assert isinstance(only, EntryReport)
    assert only.variables == (VariableUse("K", VariableState.UNSET, False),)  # once, though used twice
    assert all(isinstance(p, ConfigProblem) for p in only.problems)
    for value in (report, only, only.variables[0]):
        with pytest.raises(dataclasses.FrozenInstanceError):
            value.source = "x"  # type: ignore[misc, union-attr]
