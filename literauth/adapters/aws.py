"""boto3 and botocore sessions whose AWS keys come from a literauth provider.

`botocore_session(provider)` puts a literauth `CredentialProvider` at the head of the
session's credential chain (`get_component("credential_provider").insert_before(...)`, the
injection point botocore documents). It returns `RefreshableCredentials` whose refresh calls
`provider.resolve()`; botocore asks whether a refresh is needed before every signing, and the
answer is literauth's (one `resolve()`, a cache hit): a refresh, a rotation or an
`invalidate()` reaches the very next request, unchanged keys cost nothing more, and a failing
resolve raises botocore's `CredentialRetrievalError` with literauth's message. The chain never
falls through to environment keys, a profile or IMDS.
botocore and boto3 are imported on the first call, not with this module.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..aws._sigv4 import check_name
from ..credentials import UTC, AwsCredentials
from ..errors import LiterAuthError
from ..integrations._rejection import check_provider
from ..provider import SupportsResolve
from ._lazy import require

if TYPE_CHECKING:
    import boto3
    import botocore.session

__all__ = ["METHOD", "boto3_session", "botocore_session"]

#: How the credentials are named in botocore (`session.get_credentials().method`).
METHOD = "literauth"
# Outside botocore, a provider's canonical name must start with "custom" (botocore's rule).
_CANONICAL_NAME = "custom-literauth"
# Both refresh windows, for when a refresh is due (literauth's keys changed): mandatory, so a
# failure raises instead of botocore signing on with keys literauth no longer hands out.
_ALWAYS = float("inf")
# A credential that never expires is reported as valid for a day; it is re-asked anyway.
_NO_EXPIRY = timedelta(days=1)


def botocore_session(provider: SupportsResolve, *, region: str | None = None) -> botocore.session.Session:
    """A new botocore session signing with `provider`'s `AwsCredentials`.

    `region` is the session's region; `None` takes the provider's `region` if it has one,
    else botocore's own lookup (``AWS_REGION``, the config file).
    """
    check_provider(provider, "botocore_session")
    chosen = region if region is not None else getattr(provider, "region", None)
    if chosen is not None:
        check_name("region", chosen, owner="botocore_session")
    session = require("botocore.session", package="botocore").Session()
    resolver = session.get_component("credential_provider")
    resolver.insert_before(resolver.providers[0].METHOD, _provider_class()(provider))
    if chosen is not None:
        session.set_config_variable("region", chosen)
    return session


def boto3_session(provider: SupportsResolve, *, region: str | None = None) -> boto3.Session:
    """A new `boto3.Session` over `botocore_session(provider, region=region)`."""
    boto3_module = require("boto3", package="boto3")
    return boto3_module.Session(botocore_session=botocore_session(provider, region=region))


class _KeySource:
    """Turns the provider's keys into botocore's refresh metadata; remembers which it handed over."""

    def __init__(self, provider: SupportsResolve) -> None:
        self.provider = provider
        self._handed: object = None  # the credential botocore holds now (the last metadata made)

    def changed(self) -> bool:
        """Whether literauth would now hand out other keys than botocore holds (or fail: True).

        One `resolve()`, a cache hit: what botocore's `refresh_needed()` asks before signing.
        """
        try:
            current = self.provider.resolve()
        except Exception:  # noqa: BLE001 - the refresh that follows raises it, translated
            return True
        return current is not self._handed and current != self._handed

    def metadata(self) -> dict[str, str | None]:
        """The provider's current keys in the shape botocore refreshes from.

        `expiry_time` is an ISO 8601 string with its UTC offset: botocore compares it with an
        aware local time, and a naive one fails there. Any literauth failure becomes botocore's
        `CredentialRetrievalError`, which boto3 users already handle, with literauth's message.
        """
        exceptions = require("botocore.exceptions", package="botocore")
        try:
            credential = self.provider.resolve()
        except LiterAuthError as exc:
            raise exceptions.CredentialRetrievalError(provider=METHOD, error_msg=str(exc)) from exc
        if not isinstance(credential, AwsCredentials):
            raise exceptions.CredentialRetrievalError(
                provider=METHOD,
                error_msg=f"{type(self.provider).__name__} returned {type(credential).__name__}, not "
                "AwsCredentials; botocore signs with AWS keys",
            )
        self._handed = credential
        expires_at = credential.expires_at or datetime.now(UTC) + _NO_EXPIRY
        token = credential.session_token
        return {
            "access_key": credential.access_key_id.expose_secret(),
            "secret_key": credential.secret_access_key.expose_secret(),
            "token": None if token is None else token.expose_secret(),
            "expiry_time": expires_at.isoformat(),
        }


@functools.cache
def _provider_class() -> type[Any]:
    """The botocore `CredentialProvider` subclass (and its credentials class), built once botocore is imported."""
    credentials = require("botocore.credentials", package="botocore")
    provider_base: Any = credentials.CredentialProvider
    credentials_base: Any = credentials.RefreshableCredentials

    class LiterauthCredentials(credentials_base):  # type: ignore[misc]  # botocore is untyped
        """botocore's refreshable credentials, due for refresh exactly when literauth's keys changed.

        botocore calls `refresh_needed()` before every signing; asking literauth there (a cache
        hit) instead of comparing expiry windows means new keys are taken at the next signing
        and unchanged ones cost no refresh (botocore parses the expiry on every refresh).
        """

        _source: _KeySource

        def refresh_needed(self, refresh_in: float | None = None) -> bool:
            return self._source.changed()

    class LiterauthCredentialProvider(provider_base):  # type: ignore[misc]  # botocore is untyped
        """The head of the chain: loads once, raises rather than falling through on failure."""

        METHOD = METHOD
        CANONICAL_NAME = _CANONICAL_NAME

        def __init__(self, provider: SupportsResolve) -> None:
            super().__init__()
            self._provider = provider

        def load(self) -> Any:
            source = _KeySource(self._provider)
            loaded = LiterauthCredentials.create_from_metadata(
                source.metadata(), source.metadata, METHOD, advisory_timeout=_ALWAYS, mandatory_timeout=_ALWAYS
            )
            loaded._source = source
            return loaded

        def __repr__(self) -> str:
            return f"LiterauthCredentialProvider({self._provider!r})"

    return LiterauthCredentialProvider
