"""The sdist is a complete, testable source tree; the wheel is the package and nothing else.

Builds both with `python -m build` (the wheel from the sdist, as pip does) from a copy of
this tree, lists them, reads their metadata, then unpacks the sdist and runs one test file
inside it (those are `slow`). Offline when setuptools and wheel are installed here (the
`test` extra has them): the build then runs with `--no-isolation`. README's install and
test commands are checked against setup.cfg and `.ci/run` as well.
"""

from __future__ import annotations

import configparser
import email.parser
import importlib.metadata
import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Not part of a source tree: virtualenvs, caches and earlier build output.
JUNK = (".git", ".venv", ".tox", "build", "dist", "*.egg-info", "__pycache__", "*.py[cod]", ".mypy_cache",
        ".ruff_cache", ".pytest_cache", ".hypothesis", ".benchmarks", "results")
TOP_LEVEL = ["LICENSE", "SECURITY.md", "README.rst", "tox.ini", "pyproject.toml", "setup.cfg", "setup.py",
             "MANIFEST.in", ".ci/run", "literauth/py.typed"]
TEST_HELPERS = ["tests/__init__.py", "tests/conftest.py", "tests/_engine_helpers.py", "tests/_api_server.py",
                "tests/_moto.py", "tests/_wsgi_app.py"]
URLS = ["Repository", "Issues", "Security policy", "Changelog"]


def _setuptools_major() -> int:
    try:
        return int(importlib.metadata.version("setuptools").split(".")[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return 0


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[pathlib.Path, pathlib.Path, str]]:
    """(the sdist, the wheel, what the build printed)."""
    if importlib.util.find_spec("build") is None:
        pytest.skip('needs the build package: pip install -e ".[test]"')
    work = tmp_path_factory.mktemp("packaging")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*JUNK))  # leaves this tree untouched
    offline = _setuptools_major() >= 64 and importlib.util.find_spec("wheel") is not None
    command = [sys.executable, "-m", "build", "--outdir", str(work / "dist"), str(source)]
    if offline:
        command.insert(3, "--no-isolation")
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False, stdin=subprocess.DEVNULL)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    (sdist,) = (work / "dist").glob("literauth-*.tar.gz")
    (wheel,) = (work / "dist").glob("literauth-*.whl")
    yield sdist, wheel, output


def _sdist_names(sdist: pathlib.Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(sdist) as archive:
        return {m.name.split("/", 1)[1]: m for m in archive.getmembers() if "/" in m.name}


def _source_files(folder: str, *patterns: str) -> list[str]:
    files = {p for pattern in patterns for p in (ROOT / folder).rglob(pattern) if "__pycache__" not in p.parts}
    return sorted(p.relative_to(ROOT).as_posix() for p in files if p.is_file())


@pytest.mark.slow
def test_the_sdist_carries_the_license_docs_tests_examples_benchmarks_and_ci(
    built: tuple[pathlib.Path, pathlib.Path, str],
) -> None:
    names = _sdist_names(built[0])
    tests = _source_files("tests", "*.py")
    assert set(TEST_HELPERS) <= set(tests)
    assert {"tests/azure/__init__.py", "tests/cli/__init__.py", "tests/integrations/__init__.py"} <= set(tests)
    wanted = TOP_LEVEL + tests + _source_files("examples", "*.py", "*.toml") + _source_files("benchmarks", "*.py")
    assert [name for name in wanted if name not in names] == []
    assert names[".ci/run"].mode & 0o100, "the CI script stays executable"
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


@pytest.mark.slow
def test_the_wheel_is_the_package_with_its_types_and_entry_points(
    built: tuple[pathlib.Path, pathlib.Path, str],
) -> None:
    with zipfile.ZipFile(built[1]) as archive:
        names = archive.namelist()
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entries = archive.read(entry_points).decode()
    assert "literauth/py.typed" in names
    assert not [n for n in names if n.split("/")[0] in {"tests", "benchmarks", "examples"}]
    assert {n.split("/")[0] for n in names} <= {"literauth", next(n for n in names if ".dist-info/" in n).split("/")[0]}
    assert any(n.endswith((".dist-info/licenses/LICENSE", ".dist-info/LICENSE")) for n in names)
    assert "[console_scripts]\nliterauth = literauth.cli:main" in entries
    assert "[pytest11]\nliterauth = literauth.testing.pytest_plugin" in entries


@pytest.mark.slow
def test_the_metadata_names_the_license_author_urls_and_extras(built: tuple[pathlib.Path, pathlib.Path, str]) -> None:
    _sdist, wheel, output = built
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = email.parser.Parser().parsestr(archive.read(name).decode())
    assert "License classifiers are deprecated" not in output
    assert metadata["License"] == "MIT" or metadata["License-Expression"] == "MIT"
    assert "LICENSE" in metadata.get_all("License-File", [])
    assert not [c for c in metadata.get_all("Classifier", []) if c.startswith("License ::")]
    assert metadata["Author"]
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL", []))
    assert sorted(urls) == sorted(URLS) and all(u.startswith("https://") for u in urls.values())
    assert {"all", "examples", "test", "vertex-auth"} <= set(metadata.get_all("Provides-Extra", []))
    examples = [r for r in metadata.get_all("Requires-Dist", []) if "extra == \"examples\"" in r]
    assert any(r.startswith("flask") for r in examples) and any(r.startswith("openai") for r in examples)


@pytest.mark.slow
def test_the_sdist_tests_collect_and_run(
    built: tuple[pathlib.Path, pathlib.Path, str], tmp_path: pathlib.Path
) -> None:
    with tarfile.open(built[0]) as archive:
        if hasattr(tarfile, "data_filter"):  # 3.10.12+, 3.11.4+: no DeprecationWarning on 3.12+
            archive.extractall(tmp_path, filter="data")
        else:
            archive.extractall(tmp_path)
    (tree,) = tmp_path.glob("literauth-*")
    env = {**os.environ, "PYTHONPATH": str(tree)}

    def pytest_in_sdist(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", *args],
            cwd=tree, env=env, capture_output=True, text=True, timeout=600, check=False, stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
        return done.stdout

    # test_engine imports the helpers (conftest, _engine_helpers) the way every other file does
    ran = pytest_in_sdist("-q", "-x", "tests/test_public_api.py", "tests/test_engine.py")
    assert re.search(r"^\d+ passed in ", ran, re.MULTILINE), ran[-2000:]
    # and every test module of every subpackage imports: the whole suite collects
    collected = pytest_in_sdist("-q", "--collect-only")
    summary = collected.strip().splitlines()[-1]
    assert re.fullmatch(r"\d+ tests collected in .*", summary), summary
    assert int(summary.split()[0]) >= 1000


# -- README, setup.cfg and .ci/run agree (fast) ---------------------------------------------------


def _readme() -> str:
    return (ROOT / "README.rst").read_text(encoding="utf-8")


def test_ci_runs_exactly_the_readme_test_command() -> None:
    section = _readme().split("\nRun the tests\n", 1)[1]
    command = next(line.strip() for line in section.splitlines() if line.startswith("    python -m pip"))
    assert command == 'python -m pip install -e ".[test]" && python -m pytest'
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert command in ci.replace(" || status=$?", "")
    assert "status\" -eq 5" in ci and "python --version" in ci


def test_readme_lists_every_extra_and_installs_from_a_checkout() -> None:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    readme = _readme()
    assert 'python -m pip install -e ".[test]"' in readme
    assert 'python -m pip install "literauth[examples]"' in readme
    for extra in config["options.extras_require"]:
        assert f"\n``{extra}``" in readme, f"README's extras table misses {extra}"
