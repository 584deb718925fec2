"""aws/_sts: the one AWS error-code reader, STS hints per action, `Credentials` answers per action,
and the one region pattern. Pure functions over hand-written answers; no sockets."""

from __future__ import annotations

import email.utils
from datetime import datetime

import pytest

from literauth import ConfigurationError, MalformedResponseError
from literauth._http import TokenResponse
from literauth.aws._sts import (
    PARTITION_DNS_SUFFIXES,
    check_region,
    error_code_of,
    is_region,
    parse_credentials_response,
    parse_sts_error,
)
from literauth.credentials import UTC

SENT_AT = datetime(2027, 3, 1, 9, 0, 0, tzinfo=UTC).timestamp()

# Written by hand after the AssumeRole API reference's example answer; not produced by our code.
ASSUME_ROLE_ANSWER = b"""<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleResult>
    <SourceIdentity>DevUser123</SourceIdentity>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/demo/John</Arn>
      <AssumedRoleId>ARO123EXAMPLE123:John</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>AQoDYXdzEPT//////////wEXAMPLEtc764assumeRoleToken</SessionToken>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYassumeRoleSecret</SecretAccessKey>
      <Expiration>2027-03-01T10:00:00Z</Expiration>
      <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>
    </Credentials>
    <PackedPolicySize>8</PackedPolicySize>
  </AssumeRoleResult>
  <ResponseMetadata>
    <RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId>
  </ResponseMetadata>
</AssumeRoleResponse>
"""


def answer(body: bytes, *, status: int = 200, headers: dict[str, str] | None = None) -> TokenResponse:
    return TokenResponse(status, headers or {}, body, SENT_AT, 0.01)


def sts_error(code: str, message: str = "m") -> bytes:
    return (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>req-1</RequestId></ErrorResponse>"
    ).encode()


# -- parse_credentials_response, per action ---------------------------------------------------


def test_assume_role_answer_is_read() -> None:
    credentials = parse_credentials_response(answer(ASSUME_ROLE_ANSWER), "AssumeRole", "test", "sts.example")
    assert credentials.access_key_id.expose_secret() == "ASIAIOSFODNN7EXAMPLE"
    assert credentials.secret_access_key.expose_secret() == "wJalrXUtnFEMI/K7MDENG/bPxRfiCYassumeRoleSecret"
    assert credentials.session_token is not None
    assert credentials.session_token.expose_secret() == "AQoDYXdzEPT//////////wEXAMPLEtc764assumeRoleToken"
    assert credentials.expires_at == datetime(2027, 3, 1, 10, 0, 0, tzinfo=UTC)


def test_assume_role_expiry_is_corrected_for_a_skewed_clock() -> None:
    """The server says it is 09:30; the role lasts 30 more minutes from our send time."""
    date = email.utils.formatdate(datetime(2027, 3, 1, 9, 30, 0, tzinfo=UTC).timestamp(), usegmt=True)
    credentials = parse_credentials_response(
        answer(ASSUME_ROLE_ANSWER, headers={"Date": date}), "AssumeRole", "test", "sts.example"
    )
    assert credentials.expires_at == datetime(2027, 3, 1, 9, 30, 0, tzinfo=UTC)


def test_an_answer_to_another_action_is_refused() -> None:
    with pytest.raises(MalformedResponseError, match="AssumeRoleWithWebIdentityResponse"):
        parse_credentials_response(answer(ASSUME_ROLE_ANSWER), "AssumeRoleWithWebIdentity", "test", "sts.example")


def test_an_answer_without_the_actions_result_is_refused() -> None:
    body = ASSUME_ROLE_ANSWER.replace(b"AssumeRoleResult", b"OtherResult")
    with pytest.raises(MalformedResponseError, match="AssumeRoleResult/Credentials"):
        parse_credentials_response(answer(body), "AssumeRole", "test", "sts.example")


# -- parse_sts_error: hints that fit the action -------------------------------------------------


def test_access_denied_hint_fits_the_action() -> None:
    web = parse_sts_error(answer(sts_error("AccessDenied"), status=403), "AssumeRoleWithWebIdentity")
    role = parse_sts_error(answer(sts_error("AccessDenied"), status=403), "AssumeRole")
    assert web.hint is not None and "sts:AssumeRoleWithWebIdentity" in web.hint
    assert role.hint is not None and "source identity" in role.hint and "sts:AssumeRole " in role.hint
    assert (web.error_code, web.description, web.reference) == ("AccessDenied", "m", "RequestId req-1")


@pytest.mark.parametrize(
    ("code", "action", "words"),
    [
        ("InvalidIdentityToken", "AssumeRoleWithWebIdentity", "OIDC"),
        ("ExpiredTokenException", "AssumeRoleWithWebIdentity", "token file"),
        ("ExpiredToken", "AssumeRole", "source credentials"),
        ("InvalidClientTokenId", "AssumeRole", "source access key"),
        ("SignatureDoesNotMatch", "AssumeRole", "secret access key"),
        ("RegionDisabledException", "AssumeRole", "not activated"),
        ("RegionDisabledException", "AssumeRoleWithWebIdentity", "not activated"),
    ],
)
def test_hints_per_action(code: str, action: str, words: str) -> None:
    hint = parse_sts_error(answer(sts_error(code), status=400), action).hint
    assert hint is not None and words in hint


