"""Benchmark literauth against google-auth, botocore and azure-identity, side by side.

    python benchmarks/run.py            # every library, every scenario (a few minutes)
    python benchmarks/run.py --quick    # literauth only, briefly; exit 1 if a count target fails

The identity provider (`literauth.testing.FakeIdentityServer` over HTTPS) runs in its own
process; every library runs every scenario in a fresh interpreter with a time bound. A
markdown table goes to stdout and the full results, with versions and machine, to a JSON
file (``benchmarks/results/`` unless ``--output`` says otherwise). Count-based targets
(stampede, outage) decide the exit status; time-based ones are reported only.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _idp import Control, IdpProcess
from _peers import LIBRARIES, LITERAUTH
from _report import check_targets, render

from literauth.credentials import UTC

SCENARIO_ORDER = (
    "import", "cache_hit", "scaling", "refresh_cost",
    "stampede_expired", "stampede_stale", "stall", "outage",
)
FULL: dict[str, dict[str, Any]] = {
    # interleave: rounds per library, alternating libraries; discard: unmeasured warm-up rounds.
    "import": {"interleave": 11, "discard": 1},
    "cache_hit": {"interleave": 3, "batches": 5, "batch_s": 0.05},
    "scaling": {"threads": 8, "duration": 0.15, "rounds": 11},
    "refresh_cost": {"interleave": 3, "iterations": 25},
    "stampede_expired": {"threads": 32, "latency": 0.1},
    "stampede_stale": {"threads": 32, "latency": 0.1},
    "stall": {"threads": 8, "duration": 2.0, "latency": 0.3, "pause": 0.001},
    "outage": {"threads": 4, "duration": 4.0, "pause": 0.001},
}
QUICK: dict[str, dict[str, Any]] = {
    "import": {"interleave": 2},
    "cache_hit": {"batches": 3, "batch_s": 0.02},
    "scaling": {"threads": 8, "duration": 0.2, "rounds": 1},
    "refresh_cost": {"iterations": 3},
    "stampede_expired": {"threads": 32, "latency": 0.1},
    "stampede_stale": {"threads": 32, "latency": 0.1},
    "stall": {"threads": 8, "duration": 0.5, "latency": 0.3, "pause": 0.001},
    "outage": {"threads": 4, "duration": 2.0, "pause": 0.001},
}
TIME_BOUND = 60.0  # seconds a scenario may take on top of its nominal duration
DISTRIBUTIONS = (
    "literauth", "azure-identity", "msal", "azure-core", "botocore", "google-auth",
    "requests", "urllib3", "cryptography", "PyJWT", "readerwriterlock",
)
# Variables that would point a library elsewhere than the local identity provider or its CA.
_ENV_PREFIXES = ("AWS_", "AZURE_", "GOOGLE_", "CLOUDSDK_", "MSAL_", "IDENTITY_", "MSI_")
_ENV_NAMES = {"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR"}


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _clean_env() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith(_ENV_PREFIXES)
        and key.upper() not in _ENV_NAMES
        and not key.lower().endswith("_proxy")
    }
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def _run_one(
    library: str, scenario: str, params: Any, info_path: str, env: dict[str, str], bound: float
) -> dict[str, Any]:
    """One fresh interpreter for one library and scenario; its JSON line, or an error record."""
    command = [sys.executable, os.path.join(HERE, "_runner.py"), library, scenario, params, info_path]
    try:
        done = subprocess.run(command, check=False, capture_output=True, env=env, timeout=bound, text=True)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {bound:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = " | ".join(done.stderr.strip().splitlines()[-6:])
        return {"error": f"exit {done.returncode}: {tail[-900:]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _merge(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from several rounds: the median of every number, the rest from the first round."""
    errors = [r for r in rounds if "error" in r]
    if errors:
        return errors[0]
    if len(rounds) == 1:
        return rounds[0]
    merged = dict(rounds[0])
    for key, value in rounds[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            merged[key] = _median([r[key] for r in rounds])
            if key.endswith("_ms") or key.startswith("ns_"):
                merged[f"{key}_rounds"] = [round(r[key], 4) for r in rounds]
    merged["rounds"] = len(rounds)
    return merged


def _bound(params: dict[str, Any]) -> float:
    return TIME_BOUND + float(params.get("duration", 0.0)) * 2 * int(params.get("rounds", 1))


def _one_round(
    library: str, scenario: str, params: dict[str, Any], info_path: str, env: dict[str, str]
) -> dict[str, Any]:
    if scenario != "import":
        return _run_one(library, scenario, json.dumps(params), info_path, env, _bound(params))
    modules = ",".join(LIBRARIES[library].modules)
    result = _run_one(library, "import", modules, info_path, env, TIME_BOUND)
    if "error" not in result:
        result["cold_start_ms"] = result["import_ms"] + result["first_token_ms"]
    return result


def _result_options(argv: list[str] | None) -> list[str]:
    """The command-line options that shape the results (not where they are written)."""
    given, kept = list(sys.argv[1:] if argv is None else argv), []
    while given:
        option = given.pop(0)
        if option in ("--output", "--rst"):
            given = given[1:]
        elif not option.startswith(("--output=", "--rst=")):
            kept.append(option)
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="literauth only, short runs (CI)")
    parser.add_argument("--libraries", help=f"comma-separated subset of: {', '.join(LIBRARIES)}")
    parser.add_argument("--scenarios", help=f"comma-separated subset of: {', '.join(SCENARIO_ORDER)}")
    parser.add_argument("--output", help="JSON results file (default: benchmarks/results/<time>.json)")
    parser.add_argument("--rst", help="also write the tables as reStructuredText to this file")
    parser.add_argument("--render", metavar="JSON", help="print (and --rst) the tables of an earlier run; run nothing")
    args = parser.parse_args(argv)
    if args.render:
        with open(args.render, encoding="utf-8") as handle:
            earlier = json.load(handle)
        print(render(earlier, "markdown"))
        if args.rst:
            with open(args.rst, "w", encoding="utf-8") as handle:
                handle.write(render(earlier, "rst"))
        return 0

    profile = QUICK if args.quick else FULL
    wanted = args.libraries.split(",") if args.libraries else list(LITERAUTH if args.quick else LIBRARIES)
    unknown = [name for name in wanted if name not in LIBRARIES]
    scenarios = args.scenarios.split(",") if args.scenarios else list(SCENARIO_ORDER)
    unknown += [name for name in scenarios if name not in profile]
    if unknown:
        parser.error(f"unknown library or scenario: {', '.join(unknown)}")
    versions = {name: _version(name) for name in DISTRIBUTIONS}
    skipped = [name for name in wanted if versions.get(LIBRARIES[name].distribution) is None]
    libraries = [name for name in wanted if name not in skipped]
    for name in skipped:
        print(f"skipping {name}: {LIBRARIES[name].distribution} is not installed", file=sys.stderr)

    started = time.time()
    meta: dict[str, Any] = {
        "started": datetime.datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", "benchmarks/run.py", *_result_options(argv)]),
        "mode": "quick" if args.quick else "full",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "versions": versions,
        "params": {name: profile[name] for name in scenarios},
        "skipped": skipped,
    }
    results: dict[str, dict[str, Any]] = {name: {} for name in libraries}
    env = _clean_env()
    total = len(libraries) * sum(
        profile[name].get("interleave", 1) + profile[name].get("discard", 0) for name in scenarios
    )
    with tempfile.TemporaryDirectory(prefix="literauth-bench-") as workdir, IdpProcess(workdir) as idp:
        control = Control(idp.info.control)
        step = 0
        for scenario in scenarios:
            params = profile[scenario]
            rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in libraries}
            # Rounds interleave the libraries, and each scenario runs for all of them before
            # the next starts, so drift on a shared machine hits every library alike.
            for index in range(params.get("interleave", 1) + params.get("discard", 0)):
                for library in libraries:
                    step += 1
                    tick = time.monotonic()
                    control.reset()
                    result = _one_round(library, scenario, params, idp.info_path, env)
                    if index >= params.get("discard", 0):
                        rounds[library].append(result)
                    print(
                        f"[{step:>3}/{total}] {scenario:<16} {library:<24} {time.monotonic() - tick:5.1f} s  "
                        f"{result.get('error', 'ok')}",
                        file=sys.stderr, flush=True,
                    )
            for library in libraries:
                results[library][scenario] = _merge(rounds[library])
    meta["seconds"] = round(time.time() - started, 1)
    targets = check_targets(results, libraries)
    document = {"meta": meta, "results": results, "targets": targets}
    print(render(document, "markdown"))

    output = args.output or os.path.join(
        HERE, "results", f"{'quick' if args.quick else 'bench'}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    )
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2)
    print(f"results written to {output}", file=sys.stderr)
    if args.rst:
        with open(args.rst, "w", encoding="utf-8") as handle:
            handle.write(render(document, "rst"))

    failed = [t for t in targets if t["asserted"] and not t["met"]]
    for target in failed:
        print(f"FAILED: {target['library']}: {target['target']} (measured {target['measured']})", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
