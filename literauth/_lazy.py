"""Lazy package attributes: a cloud package names its classes without importing every module.

`import literauth.aws.web_identity` runs `literauth/aws/__init__.py` first; importing all nine
AWS sources there would make every provider pay for the others' imports (about 40 ms).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["attach"]


def attach(package: str, names: Mapping[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for `package`, loading ``name`` from module ``names[name]`` on first use.

    Module names are relative to `package` (``"._chain"``); a loaded value is kept in the
    package's namespace, so the lookup runs once per name.
    """
    namespace = sys.modules[package].__dict__

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(names))

    return __getattr__, __dir__
