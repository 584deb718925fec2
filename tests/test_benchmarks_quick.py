"""`benchmarks/run.py --quick` runs and literauth's count-based targets hold for all three providers.

Counts (token requests in a stampede, errors and requests in an outage) are deterministic,
so they are asserted; times are only reported by the benchmark and never checked here.
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "run.py"
PROVIDERS = ("literauth-azure", "literauth-sts", "literauth-vertex")

pytest.importorskip("cryptography")  # the HTTPS identity provider and the Vertex provider need it
pytest.importorskip("jwt")

pytestmark = pytest.mark.slow  # the module fixture runs the benchmark for about 20 s


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict]:
    output = tmp_path_factory.mktemp("bench") / "quick.json"
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick", "--output", str(output)],
        check=False, capture_output=True, text=True, timeout=120, cwd=ROOT, env=dict(os.environ),
    )
    document = json.loads(output.read_text()) if output.exists() else {}
    return done, document


def test_quick_run_exits_zero(quick: tuple[subprocess.CompletedProcess[str], dict]) -> None:
    done, _ = quick
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| credential | library |" in done.stdout  # the markdown table went to stdout


def test_quick_run_is_literauth_only_and_records_the_machine(
    quick: tuple[subprocess.CompletedProcess[str], dict],
) -> None:
    _, document = quick
    assert sorted(document["results"]) == sorted(PROVIDERS)
    meta = document["meta"]
    assert meta["mode"] == "quick"
    assert meta["cpu_count"] == os.cpu_count()
    assert meta["versions"]["literauth"]
    assert meta["python"].endswith(platform.python_version())


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stampedes_make_exactly_one_request(
    quick: tuple[subprocess.CompletedProcess[str], dict], provider: str
) -> None:
    results = quick[1]["results"][provider]
    for scenario in ("stampede_expired", "stampede_stale"):
        entry = results[scenario]
        assert "error" not in entry, entry
        assert entry["requests"] == 1, (scenario, entry)
        assert entry["errors"] == 0, (scenario, entry)
        assert entry["stuck"] == 0, (scenario, entry)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_outage_serves_the_valid_token_with_few_requests(
    quick: tuple[subprocess.CompletedProcess[str], dict], provider: str
) -> None:
    entry = quick[1]["results"][provider]["outage"]
    assert "error" not in entry, entry
    assert entry["calls"] > 0
    assert entry["errors"] == 0, entry
    assert 1 <= entry["requests"] <= 3, entry  # at least one refresh was attempted, then it backed off
    assert entry["always_valid"] is True


def test_asserted_targets_are_the_count_based_ones(quick: tuple[subprocess.CompletedProcess[str], dict]) -> None:
    targets = quick[1]["targets"]
    asserted = {(t["library"], t["scenario"]) for t in targets if t["asserted"]}
    expected = {(p, s) for p in PROVIDERS for s in ("stampede_expired", "stampede_stale", "outage")}
    assert asserted == expected
    assert all(t["met"] for t in targets if t["asserted"])


def test_a_second_request_in_a_stampede_fails_the_run() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from _report import check_targets
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    good = {"requests": 1, "errors": 0, "stuck": 0, "waited": 0, "max_ms": 1.0}
    results = {
        "literauth-azure": {
            "stampede_expired": dict(good, requests=2),
            "stampede_stale": good,
            "outage": {"errors": 0, "requests": 4, "always_valid": True, "stuck": 0},
        }
    }
    failed = {t["scenario"] for t in check_targets(results, ["literauth-azure"]) if t["asserted"] and not t["met"]}
    assert failed == {"stampede_expired", "outage"}


def test_azure_sources_benchmark_runs_quick() -> None:
    """`benchmarks/azure_sources.py --quick` runs; the chain decides off Azure (refused and black hole)."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "azure_sources.py"), "--quick"],
        check=False, capture_output=True, text=True, timeout=120, cwd=ROOT, env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr
    assert "refused" in done.stdout and "black hole" in done.stdout and "client certificate" in done.stdout
