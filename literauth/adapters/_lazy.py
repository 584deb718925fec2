"""Import an SDK on first use, or say in one `ConfigurationError` which package to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import ConfigurationError

__all__ = ["require"]


def require(module_name: str, *, package: str) -> ModuleType:
    """The module `module_name`, imported now; `ConfigurationError` naming `package` when absent.

    Only the module itself (or a parent package of it) being absent is translated: an SDK
    that is installed but misses one of its own dependencies raises its own error, so a
    broken installation is not mistaken for a missing one.
    """
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        absent = exc.name
        if absent is None or not (module_name == absent or module_name.startswith(absent + ".")):
            raise
    # raised here, outside the handler: no chained ModuleNotFoundError in the traceback
    raise ConfigurationError(f"{module_name} is not installed: pip install {package}")
