"""Subject tokens for workload identity federation: where an `external_account` file says to get one.

A `credential_source` names a file (a projected Kubernetes token, a SAML assertion), a
URL (Azure IMDS, a GitHub OIDC endpoint), an executable, or AWS (`_aws_subject.py`).
Each source is checked when the provider is built and read afresh on every fetch; a
subject token is never cached, since the issuer rotates it. Text is stripped (google-auth
sends a file's trailing newline as part of the token).
"""

from __future__ import annotations

import dataclasses
import math
import os
import shlex
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from .. import _safejson
from .._files import check_path, read_small_file
from .._http import TokenFetcher, TokenRequest
from .._oauth import parse_oauth_error
from .._process import mask_line, run
from .._url import UrlPolicy
from ..credentials import check_token_text
from ..errors import ConfigurationError, CredentialSourceError, TokenTextError
from ..secret import SecretString

__all__ = ["ALLOW_EXECUTABLES", "SubjectTokenSource", "source_from_info"]

ALLOW_EXECUTABLES = "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES"
_EXECUTABLE_TIMEOUT = 30.0  # seconds, google-auth's default; the file may say 5-120 s
_SECRET_HEADER_WORDS = ("auth", "token", "key", "secret", "cookie", "password")
_OIDC_TYPES = ("urn:ietf:params:oauth:token-type:jwt", "urn:ietf:params:oauth:token-type:id_token")
_SAML_TYPE = "urn:ietf:params:oauth:token-type:saml2"

MakeFetcher = Callable[..., TokenFetcher]


class SubjectTokenSource(Protocol):
    """Where subject tokens come from: `token()` reads one now; `kind` names it (file, url, ...)."""

    kind: str

    def token(self) -> SecretString: ...


@dataclasses.dataclass(frozen=True)
class _Format:
    """How a file or an answer holds the token: as the whole text, or as one field of a JSON object."""

    json_field: str | None = None

    def read(self, raw: bytes, provider: str, where: str) -> SecretString:
        if self.json_field is None:
            text = _safejson.decode_utf8(raw)
            if isinstance(text, _safejson.Invalid):
                raise _source_error(provider, f"{where} is {text}")
            return _checked(provider, where, text.strip())
        data = _safejson.loads(raw)
        if isinstance(data, _safejson.Invalid):
            raise _source_error(provider, f"{where} is {data}")
        value = data.get(self.json_field) if isinstance(data, dict) else None
        if not isinstance(value, str) or not value.strip():
            raise _source_error(provider, f"{where} has no string field {self.json_field!r}")
        return _checked(provider, where, value.strip())


def _checked(provider: str, where: str, text: str) -> SecretString:
    token = SecretString(text)
    problem = None
    try:
        check_token_text(f"the subject token from {where}", token)
    except TokenTextError as exc:  # names the character class and position, never the token
        problem = str(exc)
    if problem is not None:
        raise _source_error(provider, problem, retryable=False)
    return token


def _source_error(provider: str, message: str, *, retryable: bool = True) -> CredentialSourceError:
    return CredentialSourceError(f"{provider}: {message}", provider=provider, retryable=retryable)


class FileSource:
    """A token file, re-read for every exchange (the kubelet or an agent rewrites it)."""

    kind = "file"

    def __init__(self, provider: str, path: str, fmt: _Format) -> None:
        self._provider = provider
        self.path = check_path(provider, "credential_source.file", path)
        self._format = fmt

    def token(self) -> SecretString:
        raw = read_small_file(self.path, provider=self._provider, what="subject token file")
        return self._format.read(raw, self._provider, f"subject token file {self.path}")


