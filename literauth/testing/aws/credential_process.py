"""A fake AWS `credential_process` helper, scripted between runs, for `ProcessCredentialsProvider`.

The helper is `_credential_helper.py` beside this module, run by this interpreter; it reads
what to do from a JSON file on every run and logs its arguments, so tests change its
behaviour between runs and count the runs::

    fake = FakeCredentialProcess(tmp_path)
    provider = fake.make_provider()
    keys = provider.resolve()
    assert fake.issued[-1].access_key_id.expose_secret() == keys.access_key_id.expose_secret()
    fake.fail(1, "token expired\\n")
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shlex
import string
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from ...aws.process import ProcessCredentialsProvider
from ...credentials import UTC, AwsCredentials
from ...secret import SecretString

__all__ = ["HELPER", "FakeCredentialProcess"]

HELPER = str(Path(__file__).with_name("_credential_helper.py"))
_KEY_ALPHABET = string.ascii_uppercase + "234567"


class FakeCredentialProcess:
    """A scripted `credential_process` writing its configuration into `directory`.

    By default it answers fresh temporary keys (Version 1) expiring `lifetime` seconds after
    `clock()`; `answer()` sets the next answer (a new key pair each time, recorded in
    `issued`), `bad_json()`, `fail()` and `hang()` the misbehaviours. `calls` counts runs.
    """

    def __init__(
        self, directory: str | os.PathLike[str], *, lifetime: float = 3600.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.config = self.directory / "credential-process.json"
        self.lifetime = lifetime
        self.clock = clock
        #: The keys each `answer()` scripted, oldest first.
        self.issued: list[AwsCredentials] = []
        self.answer()

    @property
    def argv(self) -> list[str]:
        """The command as an argument list: this interpreter running the helper."""
        return [sys.executable, HELPER, str(self.config)]

    @property
    def command_line(self) -> str:
        """The command as one line, as `credential_process = ...` holds it in a profile."""
        return shlex.join(self.argv)

    def make_provider(self, **options: Any) -> ProcessCredentialsProvider:
        """A `ProcessCredentialsProvider` running this helper; keywords go to the provider."""
        return ProcessCredentialsProvider(options.pop("command", self.argv), **options)

    @property
    def calls(self) -> list[list[str]]:
        """The extra arguments of every run so far (one list per run)."""
        log = Path(str(self.config) + ".calls")
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]

    # -- behaviours -------------------------------------------------------------------

    def _configure(self, mode: str, **fields: Any) -> None:
        partial = self.config.with_suffix(".tmp")
        partial.write_text(json.dumps({"mode": mode, **fields}), encoding="utf-8")
        partial.replace(self.config)  # atomic: a run never reads half a file

    def answer(
        self,
        *,
        expires: bool = True,
        session_token: bool = True,
        version: object = 1,
        extra: dict[str, Any] | None = None,
        stderr: str = "",
    ) -> AwsCredentials:
        """Answer new keys (expiring `lifetime` from now unless `expires` is False) and return them."""
        key_id = ("ASIA" if session_token else "AKIA") + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))
        secret = base64.b64encode(secrets.token_bytes(30)).decode("ascii")
        token = "IQoJb3JpZ2luX2VjE" + base64.b64encode(secrets.token_bytes(180)).decode("ascii")
        expires_at = datetime.fromtimestamp(int(self.clock() + self.lifetime), UTC) if expires else None
        document: dict[str, Any] = {"Version": version, "AccessKeyId": key_id, "SecretAccessKey": secret}
        if session_token:
            document["SessionToken"] = token
        if expires_at is not None:
            document["Expiration"] = expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        document.update(extra or {})
        keys = AwsCredentials(
            SecretString(key_id), SecretString(secret), SecretString(token) if session_token else None, expires_at
        )
        self.issued.append(keys)
        self._configure("ok", document=document, stderr=stderr)
        return keys

    def answer_document(self, document: object) -> None:
        """Print exactly `document` as JSON (for malformed answers)."""
        self._configure("ok", document=document)

    def bad_json(self, stdout: str = "this is not json") -> None:
        """Exit 0 printing `stdout`, which is not a JSON document."""
        self._configure("bad_json", stdout=stdout)

    def fail(self, exit_code: int = 1, stderr: str = "error: the broker refused\n") -> None:
        """Exit `exit_code` printing `stderr`."""
        self._configure("fail", stderr=stderr, exit_code=exit_code)

    def hang(self, seconds: float = 3600.0) -> None:
        """Sleep `seconds` before answering nothing (for timeouts)."""
        self._configure("hang", hang=seconds)
