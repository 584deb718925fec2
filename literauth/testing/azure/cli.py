"""A fake Azure CLI: an `az` executable in a directory, answering as scripted.

`AzureCliCredentialProvider` runs a process, not an HTTP request, so its fake is not a
`FakeIdentityServer` endpoint: it is a small Python script (its shebang is this
interpreter) that reads what to do from a JSON file beside it on every run and appends its
arguments to a log, so tests can change the behaviour between runs and count the runs::

    fake = FakeAzureCli(tmp_path)
    provider = fake.make_provider()
    provider.resolve()
    assert fake.calls == [["account", "get-access-token", "--output", "json", "--scope", ...]]
    fake.not_logged_in()

POSIX only (a shebang script); on Windows `install()` raises `FakeUnavailable`.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from ...azure.cli import AzureCliCredentialProvider
from .._oauth import b64url
from .._server import FakeUnavailable

__all__ = ["FakeAzureCli"]

Mode = Literal["token", "not_logged_in", "hang", "bad_json", "fail"]

_SCRIPT = '''#!{python}
"""Fake az written by literauth.testing.azure.cli: behaves as {config} says."""
import json, os, sys, time
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "az.calls"), "a", encoding="utf-8") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
with open(os.path.join(here, "az.json"), encoding="utf-8") as f:
    config = json.load(f)
mode = config["mode"]
sys.stderr.write(config.get("stderr", ""))
if mode == "hang":
    time.sleep(config.get("hang", 3600))
if mode == "token":
    sys.stdout.write(json.dumps(config["answer"], indent=2) + "\\n")
elif mode == "bad_json":
    sys.stdout.write(config.get("stdout", "not json"))
sys.exit(config.get("exit_code", 0))
'''


def _jwt_shaped() -> str:
    """A random token shaped like Entra ID's (three base64url parts), as az prints them."""
    header = b64url(json.dumps({"typ": "JWT", "alg": "RS256"}).encode())
    return f"{header}.{b64url(secrets.token_bytes(48))}.{b64url(secrets.token_bytes(64))}"


class FakeAzureCli:
    """A scripted `az` in `directory`; `install()` (done at construction) writes it.

    The default answers a token valid for `lifetime` seconds from `clock()`, with the expiry
    in the `expires_on` (epoch) form of newer az; `expiry_format="expiresOn"` gives only the
    local-time string of older releases. The other behaviours: `not_logged_in()`, `hang()`,
    `bad_json()` and `fail()`. `calls` lists the arguments of every run.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        lifetime: float = 3600.0,
        clock: Callable[[], float] = time.time,
        expiry_format: Literal["expires_on", "expiresOn", "both"] = "expires_on",
    ) -> None:
        self.directory = Path(directory)
        self.lifetime = lifetime
        self.clock = clock
        self.expiry_format = expiry_format
        #: The token the next successful run prints (a new one per `answer_token()`).
        self.token = _jwt_shaped()
        self.install()
        self.answer_token()

    @property
    def path(self) -> str:
        """The fake executable's absolute path (pass it as `command=`)."""
        return str(self.directory / "az")

    def install(self) -> str:
        """Write the script (mode 0755) and return its path."""
        if os.name != "posix":
            raise FakeUnavailable("the fake az is a shebang script: POSIX only")
        self.directory.mkdir(parents=True, exist_ok=True)
        script = self.directory / "az"
        script.write_text(_SCRIPT.format(python=sys.executable, config="az.json"), encoding="utf-8")
        script.chmod(0o755)
        return str(script)

    def environ(self) -> dict[str, str]:
        """`os.environ`'s PATH with the fake's directory first, so `az` finds it."""
        return {"PATH": os.pathsep.join(p for p in (str(self.directory), os.environ.get("PATH", "")) if p)}

    def make_provider(self, **options: Any) -> AzureCliCredentialProvider:
        """An `AzureCliCredentialProvider` running this fake; keywords go to the provider."""
        options.setdefault("command", self.path)
        return AzureCliCredentialProvider(**options)

    @property
    def calls(self) -> list[list[str]]:
        """The arguments (without argv[0]) of every run so far."""
        log = self.directory / "az.calls"
        if not log.exists():
            return []
        return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]

    # -- behaviours -------------------------------------------------------------------

    def _configure(self, mode: Mode, **fields: Any) -> None:
        target = self.directory / "az.json"
        partial = self.directory / "az.json.tmp"
        partial.write_text(json.dumps({"mode": mode, **fields}), encoding="utf-8")
        partial.replace(target)  # atomic: a run never reads half a file

    def answer_token(self, token: str | None = None, *, expires_at: float | None = None, stderr: str = "") -> None:
        """Answer a token (a new random one when `token` is None) expiring at `expires_at`.

        The expiry defaults to `clock() + lifetime`, computed now (not at run time).
        """
        self.token = token if token is not None else _jwt_shaped()
        expires = self.clock() + self.lifetime if expires_at is None else expires_at
        answer: dict[str, Any] = {
            "accessToken": self.token,
            "subscription": "00000000-0000-0000-0000-000000000000",
            "tenant": "11111111-1111-1111-1111-111111111111",
            "tokenType": "Bearer",
        }
        if self.expiry_format in ("expiresOn", "both"):
            answer["expiresOn"] = datetime.fromtimestamp(expires).strftime("%Y-%m-%d %H:%M:%S.%f")
        if self.expiry_format in ("expires_on", "both"):
            answer["expires_on"] = int(expires)
        self._configure("token", answer=answer, stderr=stderr)

    def not_logged_in(self, *, aadsts: bool = False) -> None:
        """Exit 1 the way az does without a login (or, with `aadsts`, with an expired one)."""
        text = (
            "ERROR: AADSTS700082: The refresh token has expired due to inactivity.\n"
            "Interactive authentication is needed. Please run:\naz login --scope https://x/.default\n"
            if aadsts else "ERROR: Please run 'az login' to setup account.\n"
        )
        self._configure("not_logged_in", stderr=text, exit_code=1)

    def hang(self, seconds: float = 3600.0) -> None:
        """Sleep `seconds` before answering nothing (for timeouts)."""
        self._configure("hang", hang=seconds, exit_code=0)

    def bad_json(self, stdout: str = "this is not json") -> None:
        """Exit 0 printing `stdout`, which is not a usable answer."""
        self._configure("bad_json", stdout=stdout)

    def fail(self, exit_code: int = 2, stderr: str = "ERROR: something went wrong\n") -> None:
        """Exit `exit_code` printing `stderr`."""
        self._configure("fail", stderr=stderr, exit_code=exit_code)