class UrlSource:
    """A URL answering with the token (Azure IMDS, an OIDC endpoint), asked for every exchange.

    Plain http is allowed for loopback and the cloud metadata hosts only; header values that
    look secret (an Authorization header) are masked like any secret.
    """

    kind = "url"

    def __init__(self, provider: str, url: str, headers: Mapping[str, str], fmt: _Format, make_fetcher: MakeFetcher) -> None:
        self._fetcher = make_fetcher(url, url_policy=UrlPolicy.METADATA, endpoint="subject token URL")
        self._headers = {name: SecretString(value) if _looks_secret(name) else value for name, value in headers.items()}
        self._format = fmt

    @property
    def url(self) -> str:
        return self._fetcher.url

    def token(self) -> SecretString:
        response = self._fetcher.send(TokenRequest(method="GET", headers=self._headers), parse_oauth_error)
        return self._format.read(response.body, self._fetcher.provider, f"the answer of {self._fetcher.host}")


def _looks_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_HEADER_WORDS)


class ExecutableSource:
    """A command printing Google's executable-response JSON, run (no shell) for every exchange.

    Only allowed when `GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1`, as google-auth requires;
    bounded by the file's `timeout_millis` (default 30 s); a still-valid answer in
    `output_file` is used instead of running it.
    """

    kind = "executable"

    def __init__(
        self, provider: str, config: Mapping[str, Any], environ: Mapping[str, str], context: Mapping[str, str]
    ) -> None:
        self._provider = provider
        if environ.get(ALLOW_EXECUTABLES, "").strip() != "1":
            raise ConfigurationError(
                f"{provider}: credential_source.executable runs a command; set {ALLOW_EXECUTABLES}=1 to allow it"
            )
        command = config.get("command")
        if not isinstance(command, str) or not command.strip():
            raise ConfigurationError(f"{provider}: credential_source.executable.command is missing")
        problem = None
        try:
            self.argv = shlex.split(command)
        except ValueError as exc:
            problem = str(exc)
        if problem is not None:
            raise ConfigurationError(f"{provider}: credential_source.executable.command cannot be split ({problem})")
        millis = config.get("timeout_millis", _EXECUTABLE_TIMEOUT * 1000)
        if isinstance(millis, bool) or not isinstance(millis, (int, float)) or not 5000 <= millis <= 120000:
            raise ConfigurationError(
                f"{provider}: credential_source.executable.timeout_millis must be 5000-120000, got {millis!r:.40}"
            )
        self.timeout = float(millis) / 1000
        output = config.get("output_file")
        self._output_file = None if output is None else check_path(provider, "executable.output_file", output)
        self._env = {**os.environ, **context, "GOOGLE_EXTERNAL_ACCOUNT_INTERACTIVE": "0"}
        if self._output_file is not None:
            self._env["GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE"] = self._output_file

    def token(self) -> SecretString:
        cached = self._cached()
        if cached is not None:
            return cached
        return self._parse(self._run(), "the executable's output", require_expiry=False)

    def _cached(self) -> SecretString | None:
        """The token in `output_file` when it holds a successful, unexpired answer with an expiry."""
        if self._output_file is None or not os.path.exists(self._output_file):
            return None
        try:
            raw = read_small_file(self._output_file, provider=self._provider, what="executable output file")
            return self._parse(raw, f"executable output file {self._output_file}", require_expiry=True)
        except CredentialSourceError:
            return None  # stale or unusable: run the command

    def _run(self) -> bytes:
        """The command's stdout after one bounded run; a non-zero exit quotes its stderr, masked."""
        done = run(self.argv, timeout=self.timeout, provider=self._provider,
                   name=f"the credential executable {self.argv[0]!r}", env=self._env)
        if done.returncode != 0:
            line = mask_line(done.stderr)
            raise _source_error(
                self._provider,
                f"the credential executable {self.argv[0]!r} exited with status {done.returncode}"
                + (f": {line}" if line else ""),
            )
        return done.stdout

    def _parse(self, raw: bytes, where: str, *, require_expiry: bool) -> SecretString:
        data = _safejson.loads(raw)
        if not isinstance(data, dict):
            raise _source_error(self._provider, f"{where} is not a JSON object", retryable=False)
        version = data.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version > 1:
            raise _source_error(self._provider, f"{where} has no supported version (1)", retryable=False)
        if data.get("success") is not True:
            code, message = data.get("code"), data.get("message")
            detail = f": {str(code)[:40]}: {str(message)[:200]}" if code or message else ""
            raise _source_error(self._provider, f"{where} reports a failure{detail}")
        expiry = data.get("expiration_time")
        if expiry is None and require_expiry:
            raise _source_error(self._provider, f"{where} has no expiration_time")
        if expiry is not None and (
            isinstance(expiry, bool) or not isinstance(expiry, (int, float)) or not math.isfinite(expiry)
            or expiry <= time.time()
        ):
            raise _source_error(self._provider, f"{where} holds an expired token")
        kind = data.get("token_type")
        field = "id_token" if kind in _OIDC_TYPES else "saml_response" if kind == _SAML_TYPE else None
        if field is None:
            raise _source_error(self._provider, f"{where} has an unsupported token_type", retryable=False)
        value = data.get(field)
        if not isinstance(value, str) or not value.strip():
            raise _source_error(self._provider, f"{where} has no {field}", retryable=False)
        return _checked(self._provider, where, value.strip())


