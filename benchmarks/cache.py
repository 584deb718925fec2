"""Token caches across processes, against the peers that have none (google-auth, botocore, azure-identity).

    python benchmarks/cache.py            # K = 8 processes, 5 cold starts, 30 hard refreshes
    python benchmarks/cache.py --quick    # K = 3, 2, 5: a smoke run

Three measurements, on the identity provider of `run.py` (`_idp.py`, HTTPS, its own process)
and a redis-server on a free loopback port (skipped when the binary is missing):

- fleet: K fresh processes start at once and each asks for a token for the same identity;
  the identity provider counts the token requests. literauth with the process-wide
  `MemoryCache` (the default), a shared `FileCache` and a shared `RedisCache`, and each peer.
- cold start: one new process does import, build and first resolve; median over runs. With a
  warm `FileCache`/`RedisCache` the first resolve reads the cache instead of the network.
- hard refresh: `resolve(force_refresh=True)` in one process, median milliseconds, without a
  shared cache and with each store: what a cache costs on top of a token request.
- lease handover: how soon a waiter holds a released Redis lease, polling with backoff (what
  `RedisCache` does) against waiting for a keyspace notification of the lease's deletion.

A markdown table goes to stdout; `--output FILE` also writes the JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

_STARTED = time.perf_counter()
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# Each literauth adapter and the peer for the same kind of identity.
KINDS = {
    "azure": ("literauth-azure", "azure-identity"),
    "sts": ("literauth-sts", "botocore"),
    "google": ("literauth-vertex", "google-auth"),
}
STORES = ("memory", "file", "redis")
KEYED = {"sts"}  # web identity holds no secret of its own: shared stores need the user's key
USER_KEY = "benchmark-cache-key-of-at-least-32-bytes"


# -- one process -------------------------------------------------------------------------------


def _store(spec: dict[str, Any]) -> Any:
    from literauth.cache import FileCache, RedisCache

    if spec["kind"] == "none":
        return False
    if spec["kind"] == "file":
        return FileCache(spec["directory"], key=spec.get("key"))
    if spec["kind"] == "redis":
        return RedisCache(spec["url"], prefix=spec["prefix"], key=spec.get("key"))
    return None  # memory: the provider's default


def child(library: str, store: str, info_path: str) -> None:
    """`--child`: build `library`, resolve once, print the milliseconds since this process started."""
    from _idp import Control, IdpInfo
    from _peers import LIBRARIES

    info = IdpInfo.load(info_path)
    lib = LIBRARIES[library](info, Control(info.control))
    spec = json.loads(store)
    if spec["kind"] != "peer":
        make = lib._make  # type: ignore[attr-defined]
        cache = _store(spec)
        lib._make = lambda options: make({**options, "cache": cache})  # type: ignore[attr-defined]
    lib.build()
    lib.call()
    sys.stdout.write(json.dumps({"ms": (time.perf_counter() - _STARTED) * 1000}) + "\n")
    sys.stdout.flush()
    os._exit(0)


def _spawn(library: str, store: dict[str, Any], info_path: str, env: dict[str, str]) -> subprocess.Popen[str]:
    command = [sys.executable, os.path.abspath(__file__), "--child", library, json.dumps(store), info_path]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen[str]) -> float:
    out, err = process.communicate(timeout=120)
    if process.returncode != 0:
        raise RuntimeError(f"a benchmark process failed: {err[-1500:]}")
    return float(json.loads(out.strip().splitlines()[-1])["ms"])


# -- the measurements --------------------------------------------------------------------------


@contextlib.contextmanager
def _redis(workdir: str) -> Iterator[str | None]:
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(500):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.1):
                break
            time.sleep(0.01)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        server.kill()
        server.wait()


class _Bench:
    def __init__(self, info_path: str, control: Any, workdir: str, redis_url: str | None, env: dict[str, str]) -> None:
        self.info_path, self.control, self.workdir, self.redis_url, self.env = info_path, control, workdir, redis_url, env
        self.runs = 0

    def store(self, kind: str, key: str | None = None) -> dict[str, Any] | None:
        """A new, empty store of `kind` (None when it cannot be had: no redis-server)."""
        self.runs += 1
        if kind == "file":
            return {"kind": "file", "directory": os.path.join(self.workdir, f"cache-{self.runs}"), "key": key}
        if kind == "redis":
            if self.redis_url is None:
                return None
            return {"kind": "redis", "url": self.redis_url, "prefix": f"r{self.runs}:", "key": key}
        return {"kind": kind}

    def fleet(self, kind: str, library: str, store: dict[str, Any], processes: int) -> int:
        """Token requests when `processes` new processes ask for one identity's token at once."""
        self.control.reset()
        started = [_spawn(library, store, self.info_path, self.env) for _ in range(processes)]
        for process in started:
            _finish(process)
        return int(self.control.count(kind))

    def cold_start(self, library: str, store: dict[str, Any], runs: int) -> float:
        """Median ms of a new process's import, build and first resolve (the store warmed first)."""
        self.control.reset()
        _finish(_spawn(library, store, self.info_path, self.env))  # warms the store (and the OS caches)
        return statistics.median(_finish(_spawn(library, store, self.info_path, self.env)) for _ in range(runs))

    def hard_refresh(self, store: dict[str, Any], runs: int) -> float:
        """Median ms of `resolve(force_refresh=True)` in this process with `store`."""
        from _idp import IdpInfo
        from _peers import LIBRARIES

        lib = LIBRARIES["literauth-azure"](IdpInfo.load(self.info_path), self.control)
        make = lib._make  # type: ignore[attr-defined]
        cache = _store(store)
        lib._make = lambda options: make({**options, "cache": cache})  # type: ignore[attr-defined]
        lib.build()
        self.control.reset()
        lib.call()
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            lib.provider.resolve(force_refresh=True)  # type: ignore[attr-defined]
            samples.append((time.perf_counter() - start) * 1000)
        lib.provider.close()  # type: ignore[attr-defined]
        return statistics.median(samples)


