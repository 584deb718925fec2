"""`literauth demo`: it exits 0 only when its claims hold, and its counts match the server's."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from literauth import cli
from literauth._registry import SPECS
from literauth.cli import _demo
from literauth.testing import FakeIdentityServer

pytest.importorskip("cryptography")
pytest.importorskip("jwt")

SMALL = _demo.DemoSettings(threads=4, calls_per_step=4)
# the demo runs every provider with a fake whose from_env() uses no other provider's fake
DEMO_SPECS = [spec for spec in SPECS if spec.fake is not None and spec.standalone]
CLAIMS = 7  # what the demo checks per provider
ROW = re.compile(
    r"^(?P<name>\S+)\s+(?P<calls>\d+)\s+(?P<failed>\d+)\s+(?P<requests>\d+)\s+(?P<refused>\d+)\s+"
    r"(?P<tokens>\d+)\s+"
    r"(?P<hits>[\d.]+)%\s+(?P<p50>[\d.]+) us\s+(?P<p99>[\d.]+) us$",
    re.MULTILINE,
)
SERVER_LINE = re.compile(r"^  (?P<name>\S+)\s+(?P<seen>\d+) requests = (?P<issued>\d+) tokens issued \+ "
                         r"(?P<refused>\d+) refused$", re.MULTILINE)


@pytest.fixture
def demo_server() -> Iterator[FakeIdentityServer]:
    with FakeIdentityServer() as server:
        yield server


def test_counts_match_the_servers_counters(demo_server: FakeIdentityServer) -> None:
    report = _demo.run_demo(SMALL, server=demo_server)
    assert report.ok, report.text
    by_name = {p.name: p for p in report.providers}
    assert set(by_name) == {spec.name for spec in DEMO_SPECS}
    azure, sts, vertex = by_name["azure.client_secret"], by_name["aws.web_identity"], by_name["google.service_account"]
    assert azure.server_requests == demo_server.azure.request_count
    assert sts.server_requests == demo_server.sts.request_count
    assert vertex.server_requests == demo_server.google.request_count
    assert len(demo_server.sts.issued_credentials) == sts.tokens_served == sts.issued
    assert len(demo_server.google.issued_tokens) == vertex.tokens_served == vertex.issued
    assert demo_server.azure.request_count - azure.refused == azure.tokens_served
    for p in report.providers:
        # an hour of 15-minute tokens refreshed 5 minutes early: an initial fetch and 5 or 6 refreshes
        assert 5 <= p.tokens_served <= 8
        assert p.calls == SMALL.threads * SMALL.calls_per_step * (int(SMALL.duration // SMALL.step) + 2)
        assert p.failed == 0 and p.outage_calls > 0 and p.refused == 3 * p.failed_refreshes > 0
        assert p.resolves - p.cache_hits == 1  # only the very first call waited, on every run


def test_printed_numbers_are_the_measured_ones(demo_server: FakeIdentityServer) -> None:
    report = _demo.run_demo(SMALL, server=demo_server)
    text = report.text
    rows = {m["name"]: m for m in ROW.finditer(text)}
    server_lines = {m["name"]: m for m in SERVER_LINE.finditer(text)}
    counters = {spec.name: demo_server.endpoint(spec.name) for spec in DEMO_SPECS}
    assert set(rows) == set(server_lines) == set(counters)
    for name, endpoint in counters.items():
        row, line = rows[name], server_lines[name]
        assert int(line["seen"]) == endpoint.credential_request_count
        assert int(line["issued"]) + int(line["refused"]) == endpoint.credential_request_count
        assert int(row["requests"]) == endpoint.credential_request_count
        assert int(row["refused"]) == int(line["refused"]) > 0
        assert int(row["tokens"]) == int(line["issued"])
        assert int(row["failed"]) == 0
    assert text.count("[ok]") == CLAIMS * len(DEMO_SPECS) and "[FAILED]" not in text
    assert text.rstrip().splitlines()[-1].startswith(f"All {CLAIMS * len(DEMO_SPECS)} claims held")


def test_a_claim_that_does_not_hold_fails_the_demo(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # An outage lasting past the cached token's expiry: calls must fail, and the demo must say so.
    monkeypatch.setattr(_demo, "HourSettings", functools.partial(_demo.HourSettings, outage_length=400.0))
    assert cli.main(["--quiet", "demo", "--threads", "2"]) == 1
    out = capsys.readouterr().out
    assert "[FAILED]" in out and "did NOT hold" in out
    assert re.search(r"\[FAILED\] azure.client_secret: no failed call while a valid token existed: [1-9]\d* of", out)


def test_demo_over_https(demo_server: FakeIdentityServer) -> None:
    report = _demo.run_demo(_demo.DemoSettings(threads=2, calls_per_step=2, https=True))
    assert report.ok, report.text
    assert report.url.startswith("https://127.0.0.1:")


def test_demo_command_exits_0_quickly_and_agrees_with_itself() -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "literauth", "demo"],
        check=False, capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    assert elapsed < 20
    rows = {m["name"]: m for m in ROW.finditer(done.stdout)}
    server_lines = {m["name"]: m for m in SERVER_LINE.finditer(done.stdout)}
    assert set(rows) == set(server_lines) == {spec.name for spec in DEMO_SPECS}
    for name, row in rows.items():
        line = server_lines[name]
        assert int(row["requests"]) == int(line["seen"]) == int(line["issued"]) + int(line["refused"])
        assert int(row["tokens"]) == int(line["issued"]) and int(row["refused"]) == int(line["refused"])
        assert int(row["failed"]) == 0 and int(row["calls"]) > 10_000
    assert f"All {CLAIMS * len(DEMO_SPECS)} claims held" in done.stdout
    assert "simulating minute" in done.stderr  # progress on stderr, as plain lines without a TTY
    assert "Traceback" not in done.stderr


_VARYING = re.compile(r"\d+\.\d us|\(\d+\.\d s\)|127\.0\.0\.1:\d+")  # latencies, real time, the port


def test_the_printed_report_is_the_same_on_every_run() -> None:
    first, second = (_demo.run_demo(SMALL).text for _ in range(2))
    assert _VARYING.sub("#", first) == _VARYING.sub("#", second)
    assert "39:30-43:00" in first  # the outage window lies on the step grid
    assert "refreshed at 43:30, 1.5 min before it expired" in first


def _python(code: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ))


_WITHOUT_CRYPTOGRAPHY = (
    "import sys; sys.modules['cryptography'] = None; sys.modules['jwt'] = None; "
    "from literauth.cli import main; sys.exit(main({argv!r}))"
)


def test_demo_without_cryptography_runs_the_others() -> None:
    done = _python(_WITHOUT_CRYPTOGRAPHY.format(argv=["demo", "--threads", "2"]))
    assert done.returncode == 0, done.stdout + done.stderr
    skipped = [line for line in done.stderr.splitlines() if "skipped" in line]
    line = "literauth: demo: skipped {}: needs cryptography, pyjwt: pip install 'literauth[{}]'"
    expected = [line.format("azure.client_certificate", "azure-auth"),
                line.format("google.service_account", "vertex-auth")]
    assert skipped == expected
    assert f"All {CLAIMS * (len(DEMO_SPECS) - 2)} claims held" in done.stdout
    assert "google.service_account" not in done.stdout and "client_certificate" not in done.stdout


def test_demo_ignores_proxy_variables() -> None:
    """A machine with HTTP(S)_PROXY and no NO_PROXY: loopback traffic must never go to the proxy."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "http_proxy", "https_proxy", "all_proxy")}
    env.update(HTTP_PROXY="http://127.0.0.1:1", HTTPS_PROXY="http://127.0.0.1:1",
               http_proxy="http://127.0.0.1:1", https_proxy="http://127.0.0.1:1")
    done = subprocess.run([sys.executable, "-m", "literauth", "demo", "--threads", "2"], check=False,
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"All {CLAIMS * len(DEMO_SPECS)} claims held" in done.stdout and "[FAILED]" not in done.stdout


def test_demo_https_without_cryptography_names_the_package() -> None:
    done = _python(_WITHOUT_CRYPTOGRAPHY.format(argv=["demo", "--https"]))
    assert done.returncode == 1
    assert "demo --https needs the cryptography package: pip install cryptography" in done.stderr
    assert "unexpected" not in done.stderr and "Traceback" not in done.stderr


_README = Path(__file__).resolve().parents[2] / "README.rst"
_README_VARYING = re.compile(r" *\d+\.\d us|\(\d+\.\d s\)|127\.0\.0\.1:\d+")  # latencies (and their padding), time, port


def _readme_demo_sample() -> str:
    """The demo's output as the README shows it: the first text block of its demo section."""
    text = _README.read_text(encoding="utf-8")
    section = text[text.index("``literauth demo``: the main job"):]
    block = section[section.index(".. code-block:: text\n\n") + len(".. code-block:: text\n\n"):]
    lines = []
    for line in block.splitlines():
        if line and not line.startswith("    "):
            break
        lines.append(line[4:])
    return "\n".join(lines).rstrip("\n") + "\n"


def test_the_readme_shows_the_demos_real_output(capsys: pytest.CaptureFixture[str]) -> None:
    """Finding #27: the sample is the program's output, byte for byte but for what varies."""
    assert cli.main(["--quiet", "demo"]) == 0
    out = capsys.readouterr().out
    assert _README_VARYING.sub("#", _readme_demo_sample()) == _README_VARYING.sub("#", out)
