"""Azure workload identity (AKS): a Kubernetes service-account token traded for an Entra ID token.

The AKS workload-identity webhook projects a short-lived service-account token into the pod
and sets AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_FEDERATED_TOKEN_FILE and
AZURE_AUTHORITY_HOST. The token is the client assertion of the v2.0 client-credentials grant
for an app (or user-assigned identity) with a matching federated identity credential. The
kubelet rotates the file, so it is re-read for every request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._env import environment, optional, require
from .._files import check_path, read_token_file
from ..errors import SourceNotConfigured
from ..secret import SecretString
from ._common import DEFAULT_AUTHORITY_HOST, DEFAULT_SCOPE
from ._confidential import ConfidentialClientProvider

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..provider import ProviderOptions

__all__ = ["WorkloadIdentityCredentialProvider"]

_PROVIDER = "azure.workload_identity"


class WorkloadIdentityCredentialProvider(ConfidentialClientProvider):
    """Bearer tokens for a federated token file (AKS workload identity), re-read at every fetch.

    `token_file` holds the projected service-account token (a JWT); a file that is missing,
    empty or unreadable when a token is needed is a `CredentialSourceError` naming the path
    (retryable: the kubelet is usually mid-rotation). `scope` and `authority_host` are as
    for `AzureAdCredentialProvider`; see `ProviderOptions` for caching and HTTP options.
    """

    provider_name = _PROVIDER
    #: What `from_env()` needs (the variables the AKS webhook injects).
    REQUIRED_ENV = ("AZURE_FEDERATED_TOKEN_FILE", "AZURE_TENANT_ID", "AZURE_CLIENT_ID")

    def __init__(
        self,
        tenant_id: str,
        client_id: str,
        token_file: str | os.PathLike[str],
        *,
        scope: str = DEFAULT_SCOPE,
        authority_host: str = DEFAULT_AUTHORITY_HOST,
        **options: Unpack[ProviderOptions],
    ) -> None:
        self._token_file = check_path(_PROVIDER, "token_file", token_file)
        super().__init__(
            tenant_id, client_id, self._read_assertion, scope=scope, authority_host=authority_host, **options
        )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **options: Unpack[ProviderOptions]
    ) -> WorkloadIdentityCredentialProvider:
        """A provider from the variables the AKS webhook injects (`os.environ` when `environ` is None).

        `SourceNotConfigured` when AZURE_FEDERATED_TOKEN_FILE is unset or blank (a chain then
        tries its next source); `ConfigurationError` naming AZURE_TENANT_ID or AZURE_CLIENT_ID
        when the file is set but they are not. `AZURE_AUTHORITY_HOST` selects the cloud.
        """
        env = environment(environ)
        if optional(env, "AZURE_FEDERATED_TOKEN_FILE") is None:
            raise SourceNotConfigured(
                f"{_PROVIDER}: AZURE_FEDERATED_TOKEN_FILE is not set (the AKS workload-identity webhook sets it)"
            )
        values = require(
            env,
            cls.REQUIRED_ENV,
            provider=_PROVIDER,
            hint="the AKS workload-identity webhook sets AZURE_TENANT_ID and AZURE_CLIENT_ID with the token file",
        )
        return cls(
            values["AZURE_TENANT_ID"],
            values["AZURE_CLIENT_ID"],
            values["AZURE_FEDERATED_TOKEN_FILE"],
            authority_host=optional(env, "AZURE_AUTHORITY_HOST") or DEFAULT_AUTHORITY_HOST,
            **options,
        )

    @property
    def token_file(self) -> str:
        """The federated token file read for every request."""
        return self._token_file

    def _identity_args(self) -> tuple[Any, ...]:
        return (self._tenant_id, self._client_id, self._token_file)

    def _read_assertion(self) -> SecretString:
        """The file's token now: the kubelet may have rotated it since the last request."""
        return read_token_file(self._token_file, provider=_PROVIDER, what="federated token file")

    def _cache_fields(self) -> dict[str, str]:
        return {"token_file": self._token_file}

    def _repr_fields(self) -> dict[str, object]:
        return {**super()._repr_fields(), "token_file": self._token_file}
