"""Workload identity federation: Google access tokens for a token from another issuer (RFC 8693).

An ``external_account`` file names a subject token (a file, a URL, an executable, or AWS:
`_subject.py`, `_aws_subject.py`), which Google's STS exchanges for a federated access
token; with `service_account_impersonation_url`, that token (asked for the iam scope, as
google-auth does) then buys a service account's token from IAM Credentials (`_iam.py`).

Every URL in the file is checked before anything is sent: the STS and IAM URLs must be
https (plain http on loopback only, for tests), the subject-token and AWS metadata URLs may
also be the cloud metadata hosts. Hosts are not restricted to googleapis.com: other
universes and Private Service Connect endpoints have their own; a configuration from an
untrusted source must be reviewed like code, since it decides where the subject token goes.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

from .._env import environment, require
from .._oauth import token_exchange
from .._url import check_endpoint_url
from ..credentials import BearerToken
from ..errors import ConfigurationError
from ..provider import RefreshingCredentialProvider, SupportsResolve
from ..secret import SecretString
from . import _iam
from ._aws_subject import AwsSource
from ._info import optional_text, read_info_file, universe_domain
from ._scopes import normalize_scopes
from ._subject import SubjectTokenSource, source_from_info
from .service_account import DEFAULT_SCOPE

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..provider import ProviderOptions

__all__ = ["ExternalAccountCredentialProvider"]

_PROVIDER = "google.external_account"
_TYPE = "external_account"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
_WORKFORCE = re.compile(r"//iam\.googleapis\.com/locations/[^/]+/workforcePools/[^/]+/providers/.+")


def _text(info: Mapping[str, Any], field: str, source: str, *, required: bool = False) -> str | None:
    value = optional_text(_PROVIDER, info, field, source)
    if value is None and required:
        raise ConfigurationError(f"{_PROVIDER}: {source}: field {field!r} is missing or empty")
    return value


def _url(info: Mapping[str, Any], field: str, source: str) -> str | None:
    value = _text(info, field, source)
    return None if value is None else check_endpoint_url(value, f"{_PROVIDER}: {source}: field {field!r}")


class ExternalAccountCredentialProvider(RefreshingCredentialProvider):
    """Google access tokens by workload identity federation, cached and refreshed before expiry.

    Build it from the configuration `gcloud iam workload-identity-pools create-cred-config`
    writes: `from_file()`, `from_info()`, or `from_env()` (`GOOGLE_APPLICATION_CREDENTIALS`).
    `aws_source` (any literauth AWS provider) signs the AWS subject token; without it the
    keys come from the environment or the file's EC2 metadata URLs, as in google-auth.
    """

    provider_name = _PROVIDER
    credential_type: ClassVar[type[BearerToken]] = BearerToken
    #: What `from_env()` needs: an ``external_account`` file.
    REQUIRED_ENV = ("GOOGLE_APPLICATION_CREDENTIALS",)

    def __init__(
        self,
        info: Mapping[str, Any],
        *,
        scopes: str | Iterable[str] | None = None,
        environ: Mapping[str, str] | None = None,
        aws_source: SupportsResolve | None = None,
        source: str = "external_account info",
        **options: Unpack[ProviderOptions],
    ) -> None:
        super().__init__(**options)
        if not isinstance(info, Mapping) or info.get("type") != _TYPE:
            kind = info.get("type") if isinstance(info, Mapping) else None
            raise ConfigurationError(f"{_PROVIDER}: {source} has type {str(kind)[:40]!r}, not {_TYPE!r}")
        self._info = MappingProxyType(dict(info))
        self._source_name = source
        self._environ = environment(environ)
        self._aws_source = aws_source
        self._scopes = normalize_scopes(_PROVIDER, DEFAULT_SCOPE if scopes is None else scopes)
        self._config = _Config.read(info, source)
        self._sts = self._make_fetcher(self._config.token_url, endpoint="STS endpoint")
        self._iam = None if self._config.impersonation_url is None else self._make_fetcher(
            self._config.impersonation_url, endpoint="IAM Credentials endpoint"
        )
        self._subject = self._subject_source(info.get("credential_source"))

    def _subject_source(self, credential_source: object) -> SubjectTokenSource:
        context = {"GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE": self._config.audience,
                   "GOOGLE_EXTERNAL_ACCOUNT_TOKEN_TYPE": self._config.subject_token_type}
        if self._config.target is not None:
            context["GOOGLE_EXTERNAL_ACCOUNT_IMPERSONATED_EMAIL"] = self._config.target

        def aws(config: Mapping[str, Any]) -> SubjectTokenSource:
            return AwsSource(
                _PROVIDER, config, audience=self._config.audience, environ=self._environ,
                aws_source=self._aws_source, make_fetcher=self._make_fetcher, clock=self._clock,
                options={k: v for k, v in self._options.items() if k != "session"},
            )

        return source_from_info(
            _PROVIDER, credential_source, make_fetcher=self._make_fetcher, environ=self._environ,
            context=context, aws=aws,
        )

    # -- constructors ------------------------------------------------------------------

    @classmethod
    def from_info(
        cls,
        info: Mapping[str, Any],
        *,
        scopes: str | Iterable[str] | None = None,
        environ: Mapping[str, str] | None = None,
        aws_source: SupportsResolve | None = None,
        **options: Unpack[ProviderOptions],
    ) -> ExternalAccountCredentialProvider:
        """Build from an ``external_account`` configuration's content (a dict)."""
        return cls(info, scopes=scopes, environ=environ, aws_source=aws_source, **options)

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        scopes: str | Iterable[str] | None = None,
        environ: Mapping[str, str] | None = None,
        aws_source: SupportsResolve | None = None,
        **options: Unpack[ProviderOptions],
    ) -> ExternalAccountCredentialProvider:
        """Build from an ``external_account`` configuration file."""
        info = read_info_file(_PROVIDER, path, "external account configuration")
        return cls(info, scopes=scopes, environ=environ, aws_source=aws_source,
                   source=f"file {os.fspath(path)}", **options)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **options: Unpack[ProviderOptions]
    ) -> ExternalAccountCredentialProvider:
        """Build from the ``external_account`` file `GOOGLE_APPLICATION_CREDENTIALS` names."""
        env = environment(environ)
        path = require(env, cls.REQUIRED_ENV, provider=_PROVIDER,
                       hint="point it at an external_account configuration file")["GOOGLE_APPLICATION_CREDENTIALS"]
        return cls.from_file(path, environ=env, **options)

    def with_scope(self, scope: str | Iterable[str]) -> ExternalAccountCredentialProvider:
        """The same federation for other scopes: a new provider with its own cache."""
        return type(self)(self._info, scopes=scope, environ=self._environ, aws_source=self._aws_source,
                          source=self._source_name, **self._options)

    # -- what it is --------------------------------------------------------------------

    @property
    def audience(self) -> str:
        """The workload (or workforce) identity pool provider exchanged against."""
        return self._config.audience

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes of the tokens `resolve()` returns."""
        return self._scopes

    @property
    def service_account_email(self) -> str | None:
        """The impersonated service account, None without impersonation."""
        return self._config.target

    @property
    def token_url(self) -> str:
        """The STS endpoint."""
        return self._sts.url

    @property
    def subject_source(self) -> str:
        """Where subject tokens come from: ``file``, ``url``, ``aws`` or ``executable``."""
        return self._subject.kind

    @property
    def quota_project_id(self) -> str | None:
        """The file's quota project, for clients that send ``x-goog-user-project``."""
        return self._config.quota_project

    def _repr_fields(self) -> dict[str, object]:
        fields: dict[str, object] = {"audience": self._config.audience, "source": self._subject.kind}
        if self._config.target is not None:
            fields["service_account"] = self._config.target
        return fields

    def _cache_identity(self) -> tuple[dict[str, str], bytes | None] | None:
        """Pool provider, token type, endpoints, scopes and target; the client secret when there is one."""
        config = self._config
        fields = {
            "audience": config.audience, "subject_token_type": config.subject_token_type,
            "token_url": self._sts.url, "scopes": " ".join(self._scopes), "source": self._subject.kind,
            "impersonation": config.impersonation_url or "", "lifetime": str(config.lifetime),
            "user_project": config.user_project or "", "client": config.client_id or "",
        }
        secret = config.client_secret
        return fields, None if secret is None else secret.expose_secret().encode()

    def close(self) -> None:
        """Close the sessions, and any AWS provider built from the environment."""
        closer = getattr(self._subject, "close", None)
        if callable(closer):
            closer()
        super().close()

    # -- the token requests ------------------------------------------------------------

    def _fetch(self) -> BearerToken:
        """Read a subject token, exchange it at STS, and impersonate when configured."""
        config = self._config
        federated = token_exchange(
            self._sts,
            self._subject.token(),
            config.subject_token_type,
            audience=config.audience,
            scope=_iam.IAM_SCOPE if self._iam is not None else self._scopes,
            requested_token_type=ACCESS_TOKEN_TYPE,
            options={"userProject": config.user_project} if config.user_project and not config.client_id else None,
            client_id=config.client_id,
            client_secret=config.client_secret,
        )
        if self._iam is None:
            return federated
        return _iam.generate_access_token(self._iam, federated.token, scopes=self._scopes, lifetime=config.lifetime)


