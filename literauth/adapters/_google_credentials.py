"""The google-auth `Credentials` subclass behind `literauth.adapters.google.GoogleCredentials`.

Imported on first use only: it imports google-auth at the top, which `google.py` must not.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

from google.auth import credentials as google_credentials
from google.auth import exceptions as google_exceptions

from ..credentials import UTC, AwsCredentials, BearerToken
from ..errors import ConfigurationError, LiterAuthError
from ..integrations._rejection import fresher_credential
from ..integrations.requests import check_provider

if TYPE_CHECKING:
    from collections.abc import Mapping, MutableMapping

    from ..provider import SupportsResolve

__all__ = ["GoogleCredentials"]


class GoogleCredentials(google_credentials.CredentialsWithQuotaProject):
    """google-auth credentials whose token, expiry and validity are the provider's, read live.

    Every read of `token`, `expiry`, `valid`, `expired` or `token_state` asks
    `provider.resolve()` (a cache hit: no lock, no I/O), so google-auth's own early-refresh
    window and refresh thread never engage and an `invalidate()` or a rotation reaches the
    next request. `expired` is True only when the provider cannot serve a credential; the
    SDK then calls `refresh()`, which raises `RefreshError` with literauth's message.
    `refresh(request)` is what `AuthorizedSession` calls after a 401: it drops the token this
    thread last handed out if the provider still holds it (threads rejected together cost
    one fetch), then resolves. `request` (a google-auth transport) is not used: the provider
    makes its own requests.
    """

    def __init__(self, provider: SupportsResolve, *, quota_project_id: str | None = None) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # assigns token and expiry: the setters ignore it
        self._provider = check_provider(provider, "GoogleCredentials")
        if getattr(provider, "credential_type", None) is AwsCredentials:
            raise ConfigurationError(
                f"GoogleCredentials needs a bearer-token provider; {type(provider).__name__} returns AWS keys"
            )
        if quota_project_id is not None and (not isinstance(quota_project_id, str) or not quota_project_id.strip()):
            raise ConfigurationError("GoogleCredentials: quota_project_id must be a non-empty project ID or None")
        self._quota_project_id = quota_project_id
        self._last = threading.local()  # the credential each thread last read: what its request carried

    @property
    def provider(self) -> SupportsResolve:
        """The literauth provider behind these credentials."""
        return self._provider

    # -- read through to the provider --------------------------------------------------------

    def _resolve(self) -> BearerToken:
        """The provider's credential, remembered for this thread; `RefreshError` on failure."""
        failure: LiterAuthError | None = None
        try:
            credential = self._provider.resolve()
        except LiterAuthError as exc:
            failure = exc
        if failure is not None:
            raise google_exceptions.RefreshError(f"literauth: {failure}") from failure  # type: ignore[no-untyped-call]
        if not isinstance(credential, BearerToken):
            raise ConfigurationError(
                f"GoogleCredentials needs a BearerToken but {type(self._provider).__name__} "
                f"returned {type(credential).__name__}"
            )
        self._last.credential = credential
        return credential

    def _usable(self) -> BearerToken | None:
        """The current credential, or None when the provider cannot serve one now."""
        try:
            return self._resolve()
        except google_exceptions.RefreshError:
            return None

    @property
    def token(self) -> str | None:
        """The provider's current access token; None when it has none to serve."""
        credential = self._usable()
        return None if credential is None else credential.token.expose_secret()

    @token.setter
    def token(self, value: object) -> None:
        """Ignored: google-auth's constructor assigns None; the provider holds the token."""

    @property
    def expiry(self) -> datetime | None:
        """The current token's expiry as a naive UTC datetime (google-auth's convention); None: never."""
        credential = self._usable()
        if credential is None or credential.expires_at is None:
            return None
        return credential.expires_at.astimezone(UTC).replace(tzinfo=None)

    @expiry.setter
    def expiry(self, value: object) -> None:
        """Ignored, as for `token`."""

    @property
    def expired(self) -> bool:
        """True only when the provider cannot serve a credential: literauth refreshes ahead of time."""
        return self._usable() is None

    @property
    def valid(self) -> bool:
        """True while the provider serves a credential."""
        return self._usable() is not None

    @property
    def token_state(self) -> google_credentials.TokenState:
        """FRESH while the provider serves a credential (it refreshes it itself), else INVALID."""
        return google_credentials.TokenState.INVALID if self._usable() is None else google_credentials.TokenState.FRESH

    # -- what google-auth and its transports call ----------------------------------------------

    def refresh(self, request: Any) -> None:
        """After a rejection: drop this thread's last token if still cached, then resolve.

        Raises `RefreshError` (a `GoogleAuthError`) with literauth's message when the provider fails.
        """
        used = getattr(self._last, "credential", None)
        if used is None:
            self._resolve()
        else:
            fresher_credential(self._provider, used, self._resolve)

    def before_request(self, request: Any, method: str, url: str, headers: MutableMapping[str, str]) -> None:
        """Put the current token (and the quota project) on `headers`; never starts a refresh thread."""
        self.apply(headers, token=self._resolve().token.expose_secret())

    def apply(self, headers: MutableMapping[str, str], token: str | None = None) -> None:
        """`authorization: Bearer <token>` and `x-goog-user-project`; `RefreshError` if no token."""
        if token is None:
            token = self._resolve().token.expose_secret()
        super().apply(headers, token=token)  # type: ignore[no-untyped-call]

    def with_quota_project(self, quota_project_id: str) -> GoogleCredentials:
        """New credentials on the same provider (and its cache), billed to `quota_project_id`."""
        return GoogleCredentials(self._provider, quota_project_id=quota_project_id)

    def get_cred_info(self) -> Mapping[str, str] | None:
        """What google clients add to their auth error messages: the literauth provider's type."""
        return {"credential_source": "literauth", "credential_type": type(self._provider).__name__}

    def __repr__(self) -> str:
        quota = "" if self._quota_project_id is None else f", quota_project_id={self._quota_project_id!r}"
        return f"GoogleCredentials({self._provider!r}{quota})"
