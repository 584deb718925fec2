"""AWS IAM Identity Center (SSO): role credentials for the token `aws sso login` left in its cache.

`aws sso login` writes the portal's access token to ``~/.aws/sso/cache/<sha1>.json``, the key
being the SHA-1 of the ``sso_session`` name (or, for a legacy profile, of ``sso_start_url``),
as botocore computes it. Each fetch reads that file again (a new login replaces it) and asks
the portal's `GetRoleCredentials` (``GET /federation/credentials``) for the profile's account
and role. An expired login is not refreshed here: the message says to run `aws sso login`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from .. import _safejson
from .._env import environment, optional
from .._http import ErrorDetails, TokenRequest, TokenResponse
from .._oauth import parse_json_object
from .._url import check_endpoint_url
from ..credentials import UTC, AwsCredentials, parse_rfc3339
from ..errors import (
    ConfigurationError,
    CredentialSourceError,
    SourceNotConfigured,
    TokenTextError,
)
from ..provider import RefreshingCredentialProvider
from ..secret import SecretString
from . import _profiles, _sts

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..provider import ProviderOptions

__all__ = ["SsoCredentialProvider", "SsoSettings", "sso_settings", "token_cache_key"]

_PROFILE_KEYS = ("sso_role_name", "sso_account_id")  # either one marks a profile as SSO (botocore's test)
_SESSION_KEYS = ("sso_start_url", "sso_region")
_MAX_CACHE_FILE = 64 * 1024
_PATH = "/federation/credentials"
_ACCOUNT = r"\d{12}"


def token_cache_key(start_url: str, session_name: str | None) -> str:
    """The cache file's stem: SHA-1 of the session name, or of the start URL for a legacy profile."""
    return hashlib.sha1((start_url if session_name is None else session_name).encode("utf-8")).hexdigest()


@dataclasses.dataclass(frozen=True)
class SsoSettings:
    """An SSO profile's settings, with its ``[sso-session]`` section resolved."""

    profile: str
    start_url: str
    sso_region: str
    account_id: str
    role_name: str
    session_name: str | None  #: None for the legacy form (everything inline in the profile)


def sso_settings(config: _profiles.SharedConfig, profile: str) -> SsoSettings | None:
    """The SSO settings of `profile`, None when it is no SSO profile; `ConfigurationError` when incomplete."""
    section = config.profile(profile)
    if not any(key in section for key in _PROFILE_KEYS):
        return None
    merged = dict(section)
    session = section.get("sso_session")
    if session is not None:
        values = config.sso_sessions.get(session)
        if values is None:
            raise ConfigurationError(
                f"aws.sso: profile {profile!r} names sso_session {session!r}, but {config.config_file} "
                f"has no [sso-session {session}] section"
            )
        for key, value in values.items():
            if merged.get(key, value) != value:
                raise ConfigurationError(
                    f"aws.sso: {key} differs between profile {profile!r} and [sso-session {session}]"
                )
            merged[key] = value
    missing = [key for key in (*_PROFILE_KEYS[::-1], *_SESSION_KEYS) if not merged.get(key, "").strip()]
    if missing:
        raise ConfigurationError(
            f"aws.sso: profile {profile!r} is configured for SSO but lacks {', '.join(missing)}"
        )
    return SsoSettings(
        profile=profile,
        start_url=merged["sso_start_url"].strip(),
        sso_region=merged["sso_region"].strip(),
        account_id=merged["sso_account_id"].strip(),
        role_name=merged["sso_role_name"].strip(),
        session_name=session,
    )


def portal_endpoint_for(region: str) -> str:
    """The SSO portal of `region`: ``https://portal.sso.<region>.<partition DNS suffix>``."""
    return _sts.sts_endpoint_for(region).replace("https://sts.", "https://portal.sso.", 1)


