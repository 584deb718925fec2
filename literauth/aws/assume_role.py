"""AWS STS `AssumeRole`: temporary keys for a role, signed with the keys of a source provider.

The source is any provider of `AwsCredentials` (web identity, environment keys, instance
metadata, another `AssumeRoleProvider`: role chaining). Its keys are resolved through its
own cache on every fetch, so an expired source refreshes before it signs; the call is signed
with literauth's SigV4 (`_sigv4.sign`) on every attempt, so a retry carries a fresh date.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from .._env import environment, optional, require
from ..credentials import AwsCredentials
from ..errors import ConfigurationError, CredentialSourceError, TokenEndpointError
from ..provider import CredentialProvider, RefreshingCredentialProvider, SupportsResolve
from ..secret import SecretString
from . import _sts
from ._sigv4 import sign

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .._http import FormValue, Prepare, TokenRequest
    from ..provider import ProviderOptions

__all__ = ["AssumeRoleProvider"]

_ACTION = "AssumeRole"
_PROVIDER = "aws.assume_role"
DEFAULT_REGION = "us-east-1"
DEFAULT_DURATION = 3600  # STS's own default, and the most a chained role may ask for
MAX_POLICY_LENGTH = 2048  # STS's limit for the plaintext of an inline session policy
_EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}", re.ASCII)
#: The codes meaning the source's keys were rejected for age: refresh the source, try once more.
_EXPIRED_SOURCE = frozenset({"ExpiredToken", "ExpiredTokenException"})
_SECRET_HEADERS = ("Authorization", "X-Amz-Security-Token")


class AssumeRoleProvider(RefreshingCredentialProvider):
    """Temporary `AwsCredentials` for `role_arn` from STS `AssumeRole`, cached and refreshed.

    `source` provides the keys that sign the call: any object with `resolve()` returning
    `AwsCredentials`, resolved through its own cache on every fetch. `session_name=None`
    gives ``literauth-session-<epoch>`` (botocore names its sessions the same way).
    `external_id` is sent when given (a role shared with a third party asks for it);
    `policy` is an inline session policy (a JSON string or a mapping), narrowing the role.
    `region=None` takes the source's `region` when it has one, else ``us-east-1``; it is
    the signing region and picks the regional endpoint of the role's partition.
    `sts_endpoint=None` reads `AWS_ENDPOINT_URL_STS` from `environ` (`os.environ` when
    None), as botocore does, and falls back to the regional endpoint. Calls are signed at
    the provider's `clock` time.
    """

    provider_name = _PROVIDER
    credential_type: ClassVar[type[AwsCredentials]] = AwsCredentials
    #: What `from_env()` needs: the role. The source comes from the environment too (see there).
    REQUIRED_ENV = ("LITERAUTH_ASSUME_ROLE_ARN",)

    def __init__(
        self,
        source: SupportsResolve,
        role_arn: str,
        *,
        session_name: str | None = None,
        external_id: str | None = None,
        duration_seconds: int = DEFAULT_DURATION,
        policy: str | Mapping[str, object] | None = None,
        region: str | None = None,
        sts_endpoint: str | None = None,
        environ: Mapping[str, str] | None = None,
        **options: Unpack[ProviderOptions],
    ) -> None:
        super().__init__(**options)
        name = self.provider_name
        self._source = _check_source(source, self)
        partition = _sts.check_role_arn(name, role_arn)
        self._role_arn = role_arn
        self._session_name = _sts.check_session_name(
            name, f"literauth-session-{int(self._clock())}" if session_name is None else session_name
        )
        self._external_id = _check_external_id(external_id)
        self._duration = _sts.check_duration(name, duration_seconds)
        self._session_policy = _check_policy(policy)
        self._region = _sts.check_region(name, _source_region(source) if region is None else region)
        if sts_endpoint is None:
            sts_endpoint = optional(environment(environ), "AWS_ENDPOINT_URL_STS")
        self._fetcher = self._make_fetcher(_sts.endpoint_url(name, partition, self._region, sts_endpoint))
        self._owns_source = False

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        source: SupportsResolve | None = None,
        **options: Unpack[ProviderOptions],
    ) -> AssumeRoleProvider:
        """Assume the role in `LITERAUTH_ASSUME_ROLE_ARN` with keys from the environment.

        botocore has no variable for this (it reads `role_arn` from a profile), so the names
        are literauth's: `LITERAUTH_ASSUME_ROLE_ARN` (required),
        `LITERAUTH_ASSUME_ROLE_SESSION_NAME` and `LITERAUTH_ASSUME_ROLE_EXTERNAL_ID`; the
        region is `AWS_REGION` then `AWS_DEFAULT_REGION`, the endpoint `AWS_ENDPOINT_URL_STS`.
        Without `source`, the source is `literauth.aws.default_chain(environ=...)` when the
        package has it, else `WebIdentityCredentialProvider.from_env()`; that source is
        owned and closed with this provider. `environ=None` means `os.environ`.
        """
        env = environment(environ)
        values = require(
            env, cls.REQUIRED_ENV, provider=cls.provider_name, hint="set it to the ARN of the role to assume"
        )
        owned = source is None
        chosen = _default_source(env, options) if source is None else source
        try:
            provider = cls(
                chosen,
                values["LITERAUTH_ASSUME_ROLE_ARN"],
                session_name=optional(env, "LITERAUTH_ASSUME_ROLE_SESSION_NAME"),
                external_id=optional(env, "LITERAUTH_ASSUME_ROLE_EXTERNAL_ID"),
                region=optional(env, "AWS_REGION") or optional(env, "AWS_DEFAULT_REGION"),
                environ=env,
                **options,
            )
        except BaseException:
            if owned and isinstance(chosen, CredentialProvider):
                chosen.close()
            raise
        provider._owns_source = owned
        return provider

    # -- properties ------------------------------------------------------------------

    @property
    def source(self) -> SupportsResolve:
        """The provider whose keys sign the AssumeRole call."""
        return self._source

    @property
    def role_arn(self) -> str:
        """The ARN of the role assumed."""
        return self._role_arn

    @property
    def session_name(self) -> str:
        """The RoleSessionName sent to STS (it appears in CloudTrail and the assumed-role ARN)."""
        return self._session_name

    @property
    def external_id(self) -> str | None:
        """The ExternalId sent, or None."""
        return self._external_id

    @property
    def duration_seconds(self) -> int:
        """The credential lifetime asked of STS."""
        return self._duration

    @property
    def region(self) -> str:
        """The AWS region: the signing region of the call, and the one SigV4 signers use."""
        return self._region

    @property
    def endpoint(self) -> str:
        """The STS endpoint URL requests go to."""
        return self._fetcher.url

    # -- fetching ---------------------------------------------------------------------

    def _fetch(self) -> AwsCredentials:
        keys = self._source_keys(force=False)
        try:
            return self._assume(keys)
        except TokenEndpointError as exc:
            if exc.error_code not in _EXPIRED_SOURCE:
                raise
            expired = exc
        # STS found the source's keys expired although the source still served them (its
        # clock, or a revoked session): refresh the source once and sign again.
        fresh = self._source_keys(force=True)
        if fresh == keys:
            raise expired  # nothing new to sign with: asking again would get the same answer
        return self._assume(fresh)

    def _assume(self, keys: AwsCredentials) -> AwsCredentials:
        parameters: dict[str, FormValue] = {
            "RoleArn": self._role_arn,
            "RoleSessionName": self._session_name,
            "DurationSeconds": str(self._duration),
        }
        if self._external_id is not None:
            parameters["ExternalId"] = self._external_id
        if self._session_policy is not None:
            parameters["Policy"] = self._session_policy
        return _sts.call(self._fetcher, _ACTION, parameters, prepare=self._signer(keys))

    def _source_keys(self, *, force: bool) -> AwsCredentials:
        """The source's keys, through its cache (`force` drops what it cached first)."""
        source = self._source
        if force and isinstance(source, CredentialProvider):
            keys = source.resolve(force_refresh=True)
        else:
            keys = source.resolve()
        if not isinstance(keys, AwsCredentials):
            raise CredentialSourceError(
                f"{_PROVIDER}: the source {type(source).__name__} returned a {type(keys).__name__}, "
                "not AwsCredentials; the source must be an AWS provider",
                provider=_PROVIDER, retryable=False,
            )
        return keys

    def _signer(self, keys: AwsCredentials) -> Prepare:
        """The fetcher's `prepare` hook: SigV4-sign each attempt with `keys` at the clock's time."""
        region, clock = self._region, self._clock

        def prepare(request: TokenRequest) -> TokenRequest:
            url = request.url or self._fetcher.url
            added = sign(
                request.method, url, request.wire_headers(), request.body_bytes(), keys,
                region=region, service="sts", now=clock(),
            )
            headers: dict[str, FormValue] = {
                name: SecretString(value) if name in _SECRET_HEADERS else value for name, value in added.items()
            }
            # The key id travels inside Authorization: masked too, should STS echo it alone.
            return dataclasses.replace(
                request.with_headers(headers), extra_secrets=(*request.extra_secrets, keys.access_key_id)
            )

        return prepare

    # -- identity, repr and closing ---------------------------------------------------

    def _cache_identity(self) -> tuple[dict[str, str], bytes | None] | None:
        """The role call and the source's own identity; None when the source has none.

        Derived from the source: its fields (prefixed ``source.``) and its secret, since keys
        for the role are only as shareable as the keys that asked for them. The external id
        is a digest, so a process with a wrong one never reads a right one's keys.
        """
        hook = getattr(self._source, "_cache_identity", None)
        inner = hook() if callable(hook) else None
        if inner is None:
            return None
        source_fields, secret = inner
        fields = {
            "role_arn": self._role_arn,
            "session_name": self._session_name,
            "external_id": "" if self._external_id is None else _digest(self._external_id),
            "policy": "" if self._session_policy is None else _digest(self._session_policy),
            "duration": str(self._duration),
            "region": self._region,
            "endpoint": self._fetcher.url,
            "source": str(getattr(self._source, "provider_name", type(self._source).__name__)),
        }
        fields.update({f"source.{key}": value for key, value in source_fields.items()})
        return fields, secret

    def close(self) -> None:
        """Close the provider, and its source when `from_env()` built that source."""
        super().close()
        if self._owns_source and isinstance(self._source, CredentialProvider):
            self._source.close()

    def _repr_fields(self) -> dict[str, object]:
        return {
            "role_arn": self._role_arn,
            "region": self._region,
            "session_name": self._session_name,
            "source": type(self._source).__name__,
        }