def _handover(url: str, hold: float, notify: bool) -> float:
    """Ms from a lease's release until a waiter holds it: RedisCache's polling, or keyspace events."""
    import threading

    import redis

    from literauth.cache import RedisCache

    store = RedisCache(url, prefix="handover:")
    name = "ab" * 32
    released = threading.Event()
    stamp: list[float] = []

    def holder() -> None:
        with store.lease(name, 5) as held:
            assert held
            ready.set()
            time.sleep(hold)
            stamp.append(time.perf_counter())  # released right after this
        released.set()

    ready = threading.Event()
    thread = threading.Thread(target=holder)
    thread.start()
    ready.wait()
    client = redis.Redis.from_url(url)
    if not notify:
        with store.lease(name, 5) as held:
            got = time.perf_counter()
            assert held
    else:  # SUBSCRIBE to the lease key's "del" event, then SET NX once it fires
        client.config_set("notify-keyspace-events", "Kg")
        pubsub = client.pubsub()
        pubsub.subscribe(f"__keyspace@0__:handover:{name}:lease")
        while not client.set(f"handover:{name}:lease", b"w", nx=True, px=5000):
            pubsub.get_message(timeout=1.0)
        got = time.perf_counter()
        client.delete(f"handover:{name}:lease")
        pubsub.close()
    thread.join()
    client.close()
    return (got - stamp[0]) * 1000


