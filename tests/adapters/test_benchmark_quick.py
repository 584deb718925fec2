"""`benchmarks/adapters_azure_google.py --quick` runs, and each adapter's stampede costs one token request.

Counts are deterministic, so they are asserted; the times are only reported.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow  # about 15 s


def test_quick_run_reports_one_token_request_per_adapter_stampede() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "adapters_azure_google.py"), "--quick", "--json"],
        check=False, capture_output=True, text=True, timeout=300, cwd=ROOT, env=dict(os.environ),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(done.stdout)
    counts = {row["credential"]: row["stampede_token_requests"] for row in rows}
    assert counts["GoogleCredentials(literauth)"] == 1
    assert counts["AzureTokenCredential(literauth)"] == 1
    assert counts["service_account.Credentials"] >= 1 and counts["ClientSecretCredential"] >= 1
    assert all(row["auth_step_us"] > 0 and row["full_call_us"] > 0 for row in rows)
