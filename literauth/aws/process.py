"""AWS `credential_process`: keys printed by a helper command (aws-vault, a corporate broker).

The command runs without a shell (a string is split with `shlex`), with stdin closed and a
timeout (botocore waits forever), through the one process runner (`literauth._process`).
Its stdout is the Version 1 JSON document AWS defines; with an `Expiration` the command is
run again when the keys are due, without one the keys are kept for good (as botocore does).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

from .. import _safejson
from .._process import check_timeout, mask_line, run
from ..credentials import AwsCredentials, parse_rfc3339
from ..errors import ConfigurationError, CredentialSourceError, TokenTextError
from ..provider import CachingOptions, RefreshingCredentialProvider
from ..secret import SecretString

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["ProcessCredentialsProvider", "parse_process_output"]

_PROVIDER = "aws.process"
DEFAULT_TIMEOUT = 60.0  # seconds one run may take: a broker may do a network round trip or two
_VERSION = 1  # the only version of the output format AWS has defined


class ProcessCredentialsProvider(RefreshingCredentialProvider):
    """`AwsCredentials` from a `credential_process` command, cached and re-run when due.

    `command` is a command line (split with `shlex`, never given to a shell) or an argument
    list. `timeout` bounds each run in seconds; a run that takes longer is killed with its
    process group. The child inherits the environment. See `CachingOptions` for the caching
    options.
    """

    provider_name = _PROVIDER
    credential_type: ClassVar[type[AwsCredentials]] = AwsCredentials
    #: What `from_env()` needs (literauth's name: botocore reads the command from a profile).
    REQUIRED_ENV = ("LITERAUTH_AWS_CREDENTIAL_PROCESS",)

    def __init__(
        self,
        command: str | Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        **options: Unpack[CachingOptions],
    ) -> None:
        process_timeout = check_timeout(_PROVIDER, timeout)
        # The engine sizes how long callers wait for a fetch from `timeout`: give it ours.
        super().__init__(timeout=process_timeout, **options)
        self._argv = _check_command(command)
        self._process_timeout = process_timeout

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **options: Unpack[CachingOptions]
    ) -> ProcessCredentialsProvider:
        """Run the command line in `LITERAUTH_AWS_CREDENTIAL_PROCESS` (`environ=None`: `os.environ`)."""
        from .._env import environment, require

        values = require(
            environment(environ), cls.REQUIRED_ENV, provider=_PROVIDER,
            hint="set it to a credential_process command line",
        )
        return cls(values["LITERAUTH_AWS_CREDENTIAL_PROCESS"], **options)

    @property
    def argv(self) -> tuple[str, ...]:
        """The command run, as its argument list."""
        return self._argv

    @property
    def timeout(self) -> float:
        """Seconds one run may take before it is killed."""
        return self._process_timeout

    def _fetch(self) -> AwsCredentials:
        done = run(self._argv, timeout=self._process_timeout, provider=_PROVIDER, name=self._shown())
        if done.returncode != 0:
            line = mask_line(done.stderr) or "no error output"
            raise CredentialSourceError(
                f"{_PROVIDER}: {self._shown()} exited with status {done.returncode}: {line}", provider=_PROVIDER
            )
        return parse_process_output(done.stdout, self._shown())

    def _shown(self) -> str:
        """How messages name the command: its executable's file name only (arguments may hold secrets)."""
        return f"credential process `{os.path.basename(self._argv[0])}`"

    def _cache_identity(self) -> tuple[dict[str, str], bytes | None] | None:
        """The command line; no local secret (the helper holds whatever it signs in with)."""
        return {"argv": shlex.join(self._argv)}, None

    def _repr_fields(self) -> dict[str, object]:
        return {"command": os.path.basename(self._argv[0]), "timeout": self._process_timeout}


def parse_process_output(stdout: bytes, shown: str = "the credential process") -> AwsCredentials:
    """The keys in a `credential_process` Version 1 document; `CredentialSourceError` naming what is wrong.

    `Version` must be the integer 1 and `AccessKeyId` and `SecretAccessKey` non-empty
    strings; `SessionToken` is optional, and `Expiration` too (absent: the keys never
    expire). Messages name fields, never values.
    """
    data = _safejson.loads(stdout)
    if isinstance(data, _safejson.Invalid):
        raise _output_error(shown, f"its output is {data}")
    if not isinstance(data, dict):
        raise _output_error(shown, "its output is not a JSON object")
    version = data.get("Version")
    if version != _VERSION or isinstance(version, bool) or not isinstance(version, int):
        shown_version = repr(version)[:20] if isinstance(version, (int, str)) else type(version).__name__
        raise _output_error(shown, f"its output has Version {shown_version}; the supported version is 1")
    fields: dict[str, SecretString | None] = {}
    for name, required in (("AccessKeyId", True), ("SecretAccessKey", True), ("SessionToken", False)):
        value = data.get(name)
        if value is None and not required:
            fields[name] = None
        elif not isinstance(value, str) or not value:
            raise _output_error(shown, f"its output has no {name} string")
        else:
            fields[name] = SecretString(value)
    expires = data.get("Expiration")
    expires_at = None
    if expires is not None:
        expires_at = parse_rfc3339(expires) if isinstance(expires, str) else None
        if expires_at is None:
            raise _output_error(shown, "its output has an Expiration that is not an ISO 8601 time with a zone")
    problem = None
    try:
        return AwsCredentials(
            fields["AccessKeyId"] or SecretString(""), fields["SecretAccessKey"] or SecretString(""),
            fields["SessionToken"], expires_at,
        )
    except TokenTextError as exc:
        problem = str(exc)  # names the field and the character class, never the value
    raise _output_error(shown, f"its output is unusable: {problem}")


def _output_error(shown: str, problem: str) -> CredentialSourceError:
    return CredentialSourceError(f"{_PROVIDER}: {shown} succeeded but {problem}", provider=_PROVIDER, retryable=False)


def _check_command(command: object) -> tuple[str, ...]:
    """The argument list: a string split like a POSIX shell would, but never run by one."""
    if isinstance(command, str):
        problem = None
        try:
            argv = shlex.split(command, posix=os.name == "posix")
        except ValueError as exc:  # an unclosed quote or a trailing escape
            problem, argv = str(exc), []
        if problem is not None:  # raised outside the handler: nothing chained
            raise ConfigurationError(f"{_PROVIDER}: command cannot be split into arguments ({problem})")
    elif isinstance(command, Sequence) and all(isinstance(part, str) for part in command):
        argv = list(command)
    else:
        raise ConfigurationError(f"{_PROVIDER}: command must be a command line or a list of arguments")
    if not argv or not argv[0].strip() or any("\x00" in part for part in argv):
        raise ConfigurationError(f"{_PROVIDER}: command must name an executable (and hold no NUL)")
    return tuple(argv)
