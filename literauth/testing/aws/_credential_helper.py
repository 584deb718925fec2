"""A fake `credential_process` helper: run as ``python _credential_helper.py CONFIG``.

Standard library only, so it starts fast and never imports literauth. Each run appends its
arguments to ``CONFIG.calls`` and does what the JSON file CONFIG says (`mode`): ``ok``
prints `document`, ``bad_json`` prints `stdout`, ``fail`` exits `exit_code`, ``hang``
sleeps `hang` seconds; `stderr` is written first in every mode.
"""

import json
import sys
import time


def main(argv: list[str]) -> int:
    config_path = argv[1]
    with open(config_path + ".calls", "a", encoding="utf-8") as log:
        log.write(json.dumps(argv[2:]) + "\n")
    with open(config_path, encoding="utf-8") as handle:
        config = json.load(handle)
    sys.stderr.write(config.get("stderr", ""))
    sys.stderr.flush()
    mode = config["mode"]
    if mode == "hang":
        time.sleep(config.get("hang", 3600))
    elif mode == "ok":
        sys.stdout.write(json.dumps(config["document"], indent=2) + "\n")
    elif mode == "bad_json":
        sys.stdout.write(config.get("stdout", "not json"))
    return int(config.get("exit_code", 0))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
