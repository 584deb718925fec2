"""AWS STS `AssumeRoleWithWebIdentity`: temporary AWS keys from an OIDC token file (EKS IRSA, Bedrock).

The token file is re-read on every fetch because the kubelet rotates it, and the expiry
STS reports is corrected for clock skew with the answer's `Date` header.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from ._env import environment, optional, require
from ._http import EndpointError, FormValue, TokenResponse, check_endpoint_url
from ._policy import RetryPolicy
from .credentials import UTC, AwsCredentials
from .errors import ConfigurationError, MalformedResponseError
from .provider import RefreshingCredentialProvider
from .secret import SecretString

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

    from typing_extensions import Unpack

    from .provider import ProviderOptions

__all__ = [
    "DEFAULT_SESSION_NAME",
    "STS_NAMESPACE",
    "WebIdentityCredentialProvider",
    "parse_assume_role_response",
    "parse_sts_error",
    "sts_endpoint_for",
]

STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
STS_API_VERSION = "2011-06-15"
DEFAULT_SESSION_NAME = "liter-llm-session"
DEFAULT_REGION = "us-east-1"
DEFAULT_DURATION = 3600  # STS's own default lifetime for temporary credentials
MIN_DURATION, MAX_DURATION = 900, 43200  # the range STS accepts for DurationSeconds
MAX_TOKEN_LENGTH = 20000  # STS refuses a longer WebIdentityToken
MAX_TOKEN_FILE = 64 * 1024  # read no more: a bigger file does not hold a token
MAX_ARN_LENGTH = 2048  # STS's limit for RoleArn

_ROLE_ARN = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):iam::(?P<account>\d{12}):role/(?:[!-~]*/)?[\w+=,.@-]{1,64}",
    re.ASCII,
)
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
_REGION = re.compile(r"[a-z]{2,4}(?:-[a-z]+)+-\d{1,2}", re.ASCII)
_ERROR_CODE = re.compile(r"[A-Za-z][\w.]{0,99}", re.ASCII)
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})", re.ASCII
)

# Region prefix -> partition, most specific first; partition -> DNS suffix of its endpoints.
_REGION_PARTITIONS = (
    ("cn-", "aws-cn"),
    ("us-gov-", "aws-us-gov"),
    ("us-iso-", "aws-iso"),
    ("us-isob-", "aws-iso-b"),
    ("us-isof-", "aws-iso-f"),
    ("eu-isoe-", "aws-iso-e"),
    ("eusc-", "aws-eusc"),
)
_DNS_SUFFIXES = {
    "aws": "amazonaws.com",
    "aws-cn": "amazonaws.com.cn",
    "aws-us-gov": "amazonaws.com",
    "aws-iso": "c2s.ic.gov",
    "aws-iso-b": "sc2s.sgov.gov",
    "aws-iso-f": "csp.hci.ic.gov",
    "aws-iso-e": "cloud.adc-e.uk",
    "aws-eusc": "amazonaws.eu",
}

_RETRYABLE_CODES = frozenset({"IDPCommunicationError", "Throttling"})  # transient on STS's side
_HINTS = {
    "InvalidIdentityToken": "Check that the IAM OIDC provider and the role's trust policy match the token "
    "(issuer, audience sts.amazonaws.com, subject)",
    "ExpiredTokenException": "The web identity token has expired; the token file is re-read on the next "
    "attempt, so check that it is being rotated",
    "AccessDenied": "Check that the role's trust policy allows sts:AssumeRoleWithWebIdentity "
    "for this identity",
    "IDPRejectedClaim": "The identity provider rejected the token's claims",
    "RegionDisabledException": "STS is not activated in this region for the account; activate it in IAM "
    "or choose another region",
}


def _partition_of_region(region: str) -> str:
    for prefix, partition in _REGION_PARTITIONS:
        if region.startswith(prefix):
            return partition
    return "aws"


def sts_endpoint_for(region: str) -> str:
    """The regional STS endpoint URL, with the DNS suffix of the region's partition."""
    return f"https://sts.{region}.{_DNS_SUFFIXES[_partition_of_region(region)]}"


def _q(name: str) -> str:
    return f"{{{STS_NAMESPACE}}}{name}"


