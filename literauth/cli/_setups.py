"""The setups `literauth token KIND` and `literauth check` build from the environment.

Every provider setup comes from the registry: a cloud's default chain (`CHAINS`) for each of
its commands, then any spec whose `command` no chain claims. `static` (the token in
LITERAUTH_TOKEN) is the CLI's own kind.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from .._registry import AnySpec, ProviderSpec, commands
from ..cache import FileCache
from ..errors import ConfigurationError
from ..provider import CredentialProvider, StaticTokenProvider
from ._common import STATIC_TOKEN_VARIABLE

__all__ = ["SETUPS", "STATIC", "Setup", "build", "by_kind", "close", "command_cache", "substitutes"]

_log = logging.getLogger("literauth.cli")


def command_cache(enabled: bool) -> FileCache | bool:
    """The store `token` and `check --fetch` share tokens through: the user's `FileCache`.

    So a shell loop running `literauth token` costs one token request per token lifetime.
    False with ``--no-cache``, or when the cache cannot be used (its directory is refused,
    `cryptography` is missing): the command then fetches, after one WARNING saying why.
    """
    if not enabled:
        return False
    try:
        return FileCache()
    except ConfigurationError as exc:
        _log.warning("%s; going on without the token cache (--no-cache skips it)", exc)
        return False

STATIC = "static"

@dataclasses.dataclass(frozen=True)
class Setup:
    """One `token` kind: a registry chain or spec, or `static` (spec `None`)."""

    kind: str
    spec: AnySpec | None

    @property
    def class_name(self) -> str:
        return StaticTokenProvider.__name__ if self.spec is None else self.spec.class_name

    @property
    def required_env(self) -> tuple[str, ...]:
        return (STATIC_TOKEN_VARIABLE,) if self.spec is None else self.spec.required_env

    @property
    def credential(self) -> str:
        """``bearer`` or ``aws``: what `resolve()` returns."""
        return "bearer" if self.spec is None else self.spec.credential

    @property
    def scoped(self) -> bool:
        return self.spec is not None and self.spec.scoped

    @property
    def label(self) -> str:
        """The name its errors start with (``azure.client_secret: ...``)."""
        return STATIC if self.spec is None else self.spec.name


SETUPS: tuple[Setup, ...] = (
    *(Setup(kind, spec) for kind, spec in commands()),
    Setup(STATIC, None),
)


def by_kind(kind: str) -> Setup:
    """The setup of `literauth token KIND` (argparse has already checked `kind`)."""
    return next(setup for setup in SETUPS if setup.kind == kind)


def build(setup: Setup, environ: Mapping[str, str], **options: Any) -> CredentialProvider:
    """The provider `setup` builds from `environ`, as its `from_env()` does.

    Its errors are the provider's own, which also name flows it does not support yet.
    """
    if setup.spec is None:
        token = (environ.get(STATIC_TOKEN_VARIABLE) or "").strip()
        if not token:
            raise ConfigurationError(
                f"{STATIC_TOKEN_VARIABLE} is not set or empty; 'token static' prints that token"
            )
        return StaticTokenProvider(token)
    return setup.spec.from_env(environ, **options)


def substitutes(setup: Setup, environ: Mapping[str, str]) -> tuple[str, ...]:
    """The optional variables that made `from_env()` build another class than the spec's.

    `AzureAdCredentialProvider.from_env()` returns a `StaticTokenProvider` when
    AZURE_AD_TOKEN is set; this finds such a variable without naming it: it is one whose
    removal gives back the spec's own class (or no provider at all).
    """
    if not isinstance(setup.spec, ProviderSpec) or _built_class(setup.spec, environ) in (None, setup.spec.class_name):
        return ()  # a chain explains itself through describe()
    found = []
    for variable in setup.spec.optional_env:
        if not (environ.get(variable) or "").strip():
            continue
        without = {k: v for k, v in environ.items() if k != variable}
        if _built_class(setup.spec, without) != _built_class(setup.spec, environ):
            found.append(variable)
    return tuple(found)


def _built_class(spec: ProviderSpec, environ: Mapping[str, str]) -> str | None:
    """The class name `spec.from_env(environ)` builds, or `None` when it cannot."""
    try:
        provider = spec.from_env(environ, background_refresh=False)
    except ConfigurationError:
        return None
    close(provider)
    return type(provider).__name__


def close(provider: object) -> None:
    """Close `provider` if it has a `close()` (a static provider has nothing to close)."""
    closer = getattr(provider, "close", None)
    if callable(closer):
        closer()
