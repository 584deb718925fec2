"""The confidential-client base of the Azure providers (review R9).

Every Microsoft Entra ID app credential (a client secret, a federated token file, a
certificate) is the same v2.0 client-credentials grant to the same token endpoint; only how
the client authenticates differs. `ConfidentialClientProvider` validates and holds the
common part (tenant, client id, scope, authority, token URL) and posts the grant; a subclass
says how it authenticates: a fixed `SecretString` (sent as ``client_secret``) or a callable
returning a fresh assertion for every fetch (sent as ``client_assertion``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from .._oauth import client_credentials
from ..credentials import BearerToken
from ..provider import RefreshingCredentialProvider
from ..secret import SecretString
from ._common import (
    DEFAULT_AUTHORITY_HOST,
    DEFAULT_SCOPE,
    check_authority,
    check_client_id,
    check_scope,
    check_tenant,
    parse_error,
)

if TYPE_CHECKING:
    from typing_extensions import Self, Unpack  # noqa: UP035 - Python 3.10 has no typing.Self

    from ..provider import ProviderOptions

__all__ = ["ClientAuthentication", "ConfidentialClientProvider"]

#: A client secret, or a callable returning the client assertion to send with this request.
ClientAuthentication = SecretString | Callable[[], SecretString]


class ConfidentialClientProvider(RefreshingCredentialProvider):
    """Bearer tokens from the v2.0 client-credentials grant, with pluggable client authentication.

    Subclasses set `provider_name`, pass their `ClientAuthentication` to `__init__` and
    implement `_identity_args()` (the positional arguments that rebuild them, for `with_scope()`).
    """

    credential_type: ClassVar[type[BearerToken]] = BearerToken

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        authentication: ClientAuthentication,
        *,
        scope: str = DEFAULT_SCOPE,
        authority_host: str = DEFAULT_AUTHORITY_HOST,
        **options: Unpack[ProviderOptions],
    ) -> None:
        super().__init__(**options)
        name = self.provider_name
        self._tenant_id = check_tenant(name, tenant_id)
        self._client_id = check_client_id(name, client_id)
        self._scope = check_scope(name, scope)
        self._authority_host = check_authority(name, authority_host)
        self._authentication = authentication
        self._token_url = f"{self._authority_host}/{self._tenant_id}/oauth2/v2.0/token"
        self._fetcher = self._make_fetcher(self._token_url)

    def _identity_args(self) -> tuple[Any, ...]:
        """The positional arguments that rebuild this provider (tenant, client, its credential)."""
        raise NotImplementedError

    def with_scope(self, scope: str) -> Self:
        """The same identity for another scope: a new provider with its own, empty cache."""
        rebuild: Callable[..., Self] = type(self)
        return rebuild(*self._identity_args(), scope=scope, authority_host=self._authority_host, **self._options)

    @property
    def tenant_id(self) -> str:
        """The directory (tenant) GUID or domain tokens are requested from."""
        return self._tenant_id

    @property
    def client_id(self) -> str:
        """The application (client) ID of the app registration."""
        return self._client_id

    @property
    def scope(self) -> str:
        """The scope tokens are requested for."""
        return self._scope

    @property
    def authority_host(self) -> str:
        """The identity platform's base URL, without a trailing slash."""
        return self._authority_host

    @property
    def token_url(self) -> str:
        """The v2.0 token endpoint requests are posted to."""
        return self._token_url

    def _fetch(self) -> BearerToken:
        """The client-credentials grant, authenticated by the secret or a fresh assertion."""
        authentication = self._authentication
        if isinstance(authentication, SecretString):
            return client_credentials(
                self._fetcher, client_id=self._client_id, scope=self._scope,
                client_secret=authentication, parse_error=parse_error,
            )
        return client_credentials(
            self._fetcher, client_id=self._client_id, scope=self._scope,
            client_assertion=authentication(), parse_error=parse_error,
        )

    def _repr_fields(self) -> dict[str, object]:
        return {"tenant_id": self._tenant_id, "client_id": self._client_id, "scope": self._scope}

    def _cache_identity(self) -> tuple[dict[str, str], bytes | None]:
        """Tenant, client, scope and token URL; the client secret when it is one (a subclass
        with an assertion callable says what its local secret is, in `_cache_secret()`)."""
        fields = {"tenant": self._tenant_id, "client": self._client_id, "scope": self._scope,
                  "endpoint": self._token_url, **self._cache_fields()}
        authentication = self._authentication
        if isinstance(authentication, SecretString):
            return fields, authentication.expose_secret().encode("utf-8")
        return fields, self._cache_secret()

    def _cache_fields(self) -> dict[str, str]:
        """More fields naming the identity, for a subclass (the federated token file's path)."""
        return {}

    def _cache_secret(self) -> bytes | None:
        """The secret behind the client assertion, if it is held locally; None by default."""
        return None
