"""AWS STS, the one client every STS-backed provider uses: partitions and endpoints, name
checks, one call (`call()`: the Query API form, sent by the provider's fetcher), and reading
`Credentials` answers and `ErrorResponse` documents, with hints per action.

`AssumeRoleWithWebIdentity` (unsigned) and `AssumeRole` (SigV4-signed by the caller's
`prepare` hook) both go through `call()`. The XML is parsed with `literauth._xml` (no DTDs or
entities, bounded size and depth).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from .._http import (
    ErrorDetails,
    ErrorParser,
    FormValue,
    Prepare,
    TokenRequest,
    TokenResponse,
)
from .._policy import RetryPolicy
from .._url import check_endpoint_url
from ..credentials import UTC, AwsCredentials, parse_rfc3339
from ..errors import ConfigurationError, MalformedResponseError
from ..secret import SecretString

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

    from .._http import TokenFetcher

__all__ = [
    "PARTITION_DNS_SUFFIXES",
    "STS_API_VERSION",
    "STS_NAMESPACE",
    "call",
    "check_duration",
    "check_partition",
    "check_region",
    "check_role_arn",
    "check_session_name",
    "endpoint_url",
    "error_code_of",
    "error_parser",
    "is_region",
    "parse_credentials_response",
    "parse_sts_error",
    "sts_endpoint_for",
]

STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"
STS_API_VERSION = "2011-06-15"
MIN_DURATION, MAX_DURATION = 900, 43200  # the range STS accepts for DurationSeconds
MAX_ARN_LENGTH = 2048  # STS's limit for RoleArn

_ROLE_ARN = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):iam::(?P<account>\d{12}):role/(?:[!-~]*/)?[\w+=,.@-]{1,64}",
    re.ASCII,
)
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
_REGION = re.compile(r"[a-z]{2,4}(?:-[a-z]+)+-\d{1,2}", re.ASCII)
_ERROR_CODE = re.compile(r"[A-Za-z][\w.]{0,99}", re.ASCII)

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
PARTITION_DNS_SUFFIXES = tuple(sorted(set(_DNS_SUFFIXES.values()), key=len, reverse=True))  # longest first

# Transient on STS's side: the identity provider's hiccup, and the throttling family of codes
# AWS services answer with (botocore's standard retry mode treats the same codes as throttling).
_RETRYABLE_CODES = frozenset({
    "IDPCommunicationError",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
})
_MAX_ERROR_BODY = 64 * 1024  # AWS error documents are well under 1 KiB; look no further for a code

# What to check, by error code: first the hints of the action, then those of every action.
_COMMON_HINTS = {
    "AccessDenied": "Check that the role's trust policy allows sts:{action} for this identity",
    "RegionDisabledException": "STS is not activated in this region for the account; activate it in IAM "
    "or choose another region",
}
_ACTION_HINTS = {
    "AssumeRoleWithWebIdentity": {
        "InvalidIdentityToken": "Check that the IAM OIDC provider and the role's trust policy match the token "
        "(issuer, audience sts.amazonaws.com, subject)",
        "ExpiredTokenException": "The web identity token has expired; the token file is re-read on the next "
        "attempt, so check that it is being rotated",
        "IDPRejectedClaim": "The identity provider rejected the token's claims",
    },
    "AssumeRole": {
        "AccessDenied": "Check that the role's trust policy allows sts:AssumeRole for the source identity, "
        "that the source identity's own policy allows sts:AssumeRole on the role, and that external_id "
        "matches when the trust policy asks for one",
        "ExpiredToken": "The source credentials that signed the call have expired; refresh them",
        "InvalidClientTokenId": "The source access key is unknown to AWS or was deactivated",
        "SignatureDoesNotMatch": "The source secret access key does not match its access key id "
        "(or the local clock is more than 15 minutes off)",
        "MalformedPolicyDocument": "The session policy passed with the call is not valid IAM policy JSON",
        "PackedPolicyTooLarge": "The session policy or session tags are too large; shorten them",
        "ValidationError": "Check duration_seconds against the role's MaxSessionDuration (a role assumed "
        "with keys from another role, role chaining, gets at most 3600 s) and the other parameters",
    },
}


def _hint(code: str | None, action: str) -> str | None:
    """The hint that fits `code` for `action`, with the action's name filled in; `None` if none."""
    if code is None:
        return None
    text = _ACTION_HINTS.get(action, {}).get(code) or _COMMON_HINTS.get(code)
    return None if text is None else text.format(action=action)


def _partition_of_region(region: str) -> str:
    for prefix, partition in _REGION_PARTITIONS:
        if region.startswith(prefix):
            return partition
    return "aws"


