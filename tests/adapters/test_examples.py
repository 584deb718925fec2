"""The SDK adapter examples' offline `--demo`: the real SDK, the fakes, one token request."""

from __future__ import annotations

import importlib.util
import pathlib
import threading
from types import ModuleType

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"literauth_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("name", "answer"),
    [("google_genai_vertex", "'fake gemini says hi'"), ("azure_ai_inference", "'fake chat says hi'")],
)
def test_the_demo_shares_one_token_among_sixteen_threads_and_heals_after_invalidate(
    name: str, answer: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = set(threading.enumerate())
    module = _load(name)
    assert set(threading.enumerate()) - before == set() and capsys.readouterr().out == ""  # importing starts nothing
    assert module.main(["--demo"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{answer}: 32 answers from 16 threads, 1 token request",
        "after invalidate(): a new token True, token requests 2",
    ]