def _format(provider: str, source: Mapping[str, Any]) -> _Format:
    fmt = source.get("format") or {}
    if not isinstance(fmt, Mapping):
        raise ConfigurationError(f"{provider}: credential_source.format must be an object")
    kind = fmt.get("type", "text")
    if kind == "text":
        return _Format()
    if kind != "json":
        raise ConfigurationError(f"{provider}: credential_source.format.type must be 'text' or 'json', got {str(kind)[:40]!r}")
    field = fmt.get("subject_token_field_name")
    if not isinstance(field, str) or not field:
        raise ConfigurationError(f"{provider}: credential_source.format.subject_token_field_name is missing")
    return _Format(field)


def _headers(provider: str, source: Mapping[str, Any]) -> dict[str, str]:
    headers = source.get("headers") or {}
    if not isinstance(headers, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise ConfigurationError(f"{provider}: credential_source.headers must map header names to strings")
    return dict(headers)


def source_from_info(
    provider: str,
    source: object,
    *,
    make_fetcher: MakeFetcher,
    environ: Mapping[str, str],
    context: Mapping[str, str],
    aws: Callable[[Mapping[str, Any]], SubjectTokenSource],
) -> SubjectTokenSource:
    """The subject-token source `credential_source` describes; `ConfigurationError` naming the problem.

    `context` is what an executable is told (audience, token type); `aws` builds the AWS source.
    """
    if not isinstance(source, Mapping):
        raise ConfigurationError(f"{provider}: credential_source is missing or not an object")
    environment_id = source.get("environment_id")
    if isinstance(environment_id, str) and environment_id.startswith("aws"):
        return aws(source)
    if environment_id is not None:
        raise ConfigurationError(f"{provider}: credential_source.environment_id {str(environment_id)[:40]!r} is not supported")
    kinds = [key for key in ("file", "url", "executable", "certificate") if source.get(key)]
    if len(kinds) != 1:
        raise ConfigurationError(
            f"{provider}: credential_source must name exactly one of file, url, executable or environment_id"
            + (f" (it names {' and '.join(kinds)})" if kinds else "")
        )
    if kinds[0] == "file":
        return FileSource(provider, source["file"], _format(provider, source))
    if kinds[0] == "url":
        url = source["url"]
        if not isinstance(url, str):
            raise ConfigurationError(f"{provider}: credential_source.url must be a string")
        return UrlSource(provider, url, _headers(provider, source), _format(provider, source), make_fetcher)
    if kinds[0] == "executable":
        executable = source["executable"]
        if not isinstance(executable, Mapping):
            raise ConfigurationError(f"{provider}: credential_source.executable must be an object")
        return ExecutableSource(provider, executable, environ, context)
    raise ConfigurationError(f"{provider}: credential_source.certificate (X.509 federation) is not supported")