def sts_endpoint_for(region: str) -> str:
    """The regional STS endpoint URL, with the DNS suffix of the region's partition."""
    return f"https://sts.{region}.{_DNS_SUFFIXES[_partition_of_region(region)]}"


def endpoint_url(provider: str, partition: str, region: str, sts_endpoint: str | None) -> str:
    """The URL a provider sends its STS calls to: `sts_endpoint` checked, else the regional one.

    Without an explicit endpoint the region must be in the role's partition, since another
    partition's STS does not know the role.
    """
    if sts_endpoint is not None:
        return check_endpoint_url(sts_endpoint, f"{provider}: sts_endpoint")
    check_partition(provider, partition, region)
    return sts_endpoint_for(region)


def _q(name: str) -> str:
    return f"{{{STS_NAMESPACE}}}{name}"


def check_role_arn(provider: str, role_arn: object) -> str:
    """The role ARN's partition; `ConfigurationError` unless it is an IAM role ARN."""
    match = _ROLE_ARN.fullmatch(role_arn) if isinstance(role_arn, str) else None
    if match is None or len(str(role_arn)) > MAX_ARN_LENGTH:
        raise ConfigurationError(
            f"{provider}: role_arn must look like arn:aws:iam::123456789012:role/name, got {role_arn!r}"
        )
    partition = match.group("partition")
    if partition not in _DNS_SUFFIXES:
        raise ConfigurationError(f"{provider}: role_arn names an unknown partition {partition!r}")
    return partition


def check_session_name(provider: str, session_name: object) -> str:
    """A RoleSessionName STS accepts: 2-64 characters of letters, digits and +=,.@_-."""
    if not isinstance(session_name, str) or not _SESSION_NAME.fullmatch(session_name):
        raise ConfigurationError(
            f"{provider}: session_name must be 2-64 characters of letters, digits and +=,.@_-, "
            f"got {session_name!r}"
        )
    return session_name


def is_region(name: str) -> bool:
    """Whether `name` reads as an AWS region: ``us-east-1``, ``us-gov-west-1``, ``eusc-de-east-1``...

    The one region pattern: providers validate with it and `Client` finds the region in a host with it.
    """
    return _REGION.fullmatch(name) is not None


def check_region(provider: str, region: object) -> str:
    """An AWS region name such as ``us-east-1`` or ``us-gov-west-1``."""
    if not isinstance(region, str) or not is_region(region):
        raise ConfigurationError(f"{provider}: region must look like 'us-east-1', got {region!r}")
    return region


def check_duration(provider: str, duration_seconds: object) -> int:
    """A DurationSeconds STS accepts (900-43200)."""
    if (
        isinstance(duration_seconds, bool)
        or not isinstance(duration_seconds, int)
        or not MIN_DURATION <= duration_seconds <= MAX_DURATION
    ):
        raise ConfigurationError(
            f"{provider}: duration_seconds must be a whole number from {MIN_DURATION} to {MAX_DURATION}, "
            f"got {duration_seconds!r}"
        )
    return duration_seconds


def check_partition(provider: str, partition: str, region: str) -> None:
    """Refuse a region outside the role's partition: its STS endpoint would not know the role."""
    region_partition = _partition_of_region(region)
    if region_partition != partition:
        raise ConfigurationError(
            f"{provider}: the role is in partition {partition} but region {region} is in "
            f"{region_partition}; choose a region of the role's partition or pass sts_endpoint"
        )


# -- reading STS answers (pure functions) -----------------------------------------------------


def _malformed(provider: str, host: str, what: str) -> MalformedResponseError:
    return MalformedResponseError(f"{provider}: STS endpoint {host} {what}", provider=provider, host=host)


def _field(credentials: Element, name: str) -> str | None:
    element = credentials.find(_q(name))
    text = None if element is None else (element.text or "").strip()
    return text or None


