"""Targets and tables: what the issue asks of literauth, and the results as markdown or RST.

Ratios are against the best peer for the same kind of credential, because absolute times
on a shared machine drift while ratios from one run mostly do not.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from _peers import LIBRARIES

IMPORT_MS = 60.0  # import target: at most this...
IMPORT_RATIO = 0.4  # ...and at most this fraction of the fastest peer
SCALING = 0.9  # 8-thread cache-hit throughput at least this fraction of 1-thread
STALL_P99_MS, STALL_MAX_MS = 1.0, 20.0
OUTAGE_REQUESTS = 3

Results = dict[str, dict[str, Any]]


def _get(results: Results, library: str, scenario: str, field: str) -> Any:
    value = results.get(library, {}).get(scenario, {}).get(field)
    return None if isinstance(value, float) and math.isnan(value) else value


def _peers(results: Results, library: str) -> list[str]:
    group = LIBRARIES[library].credential
    return [name for name in results if LIBRARIES[name].credential == group and not LIBRARIES[name].literauth]


def _best(results: Results, library: str, scenario: str, field: str, pick: Callable[..., Any] = min) -> Any:
    values = [_get(results, peer, scenario, field) for peer in _peers(results, library)]
    values = [v for v in values if v is not None]
    return pick(values) if values else None


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value}{unit}"
    magnitude = abs(value)
    text = f"{value:.0f}" if magnitude >= 100 else f"{value:.1f}" if magnitude >= 10 else f"{value:.2f}"
    return f"{text}{unit}"


# -- targets ---------------------------------------------------------------------------------------


def check_targets(results: Results, libraries: list[str]) -> list[dict[str, Any]]:
    """Every target of the issue for every literauth provider run; `asserted` ones decide CI."""
    targets: list[dict[str, Any]] = []

    def add(library: str, scenario: str, target: str, measured: str, met: bool | None, asserted: bool) -> None:
        if scenario not in results[library]:
            return
        if "error" in results[library][scenario]:
            measured, met = results[library][scenario]["error"][:200], False
        targets.append({
            "library": library, "scenario": scenario, "target": target,
            "measured": measured, "met": met, "asserted": asserted,
        })

    for lib in (name for name in libraries if LIBRARIES[name].literauth):
        def get(scenario: str, field: str, lib: str = lib) -> Any:
            return _get(results, lib, scenario, field)

        def best(scenario: str, field: str, pick: Callable[..., Any] = min, lib: str = lib) -> Any:
            return _best(results, lib, scenario, field, pick)

        imp, peer_imp = get("import", "import_ms"), best("import", "import_ms")
        add(lib, "import", f"≤ {IMPORT_MS:.0f} ms", _fmt(imp, " ms"), imp is not None and imp <= IMPORT_MS, False)
        if peer_imp:
            add(lib, "import", f"≤ {IMPORT_RATIO}× fastest peer", f"{imp / peer_imp:.2f}×" if imp else "—",
                imp is not None and imp <= IMPORT_RATIO * peer_imp, False)
        hit, peer_hit = get("cache_hit", "ns_median"), best("cache_hit", "ns_median")
        add(lib, "cache_hit", "≤ fastest peer", f"{_fmt(hit, ' ns')} vs {_fmt(peer_hit, ' ns')}",
            None if peer_hit is None or hit is None else hit <= peer_hit, False)
        ratio = get("scaling", "ratio")
        add(lib, "scaling", f"≥ {SCALING}", _fmt(ratio), ratio is not None and ratio >= SCALING, False)

        for scenario in ("stampede_expired", "stampede_stale"):
            requests, errors, stuck = get(scenario, "requests"), get(scenario, "errors"), get(scenario, "stuck")
            add(lib, scenario, "exactly 1 request, no errors",
                f"{requests} requests, {errors} errors, {stuck} stuck",
                requests == 1 and errors == 0 and stuck == 0, True)
        waited = get("stampede_stale", "waited")
        add(lib, "stampede_stale", "no caller waits",
            f"{waited} waited, max {_fmt(get('stampede_stale', 'max_ms'), ' ms')}", waited == 0, False)

        p99, high, waiting = get("stall", "p99_ms"), get("stall", "max_ms"), get("stall", "waited_callers")
        add(lib, "stall", f"p99 < {STALL_P99_MS:.0f} ms, max < {STALL_MAX_MS:.0f} ms, 0 callers waited",
            f"p99 {_fmt(p99, ' ms')}, max {_fmt(high, ' ms')}, {waiting} waited",
            p99 is not None and high is not None and p99 < STALL_P99_MS and high < STALL_MAX_MS and waiting == 0,
            False)

        errors, requests = get("outage", "errors"), get("outage", "requests")
        valid, stuck = get("outage", "always_valid"), get("outage", "stuck")
        add(lib, "outage", f"0 errors, ≤ {OUTAGE_REQUESTS} requests, always the valid token",
            f"{errors} errors, {requests} requests, valid token {_fmt(valid)}",
            errors == 0 and requests is not None and requests <= OUTAGE_REQUESTS and valid is True and stuck == 0,
            True)

        for field, what in (("wall_ms", "wall"), ("cpu_ms", "CPU")):
            mine, peer = get("refresh_cost", field), best("refresh_cost", field)
            add(lib, "refresh_cost", f"{what} ≤ fastest peer", f"{_fmt(mine, ' ms')} vs {_fmt(peer, ' ms')}",
                None if peer is None or mine is None else mine <= peer, False)
    return targets


# -- tables --------------------------------------------------------------------------------------


def _with_ratio(results: Results, library: str, scenario: str, field: str, unit: str = "") -> str:
    entry = results.get(library, {}).get(scenario)
    if entry is None:
        return "—"
    if "error" in entry:
        return "error"
    value = _get(results, library, scenario, field)
    best = _best(results, library, scenario, field)
    if value is None or not best:
        return _fmt(value, unit)
    return f"{_fmt(value, unit)} ({value / best:.2f}×)"


def _cell(results: Results, library: str, scenario: str, make: Callable[[dict[str, Any]], str]) -> str:
    entry = results.get(library, {}).get(scenario)
    if entry is None:
        return "—"
    if "error" in entry:
        return "error"
    text = make(entry)
    if entry.get("stuck"):
        text += f" · {entry['stuck']} stuck"
    return text


def _speed_rows(results: Results) -> list[list[str]]:
    rows = []
    for lib in results:
        cls = LIBRARIES[lib]
        rows.append([
            cls.credential,
            f"**{cls.label}**" if cls.literauth else cls.label,
            _with_ratio(results, lib, "import", "import_ms"),
            _with_ratio(results, lib, "import", "cold_start_ms"),
            _with_ratio(results, lib, "cache_hit", "ns_median"),
            _cell(results, lib, "scaling", lambda e: _fmt(e["ratio"])),
            _with_ratio(results, lib, "refresh_cost", "wall_ms"),
            _with_ratio(results, lib, "refresh_cost", "cpu_ms"),
        ])
    return rows


def _errors(entry: dict[str, Any]) -> str:
    return f" · {entry['errors']} errors" if entry.get("errors") else ""


def _stress_rows(results: Results) -> list[list[str]]:
    rows = []
    for lib in results:
        cls = LIBRARIES[lib]
        rows.append([
            cls.credential,
            f"**{cls.label}**" if cls.literauth else cls.label,
            _cell(results, lib, "stampede_expired",
                  lambda e: f"{e['requests']} · max {_fmt(e['max_ms'])} ms{_errors(e)}"),
            _cell(results, lib, "stampede_stale",
                  lambda e: f"{e['requests']} · {e['waited']}/{e['threads']} waited{_errors(e)}"),
            _cell(results, lib, "stall",
                  lambda e: f"{_fmt(e['p99_ms'])} · {_fmt(e['max_ms'])} · {e['waited_callers']}/{e['threads']}"
                  f"{_errors(e)}"),
            _cell(results, lib, "stall", lambda e: str(e["requests"])),
            _cell(results, lib, "outage",
                  lambda e: f"{e['errors']}/{e['calls']} · {e['requests']} · {_fmt(e['always_valid'])}"
                  f" · {_fmt(e['max_ms'])}"),
        ])
    return rows


SPEED_HEADERS = [
    "credential", "library", "import ms", "import + first token ms", "cache hit ns",
    "8 threads ÷ 1", "refresh wall ms", "refresh CPU ms",
]
STRESS_HEADERS = [
    "credential", "library", "stampede, expired: requests · slowest caller",
    "stampede, stale: requests · callers waited", "stall: p99 ms · max ms · callers waited",
    "stall: requests", "outage: errors/calls · requests · always valid token · slowest call ms",
]
TARGET_HEADERS = ["provider", "scenario", "target", "measured", "met"]


def _target_rows(targets: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for t in targets:
        met = "n/a" if t["met"] is None else ("yes" if t["met"] else "**NO**")
        rows.append([
            t["library"].removeprefix("literauth-"), t["scenario"],
            t["target"] + (" (asserted)" if t["asserted"] else ""), t["measured"], met,
        ])
    return rows


def _markdown(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _rst(headers: list[str], rows: list[list[str]]) -> str:
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [headers, *rows]:
        lines.append(f"   * - {row[0]}")
        lines += [f"     - {cell}" for cell in row[1:]]
    return "\n".join(lines)


def _load(meta: dict[str, Any]) -> str:
    load = meta.get("load_average")
    return "n/a" if not load else f"{load[0]:.1f}"


def _summary(meta: dict[str, Any]) -> list[str]:
    v = meta["versions"]
    names = [f"{name} {v[name]}" for name in ("literauth", "azure-identity", "botocore", "google-auth") if v.get(name)]
    under = [f"{name} {v[name]}" for name in ("msal", "azure-core", "requests", "cryptography") if v.get(name)]
    return [
        (
            f"{meta['python']} · {meta['platform']} · {meta['cpu_count']} CPUs · {meta['mode']} run in "
            f"{meta.get('seconds', '?')} s · load average {_load(meta)} at start · command: `{meta['command']}`"
        ),
        f"Versions: {', '.join(names)} (with {', '.join(under)}).",
    ]


def _stress_note(params: dict[str, Any]) -> str:
    notes = []
    if "stampede_expired" in params or "stampede_stale" in params:
        p = params.get("stampede_expired") or params["stampede_stale"]
        notes.append(
            f"Stampede: {p['threads']} threads released by a barrier, {p['latency'] * 1000:.0f} ms endpoint latency."
        )
    if "stall" in params:
        p = params["stall"]
        notes.append(
            f"Stall: {p['latency'] * 1000:.0f} ms endpoint latency, {p['threads']} threads calling for "
            f"{p['duration']:g} s; a caller waited if one call took > 50 ms."
        )
    if "outage" in params:
        p = params["outage"]
        notes.append(f"Outage: every token request answered 503, {p['threads']} threads for {p['duration']:g} s.")
    notes.append("Stall and outage start inside each library's refresh window.")
    return " ".join(notes)


def render(document: dict[str, Any], fmt: str) -> str:
    """The results as markdown (stdout) or reStructuredText (README)."""
    results, meta, targets = document["results"], document["meta"], document["targets"]
    table = _markdown if fmt == "markdown" else _rst

    def heading(text: str, mark: str) -> str:
        return f"### {text}" if fmt == "markdown" else f"{text}\n{mark * len(text)}"

    code = "`" if fmt == "markdown" else "``"
    parts = [line.replace("`", code) for line in _summary(meta)]
    parts += [
        heading("Speed", "~"),
        (
            "Ratios are against the fastest peer for the same credential (lower is better). "
            "Scaling is cache-hit throughput with 8 threads divided by that with 1 (higher is better)."
        ),
        table(SPEED_HEADERS, _speed_rows(results)),
        heading("Under stress", "~"),
        _stress_note(meta["params"]),
        table(STRESS_HEADERS, _stress_rows(results)),
    ]
    if targets and fmt == "markdown":  # the README shows the results; the targets are for the terminal
        parts += [heading("literauth targets", "~"), table(TARGET_HEADERS, _target_rows(targets))]
    errors = [
        f"- {lib} / {scenario}: {entry['error']}"
        for lib, scenarios in results.items()
        for scenario, entry in scenarios.items()
        if "error" in entry
    ]
    if errors:
        parts += ["Errors:", "\n".join(errors)]
    return "\n\n".join(parts) + "\n"