class WebIdentityCredentialProvider(RefreshingCredentialProvider):
    """Temporary `AwsCredentials` from STS `AssumeRoleWithWebIdentity`, cached and refreshed.

    The OIDC token in `web_identity_token_file` is read afresh for every request, since the
    kubelet replaces it hourly and an old copy expires. `duration_seconds` is the lifetime
    asked of STS (900-43200); `sts_endpoint=None` uses the regional endpoint of `region`.
    """

    provider_name = "aws-sts"
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
        partition = self._check_role_arn(role_arn)
        self._token_file = self._check_token_file(web_identity_token_file)
        if not isinstance(session_name, str) or not _SESSION_NAME.fullmatch(session_name):
            raise ConfigurationError(
                f"{name}: session_name must be 2-64 characters of letters, digits and +=,.@_-, "
                f"got {session_name!r}"
            )
        if not isinstance(region, str) or not _REGION.fullmatch(region):
            raise ConfigurationError(f"{name}: region must look like 'us-east-1', got {region!r}")
        if (
            isinstance(duration_seconds, bool)
            or not isinstance(duration_seconds, int)
            or not MIN_DURATION <= duration_seconds <= MAX_DURATION
        ):
            raise ConfigurationError(
                f"{name}: duration_seconds must be a whole number from {MIN_DURATION} to {MAX_DURATION}, "
                f"got {duration_seconds!r}"
            )
        if sts_endpoint is None:
            region_partition = _partition_of_region(region)
            if region_partition != partition:
                raise ConfigurationError(
                    f"{name}: the role is in partition {partition} but region {region} is in "
                    f"{region_partition}; choose a region of the role's partition or pass sts_endpoint"
                )
            url = sts_endpoint_for(region)
        else:
            url = check_endpoint_url(sts_endpoint, f"{name}: sts_endpoint")
        self._role_arn = role_arn
        self._session_name = session_name
        self._region = region
        self._duration = duration_seconds
        self._sts = self._make_fetcher(url)

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

    # -- validation ------------------------------------------------------------------

    def _check_role_arn(self, role_arn: object) -> str:
        """The role ARN's partition; `ConfigurationError` unless it is an IAM role ARN."""
        match = _ROLE_ARN.fullmatch(role_arn) if isinstance(role_arn, str) else None
        if match is None or len(str(role_arn)) > MAX_ARN_LENGTH:
            raise ConfigurationError(
                f"{self.provider_name}: role_arn must look like arn:aws:iam::123456789012:role/name, "
                f"got {role_arn!r}"
            )
        partition = match.group("partition")
        if partition not in _DNS_SUFFIXES:
            raise ConfigurationError(
                f"{self.provider_name}: role_arn names an unknown partition {partition!r}"
            )
        return partition

    def _check_token_file(self, path: object) -> str:
        try:
            text = os.fspath(path)  # type: ignore[call-overload]
        except TypeError:
            text = None
        if not isinstance(text, str) or not text.strip():
            raise ConfigurationError(
                f"{self.provider_name}: web_identity_token_file must be a non-empty path, got {path!r}"
            )
        try:  # open() would raise ValueError for these at every fetch; say so once, here
            usable = "\x00" not in text and bool(os.fsencode(text))
        except UnicodeError:
            usable = False
        if not usable:
            raise ConfigurationError(
                f"{self.provider_name}: web_identity_token_file {text!r} is not a usable path "
                "(it holds a NUL character or cannot be encoded for the file system)"
            )
        return text

    # -- fetching --------------------------------------------------------------------

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
        return self._sts.url

    def _read_token(self) -> SecretString:
        """The token from the file, stripped; `ConfigurationError` naming the path, never the content."""
        path, name = self._token_file, self.provider_name
        try:
            with open(path, "rb") as handle:
                raw = handle.read(MAX_TOKEN_FILE + 1)
        except FileNotFoundError:
            raise ConfigurationError(f"{name}: web identity token file {path} does not exist") from None
        except IsADirectoryError:
            raise ConfigurationError(f"{name}: web identity token file {path} is a directory") from None
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ConfigurationError(
                f"{name}: web identity token file {path} cannot be read ({reason})"
            ) from None
        if len(raw) > MAX_TOKEN_FILE:
            raise ConfigurationError(
                f"{name}: web identity token file {path} is larger than {MAX_TOKEN_FILE} bytes; "
                "it does not hold a token"
            )
        try:
            token: str | None = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            token = None  # raised below, outside the handler: the decoding error holds the file's bytes
        if token is None:
            raise ConfigurationError(f"{name}: web identity token file {path} is not UTF-8 text")
        if not token:
            raise ConfigurationError(f"{name}: web identity token file {path} is empty")
        if len(token) > MAX_TOKEN_LENGTH:
            raise ConfigurationError(
                f"{name}: the token in {path} is longer than the {MAX_TOKEN_LENGTH} characters STS accepts"
            )
        if any(char.isspace() or not char.isprintable() for char in token):
            raise ConfigurationError(
                f"{name}: the token in {path} contains whitespace or control characters; "
                "the file must hold exactly one token"
            )
        return SecretString(token)

    def _fetch(self) -> AwsCredentials:
        token = self._read_token()
        form: dict[str, FormValue] = {
            "Action": "AssumeRoleWithWebIdentity",
            "Version": STS_API_VERSION,
            "RoleArn": self._role_arn,
            "RoleSessionName": self._session_name,
            "WebIdentityToken": token,
            "DurationSeconds": str(self._duration),
        }
        response = self._sts.post_form(form, parse_sts_error, accept="text/xml")
        return parse_assume_role_response(response, self.provider_name, self._sts.host)

    def _repr_fields(self) -> dict[str, object]:
        return {"role_arn": self._role_arn, "region": self._region, "session_name": self._session_name}


