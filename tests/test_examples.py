"""The examples say what they need: one line and a non-zero exit when they cannot run.

Each example is run as a user would run it, in a subprocess: with no cloud variables at
all, and with a package of the `examples` extra missing. Either way it must not print a
traceback, must explain itself in exactly one line, and must not exit 0 (it did not run).
The `--demo` runs themselves are tested next to the code each example shows.
"""

from __future__ import annotations

import ast
import configparser
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
INSTALL_HINT = 'pip install "literauth[examples]"'
# The packages beyond the core each example cannot start without (the others need none):
# (a module to hide, what the example then says it needs).
NEEDS = {
    "anthropic_bedrock_httpx": [("anthropic", "anthropic and botocore"), ("botocore", "anthropic and botocore")],
    "azure_openai_flask": [("flask", "flask")],
    "boto3_bedrock_converse": [("boto3", "boto3")],
    "flask_azure_openai_client": [("flask", "flask")],
    "flask_models_config": [("flask", "flask"), ("cryptography", "cryptography and pyjwt")],
    "openai_sdk_token_callable": [("openai", "openai")],
    "vertex_ai": [("cryptography", "cryptography and pyjwt"), ("jwt", "cryptography and pyjwt")],
    "google_genai_vertex": [("google.genai", "google-genai, cryptography and pyjwt"),
                            ("jwt", "google-genai, cryptography and pyjwt")],
    "azure_ai_inference": [("azure.ai.inference", "azure-ai-inference and cryptography"),
                           ("cryptography", "azure-ai-inference and cryptography")],
}
# Imported by examples without being named in the extra: the core and what flask brings.
PROVIDED = {"literauth", "requests", "werkzeug"}


def _bare_environment() -> dict[str, str]:
    """No cloud variables at all: only PATH, and PYTHONPATH with this tree first."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": path}
    if "SYSTEMROOT" in os.environ:  # Windows cannot start Python without it
        env["SYSTEMROOT"] = os.environ["SYSTEMROOT"]
    return env


def _run(args: list[str], cwd: pathlib.Path) -> tuple[int, list[str]]:
    done = subprocess.run(
        [sys.executable, *args], cwd=cwd, env=_bare_environment(), capture_output=True, text=True, timeout=120,
        check=False, stdin=subprocess.DEVNULL,
    )
    return done.returncode, (done.stdout + done.stderr).strip().splitlines()


def test_every_example_is_covered() -> None:
    assert {p.stem for p in EXAMPLES} >= set(NEEDS)
    assert len(EXAMPLES) >= 7


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_without_cloud_variables_an_example_fails_in_one_line(example: pathlib.Path, tmp_path: pathlib.Path) -> None:
    status, lines = _run([str(example)], tmp_path)
    assert status != 0, lines
    assert len(lines) == 1, lines
    assert lines[0].startswith("example: ") and "Traceback" not in lines[0]
    # and it says how to see it work without a cloud account, or what to install first
    assert "--demo" in lines[0] or lines[0].endswith(INSTALL_HINT)


@pytest.mark.parametrize(
    ("name", "module", "needs"), [(name, module, needs) for name, pairs in sorted(NEEDS.items()) for module, needs in pairs]
)
def test_a_missing_package_is_one_install_hint(name: str, module: str, needs: str, tmp_path: pathlib.Path) -> None:
    path = str(ROOT / "examples" / f"{name}.py")
    code = (
        f"import runpy, sys; sys.modules[{module!r}] = None; sys.argv = [{path!r}, '--demo']; "
        f"runpy.run_path({path!r}, run_name='__main__')"
    )
    status, lines = _run(["-c", code], tmp_path)
    assert status == 2, lines
    assert lines == [f"example: needs {needs}: {INSTALL_HINT}"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_each_example_states_what_to_install(example: pathlib.Path) -> None:
    docstring = ast.get_docstring(ast.parse(example.read_text(encoding="utf-8"))) or ""
    assert "pip install" in docstring
    if example.stem in NEEDS:
        assert INSTALL_HINT in docstring


def _third_party_imports(example: pathlib.Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(example.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif (  # importlib.import_module("openai")
            isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module"
            and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
        ):
            names.add(node.args[0].value.split(".")[0])
    return names - set(sys.stdlib_module_names) - {"__future__"}


def test_the_examples_extra_has_everything_the_examples_import() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    extra = config["options.extras_require"]["examples"]
    requirements = {line.split(">")[0].split("=")[0].split("[")[0].strip().lower() for line in extra.splitlines()}
    # import name -> requirement name ("google" and "azure" are namespaces: the examples use these)
    distribution = {"jwt": "pyjwt", "google": "google-genai", "azure": "azure-ai-inference"}
    imported = set().union(*(_third_party_imports(p) for p in EXAMPLES)) - PROVIDED
    assert {distribution.get(name, name) for name in imported} <= requirements
    assert {"flask", "openai"} <= requirements