class SsoCredentialProvider(RefreshingCredentialProvider):
    """Temporary `AwsCredentials` of an IAM Identity Center role, cached and refreshed.

    `token_cache_dir` None means ``~/.aws/sso/cache``; `endpoint` None means the portal of
    `sso_region`; `profile` only names the profile in the "run `aws sso login`" message.
    """

    provider_name = "aws.sso"
    credential_type: ClassVar[type[AwsCredentials]] = AwsCredentials

    def __init__(
        self,
        *,
        start_url: str,
        sso_region: str,
        account_id: str,
        role_name: str,
        session_name: str | None = None,
        profile: str | None = None,
        token_cache_dir: str | os.PathLike[str] | None = None,
        endpoint: str | None = None,
        **options: Unpack[ProviderOptions],
    ) -> None:
        super().__init__(**options)
        name = self.provider_name
        for what, value in (("start_url", start_url), ("role_name", role_name)):
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(f"{name}: {what} must be a non-empty string, got {value!r}")
        if not isinstance(account_id, str) or not account_id.isdigit() or len(account_id) != 12:
            raise ConfigurationError(f"{name}: account_id must be 12 digits, got {account_id!r}")
        if session_name is not None and (not isinstance(session_name, str) or not session_name.strip()):
            raise ConfigurationError(f"{name}: session_name must be a non-empty string or None, got {session_name!r}")
        self._region = _sts.check_region(name, sso_region)
        directory = (
            os.path.join(os.path.expanduser("~"), ".aws", "sso", "cache")
            if token_cache_dir is None
            else os.fspath(token_cache_dir)
        )
        self._cache_file = os.path.join(directory, token_cache_key(start_url, session_name) + ".json")
        base = portal_endpoint_for(sso_region) if endpoint is None else check_endpoint_url(endpoint, f"{name}: endpoint")
        self._settings_value = SsoSettings(profile or "default", start_url, sso_region, account_id, role_name, session_name)
        self._login_hint = f"aws sso login --profile {profile}" if profile else "aws sso login"
        self._fetcher = self._make_fetcher(base.rstrip("/") + _PATH, endpoint="SSO portal")

    @classmethod
    def from_settings(
        cls, settings: SsoSettings, environ: Mapping[str, str] | None = None, **options: Unpack[ProviderOptions]
    ) -> SsoCredentialProvider:
        """The provider for an SSO profile; the cache under `HOME`, `AWS_ENDPOINT_URL_SSO` as endpoint."""
        env = environment(environ)
        return cls(
            start_url=settings.start_url,
            sso_region=settings.sso_region,
            account_id=settings.account_id,
            role_name=settings.role_name,
            session_name=settings.session_name,
            profile=settings.profile,
            token_cache_dir=os.path.join(_profiles.home_directory(env), ".aws", "sso", "cache"),
            endpoint=optional(env, "AWS_ENDPOINT_URL_SSO"),
            **options,
        )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **options: Unpack[ProviderOptions]
    ) -> SsoCredentialProvider:
        """Build for the SSO profile `AWS_PROFILE` names (``default`` without it) in the shared config.

        `SourceNotConfigured` when that profile is no SSO profile. `environ=None` means `os.environ`.
        """
        env = environment(environ)
        profile = _profiles.profile_name(None, env)
        settings = sso_settings(_profiles.load_shared_config(env), profile)
        if settings is None:
            raise SourceNotConfigured(f"aws.sso: profile {profile!r} has no sso_account_id or sso_role_name")
        return cls.from_settings(settings, env, **options)

    # -- properties ------------------------------------------------------------------

    @property
    def settings(self) -> SsoSettings:
        """The start URL, region, account, role and session this provider asks for."""
        return self._settings_value

    @property
    def region(self) -> str:
        """The SSO region (where the portal is), not necessarily the region of the APIs called."""
        return self._region

    @property
    def token_cache_file(self) -> str:
        """The file the portal access token is read from on every fetch."""
        return self._cache_file

    @property
    def endpoint(self) -> str:
        """The `GetRoleCredentials` URL requests go to."""
        return self._fetcher.url

    # -- fetching --------------------------------------------------------------------

    def _fetch(self) -> AwsCredentials:
        token = self._read_token()
        settings = self._settings_value
        request = TokenRequest(
            method="GET",
            query={"account_id": settings.account_id, "role_name": settings.role_name},
            headers={"x-amz-sso_bearer_token": token},
        )
        response = self._fetcher.send(request, self._parse_error)
        return _parse_role_credentials(response)

    def _read_token(self) -> SecretString:
        """The portal token from the cache file; `CredentialSourceError` saying to log in when unusable."""
        shown = repr(self._cache_file)
        problem = None
        data = b""
        try:
            with open(self._cache_file, "rb") as handle:
                data = handle.read(_MAX_CACHE_FILE + 1)
        except FileNotFoundError:
            problem = f"there is no cached SSO token ({shown} does not exist)"
        except (OSError, ValueError) as exc:
            problem = f"the SSO token cache {shown} cannot be read ({getattr(exc, 'strerror', None) or type(exc).__name__})"
        document: object = None
        if problem is None:
            document = _safejson.loads(data) if len(data) <= _MAX_CACHE_FILE else _safejson.TOO_LARGE
            if not isinstance(document, dict):
                problem = f"the SSO token cache {shown} is not a JSON object"
        if problem is None:
            assert isinstance(document, dict)
            problem, token = self._token_from(document, shown)
            if token is not None:
                return token
        raise CredentialSourceError(f"{self.provider_name}: {problem}; run `{self._login_hint}`", provider=self.provider_name)

    def _token_from(self, document: dict[str, Any], shown: str) -> tuple[str | None, SecretString | None]:
        token, expires = document.get("accessToken"), document.get("expiresAt")
        if not isinstance(token, str) or not token.strip():
            return f"the SSO token cache {shown} holds no accessToken", None
        stamp = parse_rfc3339(expires.strip()) if isinstance(expires, str) else None
        if stamp is None:
            return f"the SSO token cache {shown} has no readable expiresAt", None
        if stamp.timestamp() <= self._clock():
            return f"the SSO login expired at {stamp.isoformat()}", None
        return None, SecretString(token.strip())

    def _parse_error(self, response: TokenResponse) -> ErrorDetails:
        code = _sts.error_code_of(response.headers, response.body)
        data = _safejson.loads(response.body[:_MAX_CACHE_FILE])
        message = data.get("message") or data.get("Message") if isinstance(data, dict) else None
        hint = None
        if code == "UnauthorizedException" or response.status_code == 401:
            hint = f"The SSO login is no longer valid; run `{self._login_hint}`"
        elif code == "ForbiddenException":
            hint = "Check that the SSO user is assigned this account and permission set (sso_role_name)"
        return ErrorDetails(
            error_code=code,
            description=message if isinstance(message, str) else None,
            retryable=code == "TooManyRequestsException" or None,
            hint=hint,
        )

    def _cache_identity(self) -> tuple[dict[str, str], bytes | None] | None:
        settings = self._settings_value
        fields = {
            "start_url": settings.start_url,
            "session": settings.session_name or "",
            "account": settings.account_id,
            "role": settings.role_name,
            "endpoint": self._fetcher.url,
        }
        return fields, None  # the portal token lives in a file `aws sso login` owns, not here

    def _repr_fields(self) -> dict[str, object]:
        settings = self._settings_value
        return {"account_id": settings.account_id, "role_name": settings.role_name, "sso_region": self._region}


