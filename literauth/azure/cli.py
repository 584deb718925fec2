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
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from .. import _safejson
from .._env import environment
from .._process import check_timeout, mask_line, run, which
from ..credentials import UTC, BearerToken
from ..errors import ConfigurationError, CredentialSourceError, SourceNotConfigured
from ..provider import CachingOptions, RefreshingCredentialProvider
from ..secret import SecretString
from ._common import DEFAULT_SCOPE, check_scope, check_tenant

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["AzureCliCredentialProvider", "CliOptions", "mask_line", "parse_output"]

_PROVIDER = "azure.cli"
_INSTALL = "install the Azure CLI (https://aka.ms/InstallAzureCli) and run `az login`"
_LOCAL_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")  # older az: "expiresOn", local time
_AADSTS = re.compile(r"AADSTS\d+")
CliOptions = CachingOptions  # the caching options, the ones that act on a provider running a process


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
        process_timeout = check_timeout(_PROVIDER, timeout)
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
        found = which("az", env.get("PATH"))
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
        executable = which(self._command, None)
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
        done = run(
            argv, timeout=self._process_timeout, provider=_PROVIDER, name="the Azure CLI", hint=_INSTALL,
            env={**os.environ, "AZURE_CORE_NO_COLOR": "true"},
        )
        return done.returncode, done.stdout, done.stderr

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
