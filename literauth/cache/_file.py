"""`FileCache`: sealed entries in a private directory, shared by the processes of one host.

Every entry is written to a temporary file and renamed into place, so a reader sees the old
entry or the new one, never half of one (botocore's JSONFileCache truncates in place). Files
are opened without following symlinks; one that is a symlink, not owned by this user or not
0600 is damage: ignored with a WARNING, and replaced by the next write. Cross-process single
flight is an advisory lock per key (`fcntl.flock` on POSIX, `msvcrt.locking` on Windows),
which the OS releases when its holder dies, so a killed holder never blocks anyone.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import sys
from collections.abc import Iterator, Mapping

from ..errors import ConfigurationError
from ._entry import MAX_ENTRY
from ._keys import check_key
from ._wait import Outage, poll

__all__ = ["FileCache", "default_directory"]

_log = logging.getLogger("literauth.cache")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_BINARY = getattr(os, "O_BINARY", 0)
_POSIX = os.name == "posix"


def default_directory(environ: Mapping[str, str] | None = None) -> str:
    """The user's cache directory for literauth on this platform."""
    env = os.environ if environ is None else environ
    if sys.platform == "win32":
        base = env.get("LOCALAPPDATA") or os.path.join(os.path.expanduser("~"), "AppData", "Local")
    elif sys.platform == "darwin":
        base = os.path.join(os.path.expanduser("~"), "Library", "Caches")
    else:
        base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "literauth")


class FileCache:
    """Entries as files in `directory` (default: `default_directory()`), sealed with AES-256-GCM.

    The directory is created 0700 when missing; one that is a symlink, owned by another user
    or open to group or others is refused with `ConfigurationError`. `key` (or the
    `LITERAUTH_CACHE_KEY` variable), a secret of at least 32 bytes, lets identities without a
    local secret of their own (managed identity, workload identity) be cached too.
    """

    in_process = False

    def __init__(self, directory: str | os.PathLike[str] | None = None, *, key: bytes | str | None = None) -> None:
        _require_cryptography("FileCache")
        self.key = check_key("FileCache", key)
        self._directory = os.path.abspath(os.fspath(directory) if directory is not None else default_directory())
        _prepare(self._directory)
        self._outage = Outage(f"the file cache in {self._directory}", retry_after=5.0)

    @property
    def directory(self) -> str:
        return self._directory

    def _path(self, key: str, suffix: str) -> str:
        if not key or not all(c in "0123456789abcdef" for c in key):
            raise ValueError("FileCache keys are hex digests")  # the engine's names always are
        return os.path.join(self._directory, key + suffix)

    def get(self, key: str) -> bytes | None:
        path = self._path(key, ".entry")
        try:
            fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _BINARY)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # a symlink where an entry belongs
                self._damaged(path, "is a symlink")
                return None
            self._outage.failed(exc)
            return None
        try:
            info = os.fstat(fd)
            problem = _file_problem(info)
            if problem is not None:
                self._damaged(path, problem)
                return None
            data = os.read(fd, MAX_ENTRY + 1)
        except OSError as exc:
            self._outage.failed(exc)
            return None
        finally:
            os.close(fd)
        self._outage.recovered()
        return data

    def put(self, key: str, entry: bytes, expires_at: float) -> None:
        path = self._path(key, ".entry")
        temporary = f"{path}.{os.getpid()}.{os.urandom(4).hex()}.tmp"
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC | _BINARY, 0o600)
            try:
                view = memoryview(entry)
                while view:
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            os.replace(temporary, path)  # replaces a symlink itself, never its target
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            self._outage.failed(exc)
            return
        self._outage.recovered()

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(key, ".entry"))

    @contextlib.contextmanager
    def lease(self, key: str, timeout: float) -> Iterator[bool]:
        """Hold the advisory lock of `key` (True), or give up after `timeout` seconds (False)."""
        path = self._path(key, ".lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | _NOFOLLOW | _CLOEXEC | _BINARY, 0o600)
        except OSError as exc:
            self._outage.failed(exc)
            yield False
            return
        try:
            held = poll(lambda: _try_lock(fd), timeout)
            try:
                yield held
            finally:
                if held:
                    _unlock(fd)
        finally:
            os.close(fd)

    def _damaged(self, path: str, problem: str) -> None:
        _log.warning("literauth.cache: ignoring cache entry %s: it %s; it will be replaced", path, problem)
        with contextlib.suppress(OSError):
            os.unlink(path)  # unlinks a symlink itself, not what it points to

    def __repr__(self) -> str:
        return f"FileCache({self._directory!r})"


def _require_cryptography(store: str) -> None:
    try:
        import cryptography  # noqa: F401
    except ImportError:
        raise ConfigurationError(
            f"{store} encrypts its entries and needs the 'cryptography' package: pip install 'literauth[cache]'"
        ) from None


def _prepare(directory: str) -> None:
    """Create `directory` 0700 if missing; refuse it unless it is this user's private directory."""
    parent = os.path.dirname(directory)
    try:
        os.makedirs(parent, mode=0o700, exist_ok=True)
        os.mkdir(directory, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigurationError(f"FileCache: cannot create the cache directory {directory}: {reason}") from None
    info = os.lstat(directory)
    problem = None
    if stat.S_ISLNK(info.st_mode):
        problem = "is a symlink"
    elif not stat.S_ISDIR(info.st_mode):
        problem = "is not a directory"
    elif _POSIX and info.st_uid != os.geteuid():
        problem = f"is owned by uid {info.st_uid}, not by this user ({os.geteuid()})"
    elif _POSIX and info.st_mode & 0o077:
        problem = f"is open to group or others (mode {stat.S_IMODE(info.st_mode):04o}; chmod 700 it)"
    if problem is not None:
        raise ConfigurationError(f"FileCache: refusing the cache directory {directory}: it {problem}")


def _file_problem(info: os.stat_result) -> str | None:
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if _POSIX and info.st_uid != os.geteuid():
        return f"is owned by uid {info.st_uid}"
    if _POSIX and stat.S_IMODE(info.st_mode) != 0o600:
        return f"has mode {stat.S_IMODE(info.st_mode):04o}, not 0600"
    return None


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> bool:
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