def measure(quick: bool) -> dict[str, Any]:
    from _idp import Control, IdpProcess
    from run import _clean_env

    processes, cold_runs, refreshes = (3, 2, 5) if quick else (8, 5, 30)
    results: dict[str, Any] = {"processes": processes, "fleet": {}, "cold_start_ms": {}, "hard_refresh_ms": {}}
    env = _clean_env()
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(HERE), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    os.environ.clear()  # the hard refreshes run here: the same clean environment as the children
    os.environ.update(env)
    with tempfile.TemporaryDirectory(prefix="literauth-cache-bench-") as workdir, IdpProcess(workdir) as idp, \
            _redis(workdir) as redis_url:
        bench = _Bench(idp.info_path, Control(idp.info.control), workdir, redis_url, env)
        for kind, (ours, peer) in KINDS.items():
            key = USER_KEY if kind in KEYED else None
            row: dict[str, int | None] = {}
            for name in STORES:
                store = bench.store(name, key)
                row[name] = None if store is None else bench.fleet(kind, ours, store, processes)
            row[peer] = bench.fleet(kind, peer, {"kind": "peer"}, processes)
            results["fleet"][kind] = row
            cold: dict[str, float | None] = {"none": bench.cold_start(ours, {"kind": "none"}, cold_runs)}
            for name in ("file", "redis"):
                store = bench.store(name, key)
                cold[name] = None if store is None else bench.cold_start(ours, store, cold_runs)
            cold[peer] = bench.cold_start(peer, {"kind": "peer"}, cold_runs)
            results["cold_start_ms"][kind] = cold
        for name in ("none", "memory", "file", "redis"):
            store = bench.store(name)
            results["hard_refresh_ms"][name] = None if store is None else bench.hard_refresh(store, refreshes)
        if redis_url is not None:  # how soon a waiter takes over a released lease, by hold time
            results["handover_ms"] = {
                f"{int(hold * 1000)} ms": {
                    way: statistics.median(_handover(redis_url, hold, way == "notify") for _ in range(refreshes // 3 + 1))
                    for way in ("poll", "notify")
                }
                for hold in (0.02, 0.2, 1.0)
            }
    return results


def render(results: dict[str, Any]) -> str:
    def cell(value: float | None, fmt: str = "{:.0f}") -> str:
        return "n/a" if value is None else fmt.format(value)

    k = results["processes"]
    title = (f"Token requests when {k} new processes ask for one identity's token at once "
             "(sts: the stores get a key=, web identity has no secret of its own):")
    lines = [title, "",
             "| identity | literauth memory | literauth file | literauth redis | peer (no shared cache) |",
             "|---|---|---|---|---|"]
    for kind, (_, peer) in KINDS.items():
        row = results["fleet"][kind]
        lines.append(f"| {kind} | {cell(row['memory'])} | {cell(row['file'])} | {cell(row['redis'])} | "
                     f"{peer}: {cell(row[peer])} |")
    lines += ["", "Cold start of a new process (import, build, first resolve), median ms:", "",
              "| identity | literauth, no cache | warm FileCache | warm RedisCache | peer |", "|---|---|---|---|---|"]
    for kind, (_, peer) in KINDS.items():
        row = results["cold_start_ms"][kind]
        lines.append(f"| {kind} | {cell(row['none'])} | {cell(row['file'])} | {cell(row['redis'])} | "
                     f"{peer}: {cell(row[peer])} |")
    refresh = results["hard_refresh_ms"]
    cells = " | ".join(cell(refresh[name], "{:.1f}") for name in ("none", "memory", "file", "redis"))
    lines += ["", "Hard refresh (`resolve(force_refresh=True)`, one process), median ms:", "",
              "| no shared cache | MemoryCache | FileCache | RedisCache |", "|---|---|---|---|", f"| {cells} |"]
    handover = results.get("handover_ms")
    if handover:
        lines += ["", "Redis lease handover: ms from release until a waiter holds it (median):", "",
                  "| lease held | polling with backoff (RedisCache) | keyspace notifications |", "|---|---|---|"]
        lines += [f"| {hold} | {row['poll']:.1f} | {row['notify']:.1f} |" for hold, row in handover.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer processes and runs")
    parser.add_argument("--output", help="also write the results as JSON here")
    args = parser.parse_args()
    results = measure(args.quick)
    results["load_average"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    sys.stdout.write(render(results))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
