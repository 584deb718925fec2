"""boto3 and botocore sessions whose AWS keys come from a literauth provider.

`botocore_session(provider)` puts a literauth `CredentialProvider` at the head of the
session's credential chain (`get_component("credential_provider").insert_before(...)`, the
injection point botocore documents). It returns `RefreshableCredentials` whose refresh calls
`provider.resolve()`, with both refresh windows infinite: botocore asks literauth before every
signing, a cache hit there, so a refresh, a rotation or an `invalidate()` reaches the very
next request, and a failing resolve raises botocore's `CredentialRetrievalError` with
literauth's message. The chain never falls through to environment keys, a profile or IMDS.
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
# Both refresh windows: every signing is "inside" them, so botocore asks literauth each time,
# and the mandatory one makes a failure raise instead of signing on with the old keys.
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


def _metadata(provider: SupportsResolve) -> dict[str, str | None]:
    """The provider's current keys in the shape botocore refreshes from.

    `expiry_time` is an ISO 8601 string with its UTC offset: botocore compares it with an
    aware local time, and a naive one fails there. Any literauth failure becomes botocore's
    `CredentialRetrievalError`, which boto3 users already handle, with literauth's message.
    """
    exceptions = require("botocore.exceptions", package="botocore")
    try:
        credential = provider.resolve()
    except LiterAuthError as exc:
        raise exceptions.CredentialRetrievalError(provider=METHOD, error_msg=str(exc)) from exc
    if not isinstance(credential, AwsCredentials):
        raise exceptions.CredentialRetrievalError(
            provider=METHOD,
            error_msg=f"{type(provider).__name__} returned {type(credential).__name__}, not AwsCredentials; "
            "botocore signs with AWS keys",
        )
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
    """The botocore `CredentialProvider` subclass, built once botocore is imported."""
    credentials = require("botocore.credentials", package="botocore")
    base: Any = credentials.CredentialProvider

    class LiterauthCredentialProvider(base):  # type: ignore[misc]  # botocore is untyped
        """The head of the chain: loads once, raises rather than falling through on failure."""

        METHOD = METHOD
        CANONICAL_NAME = _CANONICAL_NAME

        def __init__(self, provider: SupportsResolve) -> None:
            super().__init__()
            self._provider = provider

        def load(self) -> Any:
            refresh = functools.partial(_metadata, self._provider)
            return credentials.RefreshableCredentials.create_from_metadata(
                refresh(), refresh, METHOD, advisory_timeout=_ALWAYS, mandatory_timeout=_ALWAYS
            )

        def __repr__(self) -> str:
            return f"LiterauthCredentialProvider({self._provider!r})"

    return LiterauthCredentialProvider
