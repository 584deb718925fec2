"""One library, one scenario, one fresh interpreter: ``python _runner.py LIBRARY SCENARIO PARAMS``.

Prints one JSON line with the result. For the import scenario nothing but `sys` and `time`
is imported before the timed import, so the library pays for everything it needs.
"""

import sys
import time

_started = time.perf_counter()


def _import_scenario(modules: "tuple[str, ...]") -> float:
    import importlib

    start = time.perf_counter()
    for name in modules:
        importlib.import_module(name)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    library, scenario, raw_params, info_path = sys.argv[1:5]
    import_ms = None
    if scenario == "import":
        # The adapter table is not imported yet: the module names come on the command line.
        import_ms = _import_scenario(tuple(raw_params.split(",")))

    import json
    import os

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from _idp import Control, IdpInfo
    from _peers import LIBRARIES
    from _scenarios import SCENARIOS, TIME_TRAVEL

    info = IdpInfo.load(info_path)
    control = Control(info.control)
    lib = LIBRARIES[library](info, control, time_travel=scenario in TIME_TRAVEL)
    if scenario == "import":
        start = time.perf_counter()
        lib.build()
        lib.call()  # the identity provider was just reset: it serves one-hour tokens
        result = {"import_ms": import_ms, "first_token_ms": (time.perf_counter() - start) * 1000}
    else:
        lib.build()
        result = SCENARIOS[scenario](lib, json.loads(raw_params))
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    os._exit(0)  # do not wait for stuck callers or library threads


if __name__ == "__main__":
    main()