@pytest.mark.parametrize(
    ("code", "action"),
    [
        ("InvalidIdentityToken", "AssumeRole"),  # a web identity matter, not AssumeRole's
        ("ExpiredTokenException", "AssumeRole"),
        ("SignatureDoesNotMatch", "AssumeRoleWithWebIdentity"),  # the call is not signed
        ("SomethingNew", "AssumeRole"),
    ],
)
def test_no_hint_that_belongs_to_another_action(code: str, action: str) -> None:
    assert parse_sts_error(answer(sts_error(code), status=400), action).hint is None


def test_retryable_codes_and_statuses() -> None:
    assert parse_sts_error(answer(sts_error("Throttling"), status=400), "AssumeRole").retryable is True
    assert parse_sts_error(answer(sts_error("AccessDenied"), status=403), "AssumeRole").retryable is False
    assert parse_sts_error(answer(sts_error("AccessDenied"), status=503), "AssumeRole").retryable is None


def test_an_sts_json_answer_is_read_too() -> None:
    """STS also speaks the JSON protocol (awsQueryCompatible); the code is read the same way."""
    body = b'{"__type":"com.amazonaws.sts#ExpiredTokenException","message":"expired"}'
    error = parse_sts_error(answer(body, status=400, headers={"x-amzn-RequestId": "r-9"}))
    assert (error.error_code, error.reference) == ("ExpiredTokenException", "RequestId r-9")


# -- error_code_of: one reader for every AWS protocol ---------------------------------------------


@pytest.mark.parametrize(
    ("headers", "body", "code"),
    [
        ({"x-amzn-ErrorType": "ExpiredTokenException:http://internal.amazon.com/"}, b"{}", "ExpiredTokenException"),
        ({"X-Amzn-ErrorType": "ThrottlingException"}, b"", "ThrottlingException"),  # any case
        ({}, b'{"__type":"com.amazon.coral.service#UnrecognizedClientException"}', "UnrecognizedClientException"),
        ({}, b'  {"code":"ExpiredTokenException"}', "ExpiredTokenException"),
        ({}, b'{"Code":"AccessDeniedException"}', "AccessDeniedException"),
        ({}, sts_error("ExpiredToken"), "ExpiredToken"),
        ({}, b"<?xml version='1.0'?><Error><Code>InvalidClientTokenId</Code></Error>", "InvalidClientTokenId"),
        ({}, b"<Response><Errors><Error><Code>AuthFailure</Code></Error></Errors></Response>", "AuthFailure"),
        ({}, b"<Error><Code>  no spaces allowed </Code></Error>", None),
        ({}, b"<Other><Code>NotInAnError</Code></Other>", None),
        ({"x-amzn-ErrorType": "#"}, b"", None),
        ({}, b'{"__type": 7}', None),
        ({}, b"[1, 2]", None),
        ({}, b"not json {", None),
        ({}, b"{not json", None),
        ({}, b"", None),
        ({}, b"\xff\xfe<\x00", None),
        ({}, b'{"a":' * 5_000 + b"1" + b"}" * 5_000, None),  # nested too deep for json: no code
        ({}, b"<!DOCTYPE x [<!ENTITY e 'ExpiredToken'>]><Error><Code>&e;</Code></Error>", None),
    ],
)
def test_error_code_of(headers: dict[str, str], body: bytes, code: str | None) -> None:
    assert error_code_of(headers, body) == code


def test_error_code_of_reads_only_the_first_64_kib() -> None:
    padding = b"<Pad>" + b"x" * (64 * 1024) + b"</Pad>"
    assert error_code_of({}, b"<Error><Code>ExpiredToken</Code>" + padding + b"</Error>") is None
    assert error_code_of({}, b"<Error><Code>ExpiredToken</Code></Error>") == "ExpiredToken"


# -- one region pattern --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "region", ["us-east-1", "us-gov-west-1", "cn-north-1", "eusc-de-east-1", "us-isob-east-1", "ap-southeast-5"]
)
def test_regions(region: str) -> None:
    assert is_region(region)
    assert check_region("test", region) == region


@pytest.mark.parametrize("region", ["US-EAST-1", "useast1", "us-east", "moon-1", "us-east-1a", "abcde-x-1"])
def test_not_regions(region: str) -> None:
    assert not is_region(region)
    with pytest.raises(ConfigurationError, match="region"):
        check_region("test", region)


def test_every_partition_suffix_once_longest_first() -> None:
    assert len(set(PARTITION_DNS_SUFFIXES)) == len(PARTITION_DNS_SUFFIXES)
    assert {"amazonaws.com", "amazonaws.com.cn", "amazonaws.eu"} <= set(PARTITION_DNS_SUFFIXES)
    assert list(PARTITION_DNS_SUFFIXES) == sorted(PARTITION_DNS_SUFFIXES, key=len, reverse=True)