# -- checks ---------------------------------------------------------------------------


def _check_source(source: object, provider: object) -> SupportsResolve:
    if source is provider or not callable(getattr(source, "resolve", None)):
        raise ConfigurationError(
            f"{_PROVIDER}: source must be a provider of AwsCredentials (any literauth AWS provider), "
            f"got {type(source).__name__}"
        )
    kind = getattr(source, "credential_type", None)  # Credential (a chain's) may be AwsCredentials
    if isinstance(kind, type) and not (issubclass(kind, AwsCredentials) or issubclass(AwsCredentials, kind)):
        raise ConfigurationError(
            f"{_PROVIDER}: source {type(source).__name__} provides {kind.__name__}, not AwsCredentials"
        )
    return source  # type: ignore[return-value]


def _source_region(source: object) -> str:
    region = getattr(source, "region", None)
    return region if isinstance(region, str) and _sts.is_region(region) else DEFAULT_REGION


def _check_external_id(external_id: object) -> str | None:
    if external_id is None:
        return None
    if not isinstance(external_id, str) or not _EXTERNAL_ID.fullmatch(external_id):
        raise ConfigurationError(
            f"{_PROVIDER}: external_id must be 2-1224 characters of letters, digits and +=,.@:/_-"
        )
    return external_id


def _check_policy(policy: object) -> str | None:
    """The session policy as compact JSON text; `ConfigurationError` unless it is a JSON object."""
    if policy is None:
        return None
    if isinstance(policy, Mapping):
        try:
            text = json.dumps(dict(policy), separators=(",", ":"))
        except (TypeError, ValueError):
            text = ""
    elif isinstance(policy, str):
        text = policy.strip()
    else:
        text = ""
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise ConfigurationError(f"{_PROVIDER}: policy must be an IAM policy document, as JSON text or a mapping")
    if len(text) > MAX_POLICY_LENGTH:
        raise ConfigurationError(
            f"{_PROVIDER}: policy is {len(text)} characters; STS accepts at most {MAX_POLICY_LENGTH}"
        )
    return text


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _default_source(env: Mapping[str, str], options: ProviderOptions) -> SupportsResolve:
    """The source `from_env()` uses without one: the package's default chain if it has one,
    else web identity from the same variables (the one environment source literauth had)."""
    import sys

    chain = getattr(sys.modules[__package__ or "literauth.aws"], "default_chain", None)
    if callable(chain):
        built: SupportsResolve = chain(environ=env, **options)
        return built
    from .web_identity import WebIdentityCredentialProvider

    return WebIdentityCredentialProvider.from_env(env, **options)
