"""AWS STS `AssumeRoleWithWebIdentity`: temporary AWS keys from an OIDC token file (EKS IRSA).

The token file is re-read on every fetch because the kubelet rotates it, and the expiry
STS reports is corrected for clock skew with the answer's `Date` header.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from .._env import environment, optional, require
from .._files import check_path, read_token_file
from ..credentials import AwsCredentials
from ..provider import RefreshingCredentialProvider
from . import _sts

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..provider import ProviderOptions

__all__ = ["DEFAULT_SESSION_NAME", "WebIdentityCredentialProvider"]

DEFAULT_SESSION_NAME = "liter-llm-session"
DEFAULT_REGION = "us-east-1"
DEFAULT_DURATION = 3600  # STS's own default lifetime for temporary credentials
MAX_TOKEN_LENGTH = 20000  # STS refuses a longer WebIdentityToken
_ACTION = "AssumeRoleWithWebIdentity"


class WebIdentityCredentialProvider(RefreshingCredentialProvider):
    """Temporary `AwsCredentials` from STS `AssumeRoleWithWebIdentity`, cached and refreshed.

    The OIDC token in `web_identity_token_file` is read afresh for every request, since the
    kubelet replaces it hourly and an old copy expires. `duration_seconds` is the lifetime
    asked of STS (900-43200); `sts_endpoint=None` uses the regional endpoint of `region`.
    """

    provider_name = "aws.web_identity"
    credential_type: ClassVar[type[AwsCredentials]] = AwsCredentials
    #: What `from_env()` needs (EKS sets both for IAM Roles for Service Accounts).
    REQUIRED_ENV = ("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")

    def __init__(
        self,
        role_arn: str,
        web_identity_token_file: str | os.PathLike[str],
        session_name: str = DEFAULT_SESSION_NAME,
        region: str = DEFAULT_REGION,
        *,
        duration_seconds: int = DEFAULT_DURATION,
        sts_endpoint: str | None = None,
        **options: Unpack[ProviderOptions],
    ) -> None:
        super().__init__(**options)
        name = self.provider_name
        partition = _sts.check_role_arn(name, role_arn)
        self._token_file = check_path(name, "web_identity_token_file", web_identity_token_file)
        self._session_name = _sts.check_session_name(name, session_name)
        self._region = _sts.check_region(name, region)
        self._duration = _sts.check_duration(name, duration_seconds)
        self._role_arn = role_arn
        self._fetcher = self._make_fetcher(_sts.endpoint_url(name, partition, region, sts_endpoint))

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **options: Unpack[ProviderOptions]
    ) -> WebIdentityCredentialProvider:
        """Build from the variables EKS injects for IAM Roles for Service Accounts.

        Needs `AWS_ROLE_ARN` and `AWS_WEB_IDENTITY_TOKEN_FILE`; reads `AWS_ROLE_SESSION_NAME`,
        `AWS_REGION` then `AWS_DEFAULT_REGION`, and `AWS_ENDPOINT_URL_STS`. `environ=None`
        means `os.environ`.
        """
        env = environment(environ)
        values = require(
            env,
            cls.REQUIRED_ENV,
            provider=cls.provider_name,
            hint="EKS sets them for IAM Roles for Service Accounts",
        )
        return cls(
            values["AWS_ROLE_ARN"],
            values["AWS_WEB_IDENTITY_TOKEN_FILE"],
            optional(env, "AWS_ROLE_SESSION_NAME") or DEFAULT_SESSION_NAME,
            optional(env, "AWS_REGION") or optional(env, "AWS_DEFAULT_REGION") or DEFAULT_REGION,
            sts_endpoint=optional(env, "AWS_ENDPOINT_URL_STS"),
            **options,
        )

    # -- properties ------------------------------------------------------------------

    @property
    def role_arn(self) -> str:
        """The ARN of the role assumed."""
        return self._role_arn

    @property
    def session_name(self) -> str:
        """The RoleSessionName sent to STS (it appears in CloudTrail)."""
        return self._session_name

    @property
    def region(self) -> str:
        """The AWS region, used for the default endpoint and by SigV4 signers."""
        return self._region

    @property
    def web_identity_token_file(self) -> str:
        """The path the OIDC token is read from on every fetch."""
        return self._token_file

    @property
    def duration_seconds(self) -> int:
        """The credential lifetime asked of STS."""
        return self._duration

    @property
    def endpoint(self) -> str:
        """The STS endpoint URL requests go to."""
        return self._fetcher.url

    def _fetch(self) -> AwsCredentials:
        token = read_token_file(
            self._token_file, provider=self.provider_name, what="web identity token file",
            max_length=MAX_TOKEN_LENGTH,
        )
        return _sts.call(self._fetcher, _ACTION, {
            "RoleArn": self._role_arn,
            "RoleSessionName": self._session_name,
            "WebIdentityToken": token,
            "DurationSeconds": str(self._duration),
        })

    def _repr_fields(self) -> dict[str, object]:
        return {"role_arn": self._role_arn, "region": self._region, "session_name": self._session_name}

    def _cache_identity(self) -> tuple[dict[str, str], None]:
        """Role, session name, duration and STS endpoint; the web identity token file is no
        stable secret (the kubelet rotates it)."""
        fields = {"role_arn": self._role_arn, "session_name": self._session_name,
                  "duration": str(self._duration), "endpoint": self._fetcher.url, "token_file": self._token_file}
        return fields, None
