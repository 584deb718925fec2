"""`ChainProvider`: the first credential source that is configured here wins.

Each source is a zero-argument callable that returns a provider, or raises
`SourceNotConfigured` when its variables or files are absent on this machine. Such a source is
skipped quickly and silently; a source that is configured but broken raises, so a typo is
never hidden behind a later source. The chain remembers the winner and `describe()` says, for
every source, whether it was chosen, skipped (and why), failed, or not tried — with no secret.
This is what the per-cloud default chains are built from.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Literal

from .credentials import Credential
from .errors import ConfigurationError, LiterAuthError, SourceNotConfigured
from .provider import CredentialProvider, Schedule

__all__ = ["ChainProvider", "SourceOutcome"]

_log = logging.getLogger("literauth.chain")

Source = Callable[[], CredentialProvider]
Status = Literal["chosen", "skipped", "failed", "not tried"]


@dataclasses.dataclass(frozen=True)
class SourceOutcome:
    """What happened to one source: `reason` says why it was skipped or how it failed."""

    name: str
    status: Status
    reason: str | None = None

    def __str__(self) -> str:
        return f"{self.name}: {self.status}" + (f" ({self.reason})" if self.reason else "")


class ChainProvider(CredentialProvider):
    """Resolves through the first source configured here; thread-safe, the choice made once.

    `sources` holds zero-argument callables, or ``(name, callable)`` pairs to name them in
    `describe()` (a callable's ``__name__`` is used otherwise). `credential_type` is what
    every source resolves to (`BearerToken` for a chain of bearer sources), for the auths
    that check it before their first request.
    """

    def __init__(
        self,
        sources: Sequence[Source | tuple[str, Source]],
        *,
        name: str = "chain",
        credential_type: type[Credential] = Credential,
    ) -> None:
        if not isinstance(sources, (list, tuple)) or not sources:
            raise TypeError("ChainProvider needs a non-empty list or tuple of sources")
        named: list[tuple[str, Source]] = []
        for index, item in enumerate(sources):
            label, source = item if isinstance(item, tuple) else (_name_of(item, index), item)
            if not callable(source) or not isinstance(label, str):
                raise TypeError(f"ChainProvider: source {index} is not a callable (or a (name, callable) pair)")
            named.append((label, source))
        self.name = name
        self.credential_type = credential_type  # type: ignore[misc]  # per chain, not per class
        self._sources = tuple(named)
        self._lock = threading.Lock()
        self._chosen: CredentialProvider | None = None
        self._outcomes: tuple[SourceOutcome, ...] = tuple(SourceOutcome(n, "not tried") for n, _ in named)

    @property
    def chosen(self) -> CredentialProvider | None:
        """The provider of the winning source, None before the first `resolve()`."""
        return self._chosen

    def choose(self) -> CredentialProvider:
        """Pick the source (once): the first that is configured; `SourceNotConfigured` if none is."""
        chosen = self._chosen
        if chosen is not None:
            return chosen
        with self._lock:
            if self._chosen is None:
                self._chosen = self._walk()
            return self._chosen

    def _walk(self) -> CredentialProvider:
        outcomes: list[SourceOutcome] = []
        for index, (label, source) in enumerate(self._sources):
            failure: LiterAuthError | None = None
            try:
                provider = source()
            except SourceNotConfigured as exc:
                outcomes.append(SourceOutcome(label, "skipped", str(exc)))
                continue
            except LiterAuthError as exc:
                failure = exc  # raised below, outside the handler
            if failure is not None:
                outcomes.append(SourceOutcome(label, "failed", str(failure)))
                self._finish(outcomes, index)
                raise failure
            outcomes.append(SourceOutcome(label, "chosen"))
            self._finish(outcomes, index)
            _log.info("%s: using %s", self.name, label)
            return provider
        self._outcomes = tuple(outcomes)
        raise SourceNotConfigured(
            f"{self.name}: no credential source is configured here; "
            + "; ".join(str(outcome) for outcome in outcomes)
        )

    def _finish(self, outcomes: list[SourceOutcome], index: int) -> None:
        rest = [SourceOutcome(label, "not tried") for label, _ in self._sources[index + 1 :]]
        self._outcomes = (*outcomes, *rest)

    def resolve(self, *, force_refresh: bool = False) -> Credential:
        """A credential from the chosen source (choosing it on the first call)."""
        return self.choose().resolve(force_refresh=force_refresh)

    def with_scope(self, scope: str) -> ChainProvider:
        """The same choice for another scope: a chain whose chosen source is `chosen.with_scope(scope)`.

        Chooses first if needed; `describe()` of the new chain is this one's.
        `ConfigurationError` when the chosen source has no other scopes.
        """
        chosen = self.choose()
        with_scope = getattr(chosen, "with_scope", None)
        if not callable(with_scope):
            label = next((o.name for o in self._outcomes if o.status == "chosen"), type(chosen).__name__)
            raise ConfigurationError(f"{self.name}: the chosen source ({label}) has no other scopes")
        scoped = object.__new__(type(self))  # a copy: providers refuse copy's pickle protocol
        scoped.__dict__.update(self.__dict__, _lock=threading.Lock(), _chosen=with_scope(scope))
        return scoped

    def invalidate(self) -> None:
        """Drop the chosen provider's cache; the choice itself stays."""
        if self._chosen is not None:
            self._chosen.invalidate()

    def invalidate_if_current(self, credential: Credential) -> bool:
        """The chosen provider's `invalidate_if_current()`; False before a source is chosen."""
        chosen = self._chosen
        return False if chosen is None else chosen.invalidate_if_current(credential)

    def schedule(self) -> Schedule | None:
        """The chosen provider's `schedule()`; None before a source is chosen."""
        chosen = self._chosen
        return None if chosen is None else chosen.schedule()

    def close(self) -> None:
        """Close the chosen provider."""
        if self._chosen is not None:
            self._chosen.close()

    def describe(self) -> tuple[SourceOutcome, ...]:
        """For each source in order: chosen, skipped (why), failed (why) or not tried."""
        return self._outcomes

    def __repr__(self) -> str:
        chosen = "none" if self._chosen is None else repr(self._chosen)
        return f"ChainProvider(name={self.name!r}, sources={[n for n, _ in self._sources]!r}, chosen={chosen})"


def _name_of(source: object, index: int) -> str:
    name = getattr(source, "__name__", None)
    return name if isinstance(name, str) and name != "<lambda>" else f"source {index}"
