"""`literauth token KIND`: build one provider from the environment, fetch once, print the credential.

One renderer per `--format`; each knows the credential kinds it prints. The default format
and the formats allowed come from the setup's credential kind (`bearer` or `aws`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
from collections.abc import Callable, Mapping
from typing import TypeVar

from ..chain import ChainProvider
from ..credentials import AwsCredentials, BearerToken, Credential
from ..errors import ConfigurationError
from ..provider import CredentialProvider, RefreshingCredentialProvider
from ._common import EXIT_OK, PROG, STATIC_TOKEN_VARIABLE, UsageError, iso
from ._progress import Progress
from ._setups import SETUPS, Setup, build, by_kind, close, command_cache

__all__ = ["DEFAULT_FORMAT", "FORMATS", "render_credential", "run"]

_log = logging.getLogger("literauth.cli")
_HINT = f"run '{PROG} token --help' for usage"
_C = TypeVar("_C", bound=Credential)


def _bearer_token(credential: BearerToken) -> str:
    return credential.token.expose_secret() + "\n"


def _bearer_json(credential: BearerToken) -> str:
    document = {
        "token_type": "Bearer",
        "access_token": credential.token.expose_secret(),
        "expires_at": iso(credential.expires_at),
    }
    return json.dumps(document) + "\n"


def _bearer_env(credential: BearerToken) -> str:
    return f"export {STATIC_TOKEN_VARIABLE}={shlex.quote(credential.token.expose_secret())}\n"


def _aws_keys(credential: AwsCredentials) -> dict[str, str | None]:
    session = credential.session_token
    return {
        "AccessKeyId": credential.access_key_id.expose_secret(),
        "SecretAccessKey": credential.secret_access_key.expose_secret(),
        "SessionToken": None if session is None else session.expose_secret(),
    }


def _aws_json(credential: AwsCredentials) -> str:
    keys = _aws_keys(credential)
    document = {
        "access_key_id": keys["AccessKeyId"],
        "secret_access_key": keys["SecretAccessKey"],
        "session_token": keys["SessionToken"],
        "expires_at": iso(credential.expires_at),
    }
    return json.dumps(document) + "\n"


_AWS_VARIABLES = {
    "AccessKeyId": "AWS_ACCESS_KEY_ID",
    "SecretAccessKey": "AWS_SECRET_ACCESS_KEY",
    "SessionToken": "AWS_SESSION_TOKEN",
}


def _aws_env(credential: AwsCredentials) -> str:
    keys = _aws_keys(credential)
    lines = [f"export {_AWS_VARIABLES[k]}={shlex.quote(v)}" for k, v in keys.items() if v is not None]
    expires = iso(credential.expires_at)
    if expires is not None:
        lines.append(f"export AWS_CREDENTIAL_EXPIRATION={expires}")  # botocore reads it
    return "\n".join(lines) + "\n"


def _aws_credential_process(credential: AwsCredentials) -> str:
    """The AWS CLI/SDK `credential_process` document (Version 1)."""
    document: dict[str, object] = {"Version": 1}
    document.update({k: v for k, v in _aws_keys(credential).items() if v is not None})
    expires = iso(credential.expires_at)
    if expires is not None:
        document["Expiration"] = expires
    return json.dumps(document) + "\n"


def _for(kind: type[_C], render: Callable[[_C], str]) -> tuple[type[Credential], Callable[[Credential], str]]:
    """A renderer for credentials of `kind`, in a shape the table can hold."""
    def checked(credential: Credential) -> str:
        assert isinstance(credential, kind)
        return render(credential)
    return kind, checked


# format -> credential kind ("bearer"/"aws") -> (the class it prints, renderer)
_RENDERERS: Mapping[str, Mapping[str, tuple[type[Credential], Callable[[Credential], str]]]] = {
    "token": {"bearer": _for(BearerToken, _bearer_token)},
    "json": {"bearer": _for(BearerToken, _bearer_json), "aws": _for(AwsCredentials, _aws_json)},
    "env": {"bearer": _for(BearerToken, _bearer_env), "aws": _for(AwsCredentials, _aws_env)},
    "credential-process": {"aws": _for(AwsCredentials, _aws_credential_process)},
}
FORMATS = tuple(_RENDERERS)
DEFAULT_FORMAT: Mapping[str, str] = {"bearer": "token", "aws": "json"}
_CREDENTIAL_KINDS = {BearerToken: "bearer", AwsCredentials: "aws"}
_DESCRIBED = {"bearer": "a bearer token", "aws": "AWS keys"}


def render_credential(credential: Credential, fmt: str) -> str:
    """The text `literauth token` prints for `credential` in format `fmt` (secrets included)."""
    kind = next((k for cls, k in _CREDENTIAL_KINDS.items() if isinstance(credential, cls)), None)
    if kind is None:
        raise UsageError(f"cannot print a {type(credential).__name__}", _HINT)
    renderer = _RENDERERS[fmt].get(kind)
    if renderer is None:
        raise UsageError(f"--format {fmt} does not apply to {_DESCRIBED[kind]}", _HINT)
    return renderer[1](credential)


def _check_usage(setup: Setup, fmt: str, scope: str | None) -> None:
    if scope is not None and not setup.scoped:
        scoped = " and ".join(s.kind for s in SETUPS if s.scoped)
        raise UsageError(f"--scope applies to {scoped}, not {setup.kind}", _HINT)
    if setup.credential not in _RENDERERS[fmt]:
        fits = ", ".join(f for f, kinds in _RENDERERS.items() if setup.credential in kinds)
        raise UsageError(
            f"--format {fmt} does not apply to {setup.kind}, which gives {_DESCRIBED[setup.credential]} "
            f"(use {fits})", _HINT,
        )


def _with_scope(provider: CredentialProvider, scope: str) -> CredentialProvider:
    """The provider for `scope`; a ready-made token (AZURE_AD_TOKEN) serves every scope as it is."""
    with_scope: Callable[[str], CredentialProvider] | None = getattr(provider, "with_scope", None)
    if with_scope is None:
        raise ConfigurationError(f"{type(provider).__name__} has no other scopes")
    scoped = with_scope(scope)
    if scoped is provider:
        return provider
    close(provider)
    return scoped


def run(args: argparse.Namespace, ui: Progress) -> int:
    """The `token` command."""
    setup = by_kind(args.provider)
    fmt: str = args.format or DEFAULT_FORMAT[setup.credential]
    _check_usage(setup, fmt, args.scope)
    environ = dict(os.environ)
    options = {} if setup.spec is None else {"cache": command_cache(not args.no_cache)}
    provider = build(setup, environ, background_refresh=False, **options)
    _log.debug("%s: %r built from the environment", setup.kind, provider)
    try:
        if isinstance(provider, ChainProvider):  # the chosen source (and why) is logged at INFO
            provider = provider.choose()
        if args.scope is not None:
            provider = _with_scope(provider, args.scope)
        if isinstance(provider, RefreshingCredentialProvider):
            with ui.task(f"{setup.kind}: requesting a credential"):
                credential = provider.resolve()
        else:  # a ready-made token: nothing is requested
            credential = provider.resolve()
    finally:
        close(provider)
    sys.stdout.write(render_credential(credential, fmt))
    sys.stdout.flush()
    return EXIT_OK
