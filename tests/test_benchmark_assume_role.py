"""`benchmarks/aws_assume_role.py` runs: literauth and botocore both refresh against the same fake.

Only that it runs and measures both is checked here; times are reported by the benchmark.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "aws_assume_role.py"

pytestmark = pytest.mark.slow  # two interpreters, botocore's import


def test_the_benchmark_measures_both_libraries() -> None:
    pytest.importorskip("botocore")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--iterations", "3", "--rounds", "1", "--json"],
        check=False, capture_output=True, text=True, timeout=120, env=env, cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout)
    assert set(results) == {"literauth", "botocore", "literauth web identity"}
    for row in results.values():
        assert row["refreshes"] == 3 and row["cpu_ms_median"] > 0 and row["wall_ms_median"] > 0
