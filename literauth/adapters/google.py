"""`GoogleCredentials`: any literauth bearer-token provider as google-auth credentials.

For `google.auth.transport.requests.AuthorizedSession`, `google-genai`
(`genai.Client(vertexai=True, credentials=...)`), `anthropic.AnthropicVertex(credentials=...)`
and any google-cloud client. The class is a real `google.auth.credentials.Credentials`
subclass (`CredentialsWithQuotaProject`), but it is only built when first called, so this
module imports without google-auth; without it, building one raises `ConfigurationError`
naming the package. The class itself lives in `_google_credentials`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ._lazy import require

__all__ = ["GoogleCredentials"]


def _real() -> type:
    """The google-auth subclass, imported (with google-auth) on first use."""
    require("google.auth.credentials", package="google-auth")
    from ._google_credentials import GoogleCredentials as Real

    return Real


class _Lazy(type):
    """Makes the stand-in build, and answer `isinstance` for, the real class."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return _real()(*args, **kwargs)

    def __instancecheck__(cls, instance: Any) -> bool:
        try:
            return isinstance(instance, _real())
        except ConfigurationError:  # no google-auth: nothing can be an instance
            return False

    def __subclasscheck__(cls, subclass: type) -> bool:
        try:
            return issubclass(subclass, _real())
        except ConfigurationError:
            return False


if TYPE_CHECKING:
    from ._google_credentials import GoogleCredentials
else:

    class GoogleCredentials(metaclass=_Lazy):
        """google-auth credentials fed by a literauth provider: `GoogleCredentials(provider, *, quota_project_id=None)`.

        Calling it returns an instance of the real subclass of
        `google.auth.credentials.CredentialsWithQuotaProject` (see `_google_credentials`).
        """