def _parse_role_credentials(response: TokenResponse) -> AwsCredentials:
    """`AwsCredentials` from a `GetRoleCredentials` answer; its expiry (epoch ms) corrected by `Date`."""
    data = parse_json_object(response)
    role = data.get("roleCredentials")
    if not isinstance(role, dict):
        raise response.malformed("answered without roleCredentials")
    names = ("accessKeyId", "secretAccessKey", "sessionToken")
    values = {name: role.get(name) for name in names}
    missing = [name for name, value in values.items() if not isinstance(value, str) or not value.strip()]
    if missing:
        raise response.malformed(f"answered without roleCredentials.{', '.join(missing)}")
    expiration = role.get("expiration")
    if isinstance(expiration, bool) or not isinstance(expiration, (int, float)):
        raise response.malformed("answered without a numeric roleCredentials.expiration")
    server_date = response.server_date
    problem = None
    try:
        expires = expiration / 1000.0
        if server_date is not None:
            expires = response.sent_at + (expires - server_date)
        expires_at = datetime.fromtimestamp(expires, UTC)
    except (OverflowError, OSError, ValueError):
        problem = "answered with an out-of-range roleCredentials.expiration"
    if problem is not None:
        raise response.malformed(problem)
    try:
        return AwsCredentials(
            SecretString(str(values["accessKeyId"])),
            SecretString(str(values["secretAccessKey"])),
            SecretString(str(values["sessionToken"])),
            expires_at,
        )
    except TokenTextError as exc:
        problem = str(exc)
    raise response.malformed(f"answered with unusable keys ({problem})")
