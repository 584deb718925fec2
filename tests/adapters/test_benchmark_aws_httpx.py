"""`benchmarks/adapters_aws_httpx.py --quick` runs, and its stampede counts hold (times are only reported)."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_quick_run_reports_one_token_request_per_stampede(tmp_path: pathlib.Path) -> None:
    output = tmp_path / "adapters.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "adapters_aws_httpx.py"), "--quick", "--output", str(output)],
        capture_output=True, text=True, timeout=300, cwd=ROOT, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(output.read_text())
    assert results["stampede"] == {
        "boto3 (boto3_session)": 1, "AnthropicBedrock (httpx2 + SigV4Auth)": 1, "openai (httpx2 + BearerAuth)": 1,
    }
    assert set(results["httpx"]) == {"httpx", "httpx2"}
    assert "| boto3 `converse`, per call (µs) |" in done.stdout
