"""Every `.. code-block:: python` in README.rst runs, in order, against FakeIdentityServer.

The blocks share one namespace, so a block may use what an earlier one defined. Before each
block `server` is bound to a running FakeIdentityServer, and the environment points every
`from_env()` at it (see /tmp/literauth-readme/readme-test-conventions.txt for the list).
A block preceded by a `.. skip-test` comment line is not run: only for code that cannot run
offline.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import textwrap
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from literauth.testing import FakeIdentityServer

README = Path(__file__).resolve().parent.parent / "README.rst"
_DIRECTIVE = re.compile(r"^(?P<indent>[ \t]*)\.\. (?:code-block|code|sourcecode)::[ \t]*(?P<language>\S*)[ \t]*$")
_OPTION = re.compile(r"^[ \t]+:[\w-]+:")
_SKIP = re.compile(r"^[ \t]*\.\. skip-test[ \t]*$")
PYTHON = ("python", "python3", "py")
# Variables that would shadow what the namespace sets up (a developer's own cloud setup).
SHADOWING = ("AZURE_", "AWS_", "GOOGLE_", "VERTEX_AI_", "LITERAUTH_", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
STATIC_TOKEN_VARIABLE = "LITERAUTH_TOKEN"  # what `literauth token static` reads
STATIC_TOKEN = "readme-static-token-0123456789"


@dataclasses.dataclass(frozen=True)
class Block:
    """A python code block: `line` is the README line of its first source line."""

    line: int
    source: str
    skip: bool


def python_blocks(text: str) -> list[Block]:
    """The python code blocks of reStructuredText, in order, dedented."""
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        match = _DIRECTIVE.match(lines[index])
        if match is None:
            index += 1
            continue
        directive_line = index
        indent = len(match["indent"].expandtabs())
        index += 1
        while index < len(lines) and (_OPTION.match(lines[index]) and _indent(lines[index]) > indent):
            index += 1
        body: list[str] = []
        first: int | None = None
        while index < len(lines):
            line = lines[index]
            if line.strip() and _indent(line) <= indent:
                break
            if line.strip() and first is None:
                first = index
            if first is not None:
                body.append(line)
            index += 1
        if match["language"].lower() not in PYTHON or first is None:
            continue
        previous = next((lines[i] for i in range(directive_line - 1, -1, -1) if lines[i].strip()), "")
        source = textwrap.dedent("\n".join(body)).rstrip() + "\n"
        blocks.append(Block(first + 1, source, bool(_SKIP.match(previous))))
    return blocks


def _indent(line: str) -> int:
    return len(line.expandtabs()) - len(line.expandtabs().lstrip())


def run_blocks(blocks: list[Block], namespace: dict[str, Any], bindings: dict[str, Any], filename: str) -> int:
    """Run the blocks that are not skipped; fail naming the README line. Returns how many ran."""
    ran = 0
    for block in blocks:
        if block.skip:
            continue
        namespace.update(bindings)
        # Padding keeps line numbers in tracebacks equal to README line numbers.
        code = compile("\n" * (block.line - 1) + block.source, filename, "exec")
        try:
            exec(code, namespace)  # noqa: S102 - running the README's code is the point
        except Exception as exc:  # noqa: BLE001 - reported with the block's line
            details = "".join(traceback.format_exception(exc)[-6:])
            pytest.fail(f"the code block at {filename}:{block.line} failed:\n{details}", pytrace=False)
        ran += 1
    return ran


@pytest.fixture
def readme_namespace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(namespace, names re-bound before each block): a running server and an environment for it."""
    for name in list(os.environ):
        if name.startswith(SHADOWING):
            monkeypatch.delenv(name)
    workdir = tmp_path / "readme"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    logger = logging.getLogger("literauth")
    level, handlers = logger.level, list(logger.handlers)
    root_handlers = list(logging.getLogger().handlers)
    with FakeIdentityServer() as server:
        env = server.environ(workdir)
        env[STATIC_TOKEN_VARIABLE] = STATIC_TOKEN
        env["NO_PROXY"] = "127.0.0.1,localhost"
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        namespace: dict[str, Any] = {"__name__": "__readme__"}
        yield namespace, {"server": server}
    logger.setLevel(level)
    logger.handlers[:] = handlers
    logging.getLogger().handlers[:] = root_handlers


def test_readme_code_blocks_run(readme_namespace: tuple[dict[str, Any], dict[str, Any]]) -> None:
    blocks = python_blocks(README.read_text(encoding="utf-8")) if README.exists() else []
    namespace, bindings = readme_namespace
    ran = run_blocks(blocks, namespace, bindings, "README.rst")
    assert ran == sum(not b.skip for b in blocks)


# -- the extractor and runner themselves -------------------------------------------------------

SAMPLE = """\
Title
=====

.. code-block:: python

    x = 1
    if x:
        y = x + 1

Text.

.. code-block:: toml

    [[models]]

.. skip-test

.. code-block:: python
   :caption: needs the internet

   import urllib.request
   urllib.request.urlopen("https://example.com")

- item

  .. code-block:: python

     z = y * 10

.. code-block:: console

    $ literauth demo
"""


def test_extracts_python_blocks_in_order() -> None:
    blocks = python_blocks(SAMPLE)
    assert [b.source for b in blocks] == [
        "x = 1\nif x:\n    y = x + 1\n",
        'import urllib.request\nurllib.request.urlopen("https://example.com")\n',
        "z = y * 10\n",
    ]
    assert [b.skip for b in blocks] == [False, True, False]
    assert [b.line for b in blocks] == [6, 21, 28]


def test_runs_blocks_in_one_namespace_and_rebinds_names() -> None:
    namespace: dict[str, Any] = {}
    ran = run_blocks(python_blocks(SAMPLE), namespace, {"server": "bound"}, "SAMPLE.rst")
    assert ran == 2
    assert namespace["z"] == 20 and namespace["server"] == "bound"


def test_a_failing_block_names_its_line() -> None:
    text = "Intro\n\n.. code-block:: python\n\n    a = 1\n    assert a == 2, 'wrong'\n"
    with pytest.raises(pytest.fail.Exception) as caught:
        run_blocks(python_blocks(text), {}, {}, "BROKEN.rst")
    message = str(caught.value)
    assert "BROKEN.rst:5" in message
    assert 'File "BROKEN.rst", line 6' in message and "wrong" in message


def test_no_blocks_is_fine() -> None:
    assert python_blocks("Just text.\n\n::\n\n    literal, not python\n") == []
