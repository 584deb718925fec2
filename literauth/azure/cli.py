"""Azure CLI: bearer tokens from a developer's `az login`, for local development.

Runs `az account get-access-token` (no shell, stdin closed, bounded by a timeout) and parses
its JSON; the engine caches the token and refreshes it ahead of expiry, so the CLI runs once
per token lifetime, not once per request. Nothing the CLI prints on stdout ever reaches a
message, a log record or a chained exception: stdout holds the token.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, TypedDict

from .. import _safejson
from .._env import environment
from ..credentials import UTC, BearerToken
from ..errors import ConfigurationError, CredentialSourceError, SourceNotConfigured
from ..provider import RefreshingCredentialProvider
from ..secret import SecretString
from ._common import DEFAULT_SCOPE, check_scope, check_tenant

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .._policy import RefreshPolicy
    from ..cache import TokenCache
    from ..provider import Spawn

__all__ = ["AzureCliCredentialProvider", "CliOptions", "mask_line", "parse_output"]

_PROVIDER = "azure.cli"
_INSTALL = "install the Azure CLI (https://aka.ms/InstallAzureCli) and run `az login`"
_LOCAL_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")  # older az: "expiresOn", local time
_STDERR_SHOWN = 200  # characters of the child's stderr line quoted in a message
#: Text that may be a credential: a JWT, or any long run of base64/base64url characters.
#: GUIDs (correlation ids, 36 characters) stay readable.
_TOKENISH = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_.-]*|[A-Za-z0-9+/_=.~-]{40,}")
_AADSTS = re.compile(r"AADSTS\d+")


class CliOptions(TypedDict, total=False):
    """The `ProviderOptions` that act on a provider that runs a process: the caching ones.

    `timeout` is the provider's own argument (seconds per run of the CLI); `session` and
    `retry` are accepted, as by every provider, but nothing here sends an HTTP request.
    """

    clock: Callable[[], float]
    sleep: Callable[[float], None]
    refresh_margin: float
    expiry_skew: float
    refresh_policy: RefreshPolicy
    background_refresh: bool
    spawn: Spawn
    rand: Callable[[], float]
    cache: TokenCache | bool | None


def mask_line(text: str) -> str:
    """The first non-empty line of `text`, stripped, token-looking runs masked, cut short.

    Why one line: az prints a multi-line traceback or help text after its `ERROR:` line, and
    a message is read in a log line. Masking comes before cutting, so a token split by the
    cut cannot survive half-visible.
    """
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    line = _TOKENISH.sub("****", line)
    return line if len(line) <= _STDERR_SHOWN else line[: _STDERR_SHOWN - 1] + "…"


class AzureCliCredentialProvider(RefreshingCredentialProvider):
    """Bearer tokens for the identity `az login` signed in, via `az account get-access-token`.

    `scope` is one resource with the `/.default` suffix. `tenant_id`, when given, is passed as
    `--tenant` (a GUID or a domain). `timeout` bounds each run of the CLI in seconds; a run
    that takes longer is killed (with its process group on POSIX, so a wrapper script's
    child goes too). `command` is the executable's name or path, looked up on PATH with
    `shutil.which` at every fetch. See `ProviderOptions` for the caching options; the HTTP
    ones (`session`, `retry`) have nothing to act on here.
    """

    provider_name = _PROVIDER
    credential_type: ClassVar[type[BearerToken]] = BearerToken
    #: `from_env()` needs no variable: only the `az` executable on PATH.
    REQUIRED_ENV: tuple[str, ...] = ()

    def __init__(
        self,
        *,
        scope: str = DEFAULT_SCOPE,
        tenant_id: str | None = None,
        timeout: float = 10,
        command: str = "az",
        **options: Unpack[CliOptions],
    ) -> None:
        process_timeout = _check_timeout(timeout)
        # The engine sizes how long callers wait for a fetch from `timeout`: give it ours.
        super().__init__(timeout=process_timeout, **options)
        self._scope = _check_cli_scope(scope)
        self._tenant_id = None if tenant_id is None else check_tenant(_PROVIDER, tenant_id)
        self._process_timeout = process_timeout
        self._command = _check_command(command)
        self._cli_options = options  # as given, for with_scope()

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **options: Unpack[CliOptions]
    ) -> AzureCliCredentialProvider:
        """A provider for the `az` found on `environ`'s PATH (`os.environ` when None).

        `SourceNotConfigured` when there is none, so a `ChainProvider` skips this source
        without running anything. The executable is pinned to the path found. No other
        variable is read: like azure-identity's `AzureCliCredential`, AZURE_TENANT_ID is
        ignored, since in a chain it names the tenant of an app registration, not of the
        developer's login (pass `tenant_id=` to choose one).
        """
        env = environment(environ)
        found = _which("az", env.get("PATH"))
        if found is None:
            raise SourceNotConfigured(f"{_PROVIDER}: the Azure CLI (az) is not on PATH; {_INSTALL}")
        return cls(command=found, **options)

    @property
    def scope(self) -> str:
        """The scope tokens are requested for."""
        return self._scope

    @property
    def tenant_id(self) -> str | None:
        """The tenant passed as `--tenant`, or None for the login's default tenant."""
        return self._tenant_id

    @property
    def command(self) -> str:
        """The executable's name or path, as given."""
        return self._command

    def with_scope(self, scope: str) -> AzureCliCredentialProvider:
        """The same login for another scope: a new provider with its own, empty cache."""
        return type(self)(
            scope=scope, tenant_id=self._tenant_id, timeout=self._process_timeout,
            command=self._command, **self._cli_options,
        )

    def argv(self, executable: str) -> list[str]:
        """The command line run for one token, with `executable` as argv[0]."""
        args = [executable, "account", "get-access-token", "--output", "json", "--scope", self._scope]
        if self._tenant_id is not None:
            args += ["--tenant", self._tenant_id]
        return args

    def _fetch(self) -> BearerToken:
        """Run the CLI once and parse its answer; every failure is a `CredentialSourceError`."""
        executable = _which(self._command, None)
        if executable is None:
            raise CredentialSourceError(
                f"{_PROVIDER}: the Azure CLI ({self._command!r}) was not found on PATH; {_INSTALL}",
                provider=_PROVIDER, retryable=False,
            )
        code, stdout, stderr = self._run_cli(self.argv(executable))
        if code != 0:
            raise self._exit_error(code, stderr)
        return parse_output(stdout)

    def _run_cli(self, argv: list[str]) -> tuple[int, bytes, str]:
        """(exit code, stdout, stderr) of one bounded run; the child is killed on timeout."""
        timed_out = False
        failure: str | None = None
        try:
            child = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**os.environ, "AZURE_CORE_NO_COLOR": "true"},
                start_new_session=os.name == "posix",
            )
        except OSError as exc:
            failure = f"{type(exc).__name__}: {exc.strerror or 'cannot run it'}"
        if failure is not None:  # raised outside the handler: nothing chained
            raise CredentialSourceError(
                f"{_PROVIDER}: could not start the Azure CLI ({argv[0]!r}): {failure}; {_INSTALL}",
                provider=_PROVIDER, retryable=False,
            )
        with child:
            try:
                stdout, stderr = child.communicate(timeout=self._process_timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                _kill(child)
                child.communicate()  # reap it; the pipes close with the killed group
            except BaseException:
                _kill(child)
                raise
        if timed_out:
            raise CredentialSourceError(
                f"{_PROVIDER}: `az account get-access-token` took longer than {self._process_timeout:g} s "
                "and was stopped; check your network, or run it yourself to see what it waits for",
                provider=_PROVIDER,
            )
        return child.returncode, stdout, stderr.decode("utf-8", errors="replace")

    def _exit_error(self, code: int, stderr: str) -> CredentialSourceError:
        """The error for a non-zero exit: a login problem, or the child's stderr line, masked."""
        if "az login" in stderr or "AADSTS" in stderr:
            found = _AADSTS.search(stderr)
            tenant = "" if self._tenant_id is None else f" --tenant {self._tenant_id}"
            return CredentialSourceError(
                f"{_PROVIDER}: the Azure CLI is not logged in or its login has expired"
                f"{'' if found is None else f' ({found.group()})'}; run `az login{tenant}`",
                provider=_PROVIDER, retryable=False,
            )
        line = mask_line(stderr) or "no error output"
        return CredentialSourceError(
            f"{_PROVIDER}: `az account get-access-token` exited with status {code}: {line}",
            provider=_PROVIDER,
        )

    def _repr_fields(self) -> dict[str, object]:
        return {"scope": self._scope, "tenant_id": self._tenant_id, "command": self._command}

    def _cache_identity(self) -> tuple[dict[str, str], None]:
        """Scope, tenant and the command run; the login lives in the CLI, not here: no secret."""
        return {"scope": self._scope, "tenant": self._tenant_id or "", "command": self._command}, None


def parse_output(stdout: bytes) -> BearerToken:
    """The token in `az account get-access-token --output json`'s answer.

    `expires_on` (epoch seconds, az 2.54 and later) wins over `expiresOn` (a naive local
    time, all versions). Errors name the field, never the output (it holds the token).
    """
    data = _safejson.loads(stdout)
    if isinstance(data, _safejson.Invalid):
        raise _output_error(f"its output is {data}")
    if not isinstance(data, dict):
        raise _output_error("its output is not a JSON object")
    token = data.get("accessToken")
    if not isinstance(token, str) or not token:
        raise _output_error("its output has no accessToken")
    expires = _expiry(data)
    if expires is None:
        raise _output_error("its output has no usable expires_on or expiresOn")
    return BearerToken(SecretString(token), datetime.fromtimestamp(expires, UTC))


def _expiry(data: Mapping[str, object]) -> float | None:
    """Epoch seconds from `expires_on` (an int or a string of digits), else from `expiresOn`."""
    epoch = data.get("expires_on")
    if isinstance(epoch, str) and epoch.strip().isdigit():
        epoch = int(epoch.strip())
    if isinstance(epoch, (int, float)) and not isinstance(epoch, bool):
        return float(epoch) if math.isfinite(epoch) and 0 < epoch < 253402300800 else None
    local = data.get("expiresOn")
    if not isinstance(local, str):
        return None
    for pattern in _LOCAL_FORMATS:
        try:
            return datetime.strptime(local.strip(), pattern).timestamp()  # naive: local time
        except ValueError:
            continue
    return None


def _output_error(problem: str) -> CredentialSourceError:
    return CredentialSourceError(
        f"{_PROVIDER}: `az account get-access-token` succeeded but {problem}; "
        "upgrade the Azure CLI (`az upgrade`) if it is old",
        provider=_PROVIDER, retryable=False,
    )


def _which(command: str, path: str | None) -> str | None:
    """`command` resolved on `path` (PATH when None); on Windows `az.cmd` is tried first."""
    if sys.platform.startswith("win") and not command.lower().endswith((".cmd", ".exe")):
        found = shutil.which(command + ".cmd", path=path)
        if found is not None:
            return found
    return shutil.which(command, path=path)


def _kill(child: subprocess.Popen[bytes]) -> None:
    """Kill `child` and, on POSIX, its process group (az is a script that starts python)."""
    if os.name == "posix":
        try:
            os.killpg(child.pid, signal.SIGKILL)
            return
        except OSError:
            pass
    child.kill()


def _check_timeout(timeout: object) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0:
        raise ConfigurationError(f"{_PROVIDER}: timeout must be a positive number of seconds, got {timeout!r:.80}")
    return float(timeout)


def _check_cli_scope(scope: object) -> str:
    """A `/.default` scope (as the other Azure providers take) that cannot pass for an option."""
    checked = check_scope(_PROVIDER, scope)
    if checked.startswith("-"):
        raise ConfigurationError(f"{_PROVIDER}: scope {checked[:120]!r} must not start with '-'")
    return checked


def _check_command(command: object) -> str:
    if not isinstance(command, str) or not command.strip() or "\x00" in command:
        raise ConfigurationError(f"{_PROVIDER}: command must be the name or path of the az executable")
    return command
