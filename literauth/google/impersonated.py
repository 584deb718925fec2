"""Service-account impersonation: a target account's tokens, paid for with a source provider's token.

The source is any provider returning Google bearer tokens (a service account, a user's
login, workload identity federation, the metadata server, another impersonation); its
token must carry the iam or cloud-platform scope. Each fetch resolves the source through
its own cache and calls IAM Credentials `generateAccessToken` (`_iam.py`). The
``impersonated_service_account`` file `gcloud` writes is read by `from_info()`/`from_file()`;
unlike google-auth, the host of its URL is honoured (https, or loopback for tests).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from .._env import environment, require
from .._url import check_endpoint_url
from ..credentials import BearerToken
from ..errors import ConfigurationError
from ..provider import RefreshingCredentialProvider, SupportsResolve
from . import _iam
from ._info import read_info_file, universe_domain
from ._scopes import normalize_scopes
from .service_account import DEFAULT_SCOPE

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..provider import ProviderOptions

__all__ = ["ImpersonatedCredentialProvider"]

_PROVIDER = "google.impersonated"
_TYPE = "impersonated_service_account"


class ImpersonatedCredentialProvider(RefreshingCredentialProvider):
    """Access tokens of `target_principal`, obtained with `source`'s token, cached and refreshed.

    `delegates` is the chain of service accounts between source and target (each must hold
    Token Creator on the next); `lifetime` is the token's lifetime in seconds (1-43200;
    above 3600 needs an org policy). `iam_endpoint` is the IAM Credentials base URL
    (``https://iamcredentials.googleapis.com``) or a full ``…:generateAccessToken`` URL,
    as google-auth's `iam_endpoint_override`.
    """

    provider_name = _PROVIDER
    credential_type: ClassVar[type[BearerToken]] = BearerToken
    #: What `from_env()` needs: an ``impersonated_service_account`` file.
    REQUIRED_ENV = ("GOOGLE_APPLICATION_CREDENTIALS",)

    def __init__(
        self,
        source: SupportsResolve,
        target_principal: str,
        *,
        scopes: str | Iterable[str] = DEFAULT_SCOPE,
        delegates: Iterable[str] = (),
        lifetime: int = _iam.DEFAULT_LIFETIME,
        iam_endpoint: str | None = None,
        **options: Unpack[ProviderOptions],
    ) -> None:
        super().__init__(**options)
        if not callable(getattr(source, "resolve", None)):
            raise ConfigurationError(f"{_PROVIDER}: source must be a credential provider, got {type(source).__name__}")
        self._source = source
        self._target = _iam.check_principal(_PROVIDER, target_principal)
        self._scopes = normalize_scopes(_PROVIDER, scopes)
        if isinstance(delegates, str):
            delegates = [delegates]
        self._delegates = tuple(_iam.check_principal(_PROVIDER, d.rsplit("/", 1)[-1], "a delegate") for d in delegates)
        self._lifetime = _iam.check_lifetime(_PROVIDER, lifetime)
        endpoint = _iam.DEFAULT_IAM_ENDPOINT if iam_endpoint is None else iam_endpoint
        endpoint = check_endpoint_url(endpoint, f"{_PROVIDER}: iam_endpoint")
        if endpoint.split("?", 1)[0].endswith(":generateAccessToken"):
            url = endpoint
        else:
            url = _iam.generate_url(endpoint, self._target)
        self._fetcher = self._make_fetcher(url, endpoint="IAM Credentials endpoint")

    # -- constructors ------------------------------------------------------------------

    @classmethod
    def from_info(
        cls,
        info: Mapping[str, Any],
        *,
        scopes: str | Iterable[str] | None = None,
        environ: Mapping[str, str] | None = None,
        source: str = "impersonated_service_account info",
        **options: Unpack[ProviderOptions],
    ) -> ImpersonatedCredentialProvider:
        """Build from an ``impersonated_service_account`` file's content (what gcloud writes).

        `source_credentials` becomes the source provider (any ADC file type), asked for the
        iam scope; `service_account_impersonation_url` names the target and the endpoint.
        """
        if not isinstance(info, Mapping) or info.get("type") != _TYPE:
            kind = info.get("type") if isinstance(info, Mapping) else None
            raise ConfigurationError(
                f"{_PROVIDER}: {source} has type {str(kind)[:40]!r}, not {_TYPE!r}"
            )
        url = info.get("service_account_impersonation_url")
        if not isinstance(url, str) or not url.strip():
            raise ConfigurationError(f"{_PROVIDER}: {source}: field 'service_account_impersonation_url' is missing")
        what = f"{source}: field 'service_account_impersonation_url'"
        url = check_endpoint_url(url, f"{_PROVIDER}: {what}")
        target = _iam.principal_from_url(_PROVIDER, url, what)
        delegates = info.get("delegates") or ()
        if not isinstance(delegates, (list, tuple)) or not all(isinstance(d, str) for d in delegates):
            raise ConfigurationError(f"{_PROVIDER}: {source}: field 'delegates' must be a list of e-mails")
        source_info = info.get("source_credentials")
        if not isinstance(source_info, Mapping):
            raise ConfigurationError(f"{_PROVIDER}: {source}: field 'source_credentials' must be an object")
        from ._adc_file import (
            provider_from_info,  # lazily: the dispatcher imports this module
        )

        universe_domain(_PROVIDER, info, source)  # checked: a file for another universe is refused early
        source_provider = provider_from_info(
            source_info, scopes=_source_scopes(source_info), environ=environ, **options
        )
        return cls(
            source_provider, target, scopes=DEFAULT_SCOPE if scopes is None else scopes,
            delegates=delegates, iam_endpoint=url, **options,
        )

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        scopes: str | Iterable[str] | None = None,
        environ: Mapping[str, str] | None = None,
        **options: Unpack[ProviderOptions],
    ) -> ImpersonatedCredentialProvider:
        """Build from an ``impersonated_service_account`` file (``gcloud auth application-default
        login --impersonate-service-account``)."""
        info = read_info_file(_PROVIDER, path, "impersonation file")
        return cls.from_info(info, scopes=scopes, environ=environ, source=f"file {os.fspath(path)}", **options)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **options: Unpack[ProviderOptions]
    ) -> ImpersonatedCredentialProvider:
        """Build from the ``impersonated_service_account`` file `GOOGLE_APPLICATION_CREDENTIALS` names."""
        env = environment(environ)
        path = require(env, cls.REQUIRED_ENV, provider=_PROVIDER,
                       hint="point it at an impersonated_service_account file")["GOOGLE_APPLICATION_CREDENTIALS"]
        return cls.from_file(path, environ=env, **options)

    def with_scope(self, scope: str | Iterable[str]) -> ImpersonatedCredentialProvider:
        """The same impersonation for other scopes: a new provider with its own cache."""
        return type(self)(
            self._source, self._target, scopes=scope, delegates=self._delegates,
            lifetime=self._lifetime, iam_endpoint=self._fetcher.url, **self._options,
        )

    # -- what it is --------------------------------------------------------------------

    @property
    def source(self) -> SupportsResolve:
        """The provider whose token pays for the target's."""
        return self._source

    @property
    def service_account_email(self) -> str:
        """The impersonated (target) service account."""
        return self._target

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes asked for the target's token."""
        return self._scopes

    @property
    def delegates(self) -> tuple[str, ...]:
        """The delegation chain, as e-mails."""
        return self._delegates

    @property
    def lifetime(self) -> int:
        """The lifetime asked for, in seconds."""
        return self._lifetime

    @property
    def endpoint(self) -> str:
        """The generateAccessToken URL requests go to."""
        return self._fetcher.url

    def _repr_fields(self) -> dict[str, object]:
        return {"target_principal": self._target, "scopes": " ".join(self._scopes)}

    def _cache_identity(self) -> tuple[dict[str, str], bytes | None] | None:
        """The target, scopes and chain, prefixed by the source's identity; None when the source has none.

        A token of the target is shared only between processes whose source is the same
        identity (and holds the same local secret): impersonation is a permission of the source.
        """
        identity = getattr(self._source, "_cache_identity", None)
        inner = identity() if callable(identity) else None
        if inner is None:
            return None
        source_fields, secret = inner
        fields = {f"source.{key}": value for key, value in source_fields.items()}
        fields.update({
            "target": self._target, "scopes": " ".join(self._scopes), "delegates": " ".join(self._delegates),
            "lifetime": str(self._lifetime), "endpoint": self._fetcher.url,
        })
        return fields, secret

    # -- the token request -------------------------------------------------------------

    def _fetch(self) -> BearerToken:
        """Resolve the source (its cache, its refresh) and trade its token for the target's."""
        credential = self._source.resolve()
        if not isinstance(credential, BearerToken):
            raise ConfigurationError(
                f"{_PROVIDER}: the source returned {type(credential).__name__}, not a Google bearer token"
            )
        return _iam.generate_access_token(
            self._fetcher, credential.token, scopes=self._scopes, delegates=self._delegates, lifetime=self._lifetime,
        )


def _source_scopes(source_info: Mapping[str, Any]) -> str | None:
    """The iam scope for sources that take scopes; a user's login keeps the scopes it was granted."""
    return None if source_info.get("type") == "authorized_user" else _iam.IAM_SCOPE