@dataclasses.dataclass(frozen=True)
class _Config:
    """The validated fields of an ``external_account`` file, besides its credential source."""

    audience: str
    subject_token_type: str
    token_url: str
    impersonation_url: str | None
    target: str | None
    lifetime: int
    user_project: str | None
    client_id: str | None
    client_secret: SecretString | None
    quota_project: str | None

    @classmethod
    def read(cls, info: Mapping[str, Any], source: str) -> _Config:
        audience = _text(info, "audience", source, required=True) or ""
        subject_token_type = _text(info, "subject_token_type", source, required=True) or ""
        domain = universe_domain(_PROVIDER, info, source)
        token_url = _url(info, "token_url", source) or f"https://sts.{domain}/v1/token"
        impersonation_url = _url(info, "service_account_impersonation_url", source)
        what = f"{source}: field 'service_account_impersonation_url'"
        target = None if impersonation_url is None else _iam.principal_from_url(_PROVIDER, impersonation_url, what)
        options = info.get("service_account_impersonation") or {}
        if not isinstance(options, Mapping):
            raise ConfigurationError(f"{_PROVIDER}: {source}: field 'service_account_impersonation' must be an object")
        lifetime = _iam.check_lifetime(
            _PROVIDER, options.get("token_lifetime_seconds", _iam.DEFAULT_LIFETIME),
            f"{source}: service_account_impersonation.token_lifetime_seconds",
        )
        user_project = _text(info, "workforce_pool_user_project", source)
        if user_project is not None and _WORKFORCE.fullmatch(audience) is None:
            raise ConfigurationError(
                f"{_PROVIDER}: {source}: workforce_pool_user_project is only for workforce pools "
                "(an audience //iam.googleapis.com/locations/<l>/workforcePools/<pool>/providers/<p>)"
            )
        client_id = _text(info, "client_id", source)
        secret = _text(info, "client_secret", source)
        if secret is not None and client_id is None:
            raise ConfigurationError(f"{_PROVIDER}: {source}: client_secret is set without client_id")
        return cls(
            audience, subject_token_type, token_url, impersonation_url, target, lifetime, user_project, client_id,
            None if secret is None else SecretString(secret), _text(info, "quota_project_id", source),
        )