# -- reading STS answers (pure functions) -------------------------------------------------


def _malformed(provider: str, host: str, what: str) -> MalformedResponseError:
    return MalformedResponseError(f"{provider}: STS endpoint {host} {what}", provider=provider, host=host)


def _parse_timestamp(value: str) -> datetime | None:
    """An ISO-8601 timestamp with an explicit zone (``Z`` or an offset), fraction optional."""
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    sign = -1 if zone[0] == "-" else 1
    try:  # an offset of a day or more, an impossible date, or a shift past year 1 or 9999
        tz = UTC if zone == "Z" else timezone(
            sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        )
        stamp = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz)
        return stamp.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def _field(credentials: Element, name: str) -> str | None:
    element = credentials.find(_q(name))
    text = None if element is None else (element.text or "").strip()
    return text or None


def parse_assume_role_response(response: TokenResponse, provider: str, host: str) -> AwsCredentials:
    """`AwsCredentials` from an `AssumeRoleWithWebIdentity` answer, skew-corrected by its `Date`.

    With a `Date` header the expiry is the local send time plus (Expiration - Date), so a
    local clock that is off by minutes still refreshes on time.
    """
    from ._xml import (  # XML is loaded on first use
        UnsafeXmlError,
        XmlError,
        local_name,
        parse_xml,
    )

    try:
        root = parse_xml(response.body)
    except UnsafeXmlError:
        raise _malformed(provider, host, "answered with XML declaring a DTD or entities (refused)") from None
    except XmlError as exc:
        raise _malformed(provider, host, f"answered HTTP {response.status_code}, but {exc}") from None
    if root.tag != _q("AssumeRoleWithWebIdentityResponse"):
        raise _malformed(
            provider, host,
            f"answered with <{local_name(root.tag)[:60]}>, not AssumeRoleWithWebIdentityResponse "
            f"in the STS namespace {STS_NAMESPACE}",
        )
    credentials = root.find(f"{_q('AssumeRoleWithWebIdentityResult')}/{_q('Credentials')}")
    if credentials is None:
        raise _malformed(provider, host, "answered without AssumeRoleWithWebIdentityResult/Credentials")
    names = ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")
    fields = {name: _field(credentials, name) for name in names}
    missing = [name for name, value in fields.items() if value is None]
    if missing:
        raise _malformed(provider, host, f"answered without Credentials/{', '.join(missing)}")
    expiration_text = fields["Expiration"] or ""
    expiration = _parse_timestamp(expiration_text)
    if expiration is None:
        raise _malformed(provider, host, f"answered with an unreadable Expiration {expiration_text[:40]!r}")
    server_date = response.server_date
    if server_date is None:
        expires_at = expiration
    else:
        lifetime = expiration.timestamp() - server_date
        try:
            expires_at = datetime.fromtimestamp(response.sent_at + lifetime, UTC)
        except (OverflowError, OSError, ValueError):
            raise _malformed(provider, host, "answered with an out-of-range Expiration") from None
    return AwsCredentials(
        SecretString(fields["AccessKeyId"] or ""),
        SecretString(fields["SecretAccessKey"] or ""),
        SecretString(fields["SessionToken"] or ""),
        expires_at,
    )


def _child_text(element: Element | None, name: str) -> str | None:
    from ._xml import find_local

    if element is None:
        return None
    found = find_local(element, name)
    text = None if found is None else (found.text or "").strip()
    return text or None


def parse_sts_error(response: TokenResponse) -> EndpointError:
    """`Code`, `Message` and `RequestId` of an STS `ErrorResponse`; empty when unreadable.

    `IDPCommunicationError` and `Throttling` are retryable; other codes are not, except
    on 429 and 5xx answers, which are left to the HTTP status. (The fetcher masks the token
    should the server echo it.)
    """
    from ._xml import XmlError, find_local, parse_xml

    try:
        root = parse_xml(response.body)
    except XmlError:
        return EndpointError(None)
    error = find_local(root, "Error")
    code = _child_text(error, "Code")
    if code is not None and not _ERROR_CODE.fullmatch(code):
        code = None
    message = _child_text(error, "Message")
    request_id = _child_text(root, "RequestId") or response.headers.get("x-amzn-RequestId")
    if code in _RETRYABLE_CODES:
        retryable: bool | None = True
    elif code is not None and not RetryPolicy.is_retryable_status(response.status_code):
        retryable = False
    else:
        retryable = None
    return EndpointError(
        error_code=code,
        description=message,
        retryable=retryable,
        reference=f"RequestId {request_id}" if request_id else None,
        hint=_HINTS.get(code or ""),
    )
