"""`AzureTokenCredential`: any literauth bearer-token provider as an azure-core credential.

It implements azure-core's `TokenCredential` (`get_token`) and `SupportsTokenInfo`
(`get_token_info`, `close`, the context manager), so every Azure SDK client takes it as
`credential=`. azure-core's `BearerTokenCredentialPolicy` keeps its own copy of the token;
the adapter reports `refresh_on` as already due, so the policy asks again on every request
and a literauth cache hit (no lock, no I/O) answers it: an `invalidate()` or a rotation is
seen at the next call. azure-core is imported when the first adapter is built.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import TYPE_CHECKING, Any

from ..chain import ChainProvider
from ..credentials import AwsCredentials, BearerToken, Credential
from ..errors import ConfigurationError, LiterAuthError
from ..integrations._rejection import drop_if_current
from ..integrations.requests import check_provider
from ._lazy import require

if TYPE_CHECKING:
    from types import ModuleType

    from azure.core.credentials import AccessToken, AccessTokenInfo, TokenRequestOptions
    from typing_extensions import Self  # noqa: UP035 - Python 3.10 has no typing.Self

    from ..provider import SupportsResolve

__all__ = ["AzureTokenCredential"]

#: `expires_on` for a token that never expires: the field is required, so one day from now.
NEVER_EXPIRES = 86400
#: `refresh_on` meaning "refresh now": any past time, but not 0, which azure-core reads as unset.
_DUE = 1


@dataclasses.dataclass
class _Audience:
    """The provider serving one scope, and the last CAE challenge it answered (claims, credential)."""

    provider: SupportsResolve
    owned: bool  # made here by with_scope(): close() closes it
    answered: tuple[str, Credential] | None = None


class AzureTokenCredential:
    """An azure-core `TokenCredential` and `SupportsTokenInfo` fed by a literauth provider.

    A scope other than the provider's: served by `provider.with_scope(scope)`, made once and
    kept; a provider without `with_scope()` raises `ConfigurationError` naming both scopes.
    A provider that names no scope serves whatever scope is asked. A failing provider raises
    azure-core's `ClientAuthenticationError` with literauth's message. A CAE `claims`
    challenge forces one refresh of the rejected token (literauth sends no claims to the
    identity provider; the new token is simply a fresh one). `close()` closes the per-scope
    providers made here, never the provider passed in (its owner closes it).
    """

    def __init__(self, provider: SupportsResolve) -> None:
        self._credentials: ModuleType = require("azure.core.credentials", package="azure-core")
        self._exceptions: ModuleType = require("azure.core.exceptions", package="azure-core")
        self.provider = check_provider(provider, "AzureTokenCredential")
        if getattr(provider, "credential_type", None) is AwsCredentials:
            raise ConfigurationError(
                f"AzureTokenCredential needs a bearer-token provider; {type(provider).__name__} returns AWS keys"
            )
        self._lock = threading.Lock()
        self._own = _Audience(self.provider, owned=False)
        self._audiences: dict[str, _Audience] = {}

    # -- azure-core's protocols ------------------------------------------------------------

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        """`TokenCredential.get_token`: the current token and its expiry (int epoch seconds).

        `enable_cae` is accepted and ignored: literauth does not ask for CAE-capable tokens.
        """
        token, expires_on = self._token(scopes, claims, tenant_id)
        result: AccessToken = self._credentials.AccessToken(token, expires_on)
        return result

    def get_token_info(self, *scopes: str, options: TokenRequestOptions | None = None) -> AccessTokenInfo:
        """`SupportsTokenInfo.get_token_info`: as `get_token`, with `refresh_on` already due."""
        options = options or {}
        token, expires_on = self._token(scopes, options.get("claims"), options.get("tenant_id"))
        result: AccessTokenInfo = self._credentials.AccessTokenInfo(token, expires_on, refresh_on=_DUE)
        return result

    def close(self) -> None:
        """Close the per-scope providers this adapter made; the one passed in stays open."""
        with self._lock:
            made = [a.provider for a in self._audiences.values() if a.owned]
            self._audiences.clear()
        for provider in made:
            close = getattr(provider, "close", None)
            if callable(close):
                close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"AzureTokenCredential({self.provider!r})"

    # -- the work ---------------------------------------------------------------------------

    def _token(self, scopes: tuple[str, ...], claims: str | None, tenant_id: str | None) -> tuple[str, int]:
        audience = self._audience(scopes, tenant_id)
        credential = self._answer(audience, claims) if claims else self._resolve(audience)
        expires = credential.expires_at_epoch
        expires_on = int(time.time()) + NEVER_EXPIRES if expires is None else int(expires)
        return credential.token.expose_secret(), expires_on

    def _audience(self, scopes: tuple[str, ...], tenant_id: str | None) -> _Audience:
        """The provider for `scopes`: this one, or one made for the scope by `with_scope()`."""
        if len(scopes) > 1:
            raise ConfigurationError(
                f"AzureTokenCredential: one scope per token request, got {len(scopes)}: {', '.join(scopes)}"
            )
        target = self._target()
        _check_tenant(target, tenant_id)
        if not scopes:
            return self._own
        scope = scopes[0]
        audience = self._audiences.get(scope)  # one dict read: no lock on the hot path
        if audience is not None:
            return audience
        with self._lock:
            audience = self._audiences.get(scope)
            if audience is None:
                audience = self._audiences[scope] = self._new_audience(target, scope)
        return audience

    def _target(self) -> object:
        """The provider that knows the scope: for a chain, its chosen source."""
        provider = self.provider
        if not isinstance(provider, ChainProvider):
            return provider
        failure: LiterAuthError | None = None
        try:
            return provider.choose()
        except LiterAuthError as exc:
            failure = exc
        raise self._auth_error(failure) from failure

    def _new_audience(self, target: object, scope: str) -> _Audience:
        configured = getattr(target, "scope", None)
        if configured == scope:
            return self._own
        with_scope = getattr(target, "with_scope", None)
        if callable(with_scope):
            derived = with_scope(scope)
            return self._own if derived is target else _Audience(check_provider(derived, "with_scope()"), owned=True)
        if not isinstance(configured, str):
            return self._own  # the provider names no scope: its token is what there is
        raise ConfigurationError(
            f"AzureTokenCredential: the SDK asked for scope {scope!r} but {type(target).__name__} is "
            f"configured for {configured!r} and has no with_scope(); build the provider with scope={scope!r}"
        )

    def _resolve(self, audience: _Audience) -> BearerToken:
        failure: LiterAuthError | None = None
        try:
            credential = audience.provider.resolve()
        except LiterAuthError as exc:
            failure = exc
        if failure is not None:
            raise self._auth_error(failure) from failure
        if not isinstance(credential, BearerToken):
            raise ConfigurationError(
                f"AzureTokenCredential needs a BearerToken but {type(audience.provider).__name__} "
                f"returned {type(credential).__name__}"
            )
        return credential

    def _answer(self, audience: _Audience, claims: str) -> BearerToken:
        """After a CAE challenge: drop the rejected token once, however many requests report it.

        A challenge with the same claims while the token that answered it is still current
        is the same rejection seen by another request (or one a refresh cannot fix, since the
        claims are not sent on): it is answered with that token, not with another fetch.
        """
        current = self._resolve(audience)
        with self._lock:
            answered = audience.answered
        if answered is not None and answered[0] == claims and answered[1] is current:
            return current
        drop_if_current(audience.provider, current)
        fresh = self._resolve(audience)
        with self._lock:
            audience.answered = (claims, fresh)
        return fresh

    def _auth_error(self, failure: LiterAuthError) -> Exception:
        error: Exception = self._exceptions.ClientAuthenticationError(message=f"literauth: {failure}")
        return error


def _check_tenant(target: object, tenant_id: str | None) -> None:
    configured = getattr(target, "tenant_id", None)
    if tenant_id and isinstance(configured, str) and tenant_id.lower() != configured.lower():
        raise ConfigurationError(
            f"AzureTokenCredential: the SDK asked for tenant {tenant_id!r} but {type(target).__name__} "
            f"serves tenant {configured!r}"
        )