def parse_credentials_response(
    response: TokenResponse, action: str, provider: str, host: str
) -> AwsCredentials:
    """`AwsCredentials` from the answer to STS `action` (its `<action>Result/Credentials`), skew-corrected by `Date`.

    With a `Date` header the expiry is the local send time plus (Expiration - Date), so a
    local clock that is off by minutes still refreshes on time.
    """
    from .._xml import (  # XML is loaded on first use
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
    if root.tag != _q(f"{action}Response"):
        raise _malformed(
            provider, host,
            f"answered with <{local_name(root.tag)[:60]}>, not {action}Response "
            f"in the STS namespace {STS_NAMESPACE}",
        )
    credentials = root.find(f"{_q(f'{action}Result')}/{_q('Credentials')}")
    if credentials is None:
        raise _malformed(provider, host, f"answered without {action}Result/Credentials")
    names = ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")
    fields = {name: _field(credentials, name) for name in names}
    missing = [name for name, value in fields.items() if value is None]
    if missing:
        raise _malformed(provider, host, f"answered without Credentials/{', '.join(missing)}")
    expiration_text = fields["Expiration"] or ""
    expiration = parse_rfc3339(expiration_text)
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
    from .._xml import find_local

    if element is None:
        return None
    found = find_local(element, name)
    text = None if found is None else (found.text or "").strip()
    return text or None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, whatever its case (`requests` is case-blind, a plain dict is not)."""
    value = headers.get(name)
    if value is None:
        lower = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lower), None)
    return value


def _valid_code(value: object) -> str | None:
    """``com.amazon.coral.service#ExpiredTokenException`` -> ``ExpiredTokenException``; junk -> `None`."""
    if not isinstance(value, str):
        return None
    code = value.rpartition("#")[2].strip()
    return code if _ERROR_CODE.fullmatch(code) else None


def _read_error(headers: Mapping[str, str], body: bytes) -> tuple[str | None, Element | None]:
    """The error code, and the XML document when the body is one (for its other fields).

    Sources, in the order AWS protocols use them: the `x-amzn-ErrorType` header (REST-JSON),
    a JSON body's `__type` or `code` (JSON and Smithy RPC), an XML `<Error><Code>` (Query,
    REST-XML, S3). Only the first 64 KiB are read; nothing raises.
    """
    from .._xml import XmlError, find_local, parse_xml

    header = _header(headers, "x-amzn-ErrorType")
    header_code = _valid_code(header.split(":", 1)[0]) if header else None
    body = body[:_MAX_ERROR_BODY]
    stripped = body.lstrip()
    if stripped.startswith(b"{"):
        return header_code or _json_code(stripped), None
    try:
        root = parse_xml(body, max_bytes=_MAX_ERROR_BODY)
    except XmlError:
        return header_code, None
    return header_code or _valid_code(_child_text(find_local(root, "Error"), "Code")), root


def _json_code(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested too deep
        return None
    if isinstance(data, dict):
        for key in ("__type", "code", "Code"):
            code = _valid_code(data.get(key))
            if code is not None:
                return code
    return None


def error_code_of(headers: Mapping[str, str], body: bytes) -> str | None:
    """The AWS error code of an answer (``ExpiredToken``, ``ThrottlingException``...); `None` if none.

    The one reader for every AWS protocol: STS errors and the API answers `SigV4Auth` judges
    both go through it. Bounded and total: any header or body gives a code or `None`.
    """
    return _read_error(headers, body)[0]


@functools.cache
def error_parser(action: str) -> ErrorParser:
    """`parse_sts_error` for `action`, as the fetcher's `parse_error` (made once per action)."""
    return functools.partial(parse_sts_error, action=action)


def call(
    fetcher: TokenFetcher,
    action: str,
    parameters: Mapping[str, FormValue],
    *,
    prepare: Prepare | None = None,
) -> AwsCredentials:
    """One STS Query API call of `action` with `parameters`: its `Credentials`, or a raised error.

    The form carries Action and Version first, as the SDKs send it; `prepare` signs each
    attempt (AssumeRole), or is None for the unsigned web identity call.
    """
    form: dict[str, FormValue] = {"Action": action, "Version": STS_API_VERSION, **parameters}
    request = TokenRequest(form=form, headers={"Accept": "text/xml"})
    response = fetcher.send(request, error_parser(action), prepare=prepare)
    return parse_credentials_response(response, action, fetcher.provider, fetcher.host)


def parse_sts_error(response: TokenResponse, action: str = "AssumeRoleWithWebIdentity") -> ErrorDetails:
    """`Code`, `Message` and `RequestId` of an STS error answer to `action`; empty when unreadable.

    The hint fits the action: an `AccessDenied` to AssumeRole points at the source
    identity's policy, one to AssumeRoleWithWebIdentity at the OIDC trust.
    `IDPCommunicationError` and the throttling codes (`Throttling`, `ThrottlingException`...)
    are retryable; other codes are not, except on 429 and 5xx answers, which are left to
    the HTTP status. (The fetcher masks the token
    should the server echo it.)
    """
    from .._xml import find_local

    code, root = _read_error(response.headers, response.body)
    error = None if root is None else find_local(root, "Error")
    message = _child_text(error, "Message")
    request_id = _child_text(root, "RequestId") or _header(response.headers, "x-amzn-RequestId")
    if code in _RETRYABLE_CODES:
        retryable: bool | None = True
    elif code is not None and not RetryPolicy.is_retryable_status(response.status_code):
        retryable = False
    else:
        retryable = None
    return ErrorDetails(
        error_code=code,
        description=message,
        retryable=retryable,
        reference=f"RequestId {request_id}" if request_id else None,
        hint=_hint(code, action),
    )
