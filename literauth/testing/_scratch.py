"""Scratch files a fake writes for the providers it builds (token files, certificates)."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import weakref


class ScratchFiles:
    """Numbered paths in one temporary directory, made on first use, removed with its owner."""

    def __init__(self, owner: object, prefix: str) -> None:
        self._owner = weakref.ref(owner)
        self._prefix = prefix
        self._lock = threading.Lock()
        self._directory: str | None = None
        self._count = 0

    def new_path(self, stem: str, suffix: str = "") -> str:
        """A fresh path ``<stem>-<n><suffix>`` in the directory (the file is not created)."""
        with self._lock:
            if self._directory is None:
                self._directory = tempfile.mkdtemp(prefix=self._prefix)
                owner = self._owner()
                if owner is not None:  # the directory goes when the fake does
                    weakref.finalize(owner, shutil.rmtree, self._directory, True)
            self._count += 1
            return os.path.join(self._directory, f"{stem}-{self._count}{suffix}")
