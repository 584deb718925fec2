"""One "process of a fleet" for the multi-process cache tests: run as ``python -m tests.cache._worker CONFIG``.

It builds one provider per identity (all on a clock read from a shared file: real time plus
an offset the test moves), then follows the test's steps: whenever the step file changes it
resolves every identity a few times and writes ``ack-<index>`` with the step and how many
resolves failed. Step -1 ends it. Its token requests are counted by the fake, not here.
"""

from __future__ import annotations

import json
import pathlib
import sys
import time
from typing import Any

from literauth import AzureAdCredentialProvider
from literauth._policy import RetryPolicy
from literauth.cache import FileCache, RedisCache, TokenCache


def _clock_from(path: pathlib.Path) -> Any:
    def clock() -> float:
        text = path.read_text().strip()
        return time.time() + (float(text) if text else 0.0)
    return clock


def _store(spec: dict[str, Any], clock: Any) -> TokenCache:
    if spec["kind"] == "file":
        return FileCache(spec["directory"])
    # A generous timeout: on a loaded CI machine a Redis call may take longer than the default
    # 0.5 s, and a "slow Redis" would (rightly) make every process fetch for itself.
    return RedisCache(spec["url"], prefix=spec["prefix"], clock=clock, timeout=5.0)


def main(config_path: str) -> None:
    config = json.loads(pathlib.Path(config_path).read_text())
    control = pathlib.Path(config["control"])
    clock = _clock_from(pathlib.Path(config["clock"]))
    store = _store(config["store"], clock)
    providers = [
        AzureAdCredentialProvider(
            config["tenant"], client_id, secret, authority_host=config["authority"], clock=clock,
            # A fetch budget (the lease's duration and the waiters' patience) of 20 s: on a loaded
            # machine a waiter that gives up early fetches for itself, as it should, and the
            # count the test asserts would be one too many.
            background_refresh=False, cache=store, timeout=5.0, retry=RetryPolicy(total_timeout=10.0),
        )
        for client_id, secret in config["clients"]
    ]
    seen = None
    ack = control / f"ack-{config['index']}"
    step_file = control / "step"
    while True:
        try:
            step = int(step_file.read_text() or "0")
        except (OSError, ValueError):
            step = seen
        if step == -1:
            return
        if step != seen and step is not None:
            failures = 0
            for _ in range(config["resolves"]):
                for provider in providers:
                    try:
                        provider.resolve()
                    except Exception:  # noqa: BLE001 - counted and reported to the test
                        failures += 1
            staging = control / f"ack-{config['index']}.new"
            staging.write_text(f"{step} {failures}")
            staging.replace(ack)
            seen = step
        time.sleep(0.003)


if __name__ == "__main__":
    main(sys.argv[1])
