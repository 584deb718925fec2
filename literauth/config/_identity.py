"""Identity sharing: one credential provider per identity, so one cache and one token each.

An entry with an `api_key` is identified by its key; entries with the same key share one
`StaticTokenProvider`. Keys are compared through their SHA-256 digest, never used as dict
keys in plaintext. Any other entry gets its credentials from the environment through the
registry spec its `provider_model` prefix selects; the environment is one snapshot per load,
so all entries of one spec have the same identity and share one provider.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .. import _registry
from .._registry import AnySpec, by_prefix
from ..chain import ChainProvider
from ..errors import ConfigProblem, ConfigurationError, LiterAuthError
from ..provider import (
    CredentialProvider,
    RefreshingCredentialProvider,
    StaticTokenProvider,
)
from ..secret import SecretString
from ._fields import CheckedEntry, FromEnvironment, ProviderModel, StaticKey

__all__ = ["Identities", "close_all", "share_identities", "spec_for"]


@dataclasses.dataclass(frozen=True)
class Identities:
    """The provider of each entry that has one (by index), and the problems found making them."""

    providers: Mapping[int, CredentialProvider]
    problems: tuple[ConfigProblem, ...]


class _Sharing:
    """The providers made so far in one load, by identity."""

    def __init__(self, source: str, environ: Mapping[str, str], options: Mapping[str, Any]) -> None:
        self.source = source
        self.environ = environ
        self.options = options
        self.static: dict[bytes, StaticTokenProvider] = {}  # sha256(key) -> its provider
        self.by_spec: dict[str, CredentialProvider] = {}  # spec name -> its provider
        self.failed: dict[str, int] = {}  # spec name -> index of the entry whose from_env() failed

    def static_for(self, key: SecretString) -> StaticTokenProvider:
        """The provider already made for this key, or a new one (remembered for the next)."""
        digest = hashlib.sha256(key.expose_secret().encode("utf-8", "surrogatepass")).digest()
        return self.static.setdefault(digest, StaticTokenProvider(key))

    def static_key(self, entry: CheckedEntry, key: SecretString) -> StaticTokenProvider | ConfigProblem:
        """The shared provider for an `api_key`, or the problem with the key (never its value)."""
        problem = None
        try:
            return self.static_for(key)
        except ConfigurationError as exc:  # a key with whitespace or control characters
            problem = str(exc)
        return self._problem(entry, problem, "api_key")

    def from_environment(self, entry: CheckedEntry, provider_model: ProviderModel) -> CredentialProvider | ConfigProblem:
        """The spec's shared provider for `entry`, or the problem that stops it."""
        spec = by_prefix(provider_model.provider)
        if spec is None:
            return self._needs_api_key(entry, provider_model)
        prefix = provider_model.provider  # a registry prefix: a constant, not a secret
        if spec.name in self.failed:
            return self._problem(
                entry, f"{prefix}/ credentials from the environment: not configured (see models[{self.failed[spec.name]}])"
            )
        known = self.by_spec.get(spec.name)
        if known is None:
            try:
                known = _chosen(spec.from_env(self.environ, **self.options))
            except ConfigurationError as exc:
                message = str(exc)
            else:
                if isinstance(known, StaticTokenProvider):  # e.g. AZURE_AD_TOKEN: a static token
                    known = self.static_for(known.resolve().token)  # no I/O: a static provider holds its token
                self.by_spec[spec.name] = known
                return known
            self.failed[spec.name] = entry.index
            return self._problem(
                entry, f"{prefix}/ credentials from the environment: {message} (or set api_key for a static token)"
            )
        return known

    def _needs_api_key(self, entry: CheckedEntry, provider_model: ProviderModel) -> ConfigProblem:
        if provider_model.text.from_variables:  # the prefix came from a variable: derive nothing from it
            variable = "PROVIDER_API_KEY"
        else:
            variable = re.sub(r"[^A-Z0-9]+", "_", provider_model.provider.upper()).strip("_") + "_API_KEY"
        known = ", ".join(f"{prefix}/" for prefix in _registry.config_prefixes())
        return self._problem(
            entry,
            f"provider {provider_model.provider_quoted} has no credentials from the environment (only {known} do); "
            f"add api_key, e.g. api_key = \"${{{variable}}}\"",
            "api_key",
        )

    def _problem(self, entry: CheckedEntry, message: str, field: str | None = None) -> ConfigProblem:
        return ConfigProblem(self.source, message, entry.index, entry.label, field)


def _chosen(provider: CredentialProvider) -> CredentialProvider:
    """A chain's chosen provider (chosen now: variables and files, at most one bounded probe).

    So a model's credentials are those of one source, a misconfigured environment is found
    at load time like any other problem, and an AZURE_AD_TOKEN is shared with an equal key.
    """
    if not isinstance(provider, ChainProvider):
        return provider
    try:
        return provider.choose()
    except LiterAuthError as exc:
        if isinstance(exc, ConfigurationError):
            raise
        raise ConfigurationError(str(exc)) from None


def share_identities(
    source: str, entries: Sequence[CheckedEntry], environ: Mapping[str, str], options: Mapping[str, Any]
) -> Identities:
    """A provider for every entry with an identity, shared by identity; nothing is fetched.

    Entries of broken configurations get providers too, so that every problem of the
    environment is found in one pass; the caller closes them if it does not keep them.
    """
    sharing = _Sharing(source, environ, options)
    providers: dict[int, CredentialProvider] = {}
    problems: list[ConfigProblem] = []
    for entry in entries:
        identity = entry.identity
        result: CredentialProvider | ConfigProblem
        if isinstance(identity, StaticKey):
            result = sharing.static_key(entry, identity.key)
        elif isinstance(identity, FromEnvironment):
            result = sharing.from_environment(entry, identity.provider_model)
        else:
            continue  # identity None: provider_model or api_key is unusable and already reported
        if isinstance(result, ConfigProblem):
            problems.append(result)
        else:
            providers[entry.index] = result
    return Identities(providers, tuple(problems))


def spec_for(entry: CheckedEntry) -> AnySpec | None:
    """The registry spec giving `entry` its credentials, or None (an api_key, or no spec)."""
    if isinstance(entry.identity, FromEnvironment):
        return by_prefix(entry.identity.provider_model.provider)
    return None


def close_all(providers: Iterable[CredentialProvider]) -> None:
    """Close each distinct refreshing provider once (they own HTTP sessions)."""
    for provider in {id(p): p for p in providers}.values():
        if isinstance(provider, RefreshingCredentialProvider):
            provider.close()
