"""WebIdentityCredentialProvider over real HTTP against FakeIdentityServer's STS endpoint."""

from __future__ import annotations

import builtins
import email.utils
import importlib.util
import os
import pathlib
import subprocess
import sys
import threading
import time
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import datetime

import pytest
import requests

from literauth._http import TokenResponse
from literauth._xml import MAX_DEPTH, UnsafeXmlError, XmlError, parse_xml
from literauth.aws import WebIdentityCredentialProvider
from literauth.aws._sts import (
    STS_NAMESPACE,
    parse_credentials_response,
    parse_sts_error,
    sts_endpoint_for,
)
from literauth.aws.web_identity import DEFAULT_SESSION_NAME
from literauth.credentials import UTC, AwsCredentials
from literauth.errors import (
    ConfigurationError,
    CredentialSourceError,
    MalformedResponseError,
    TokenEndpointError,
)
from literauth.secret import SecretString
from literauth.testing import FakeIdentityServer, Fault

from ..conftest import START, FakeClock, FakeSleep, assert_no_secret

ROLE = "arn:aws:iam::123456789012:role/literauth-test"
EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "bedrock_worker.py"
HOST = "sts.example"


def parse_web_identity(response: TokenResponse) -> AwsCredentials:
    """The web identity answer read as the provider reads it."""
    return parse_credentials_response(response, "AssumeRoleWithWebIdentity", "aws.web_identity", HOST)



@pytest.fixture
def token_file(server: FakeIdentityServer, tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "token"
    server.sts.write_web_identity_token(path)
    return path


@pytest.fixture
def provider(
    server: FakeIdentityServer, token_file: pathlib.Path, clock: FakeClock, fake_sleep: FakeSleep
) -> Iterator[WebIdentityCredentialProvider]:
    with WebIdentityCredentialProvider(
        ROLE, token_file, sts_endpoint=server.url, clock=clock, sleep=fake_sleep, background_refresh=False
    ) as made:
        yield made


def token_in(path: pathlib.Path) -> str:
    return path.read_text().strip()


def sent_token(server: FakeIdentityServer, index: int = -1) -> str:
    value = server.sts.requests[index].form["WebIdentityToken"]
    assert isinstance(value, SecretString)
    return value.expose_secret()


def build(
    token_file: os.PathLike[str] | str = "/var/run/token", **kwargs: object
) -> WebIdentityCredentialProvider:
    return WebIdentityCredentialProvider(
        **{"role_arn": ROLE, "web_identity_token_file": token_file, **kwargs}
    )  # type: ignore[arg-type]


# -- the request ---------------------------------------------------------------------------


def test_request_carries_exactly_the_sts_fields(
    server: FakeIdentityServer, provider: WebIdentityCredentialProvider, token_file: pathlib.Path
) -> None:
    credentials = provider.resolve()

    (sent,) = server.sts.requests
    assert sent.method == "POST"
    assert sent.path == "/"
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent.headers["Accept"] == "text/xml"
    assert "Authorization" not in sent.headers  # AssumeRoleWithWebIdentity is an unsigned call
    assert set(sent.form) == {
        "Action",
        "Version",
        "RoleArn",
        "RoleSessionName",
        "WebIdentityToken",
        "DurationSeconds",
    }
    assert sent.form["Action"] == "AssumeRoleWithWebIdentity"
    assert sent.form["Version"] == "2011-06-15"
    assert sent.form["RoleArn"] == ROLE
    assert sent.form["RoleSessionName"] == DEFAULT_SESSION_NAME == "liter-llm-session"
    assert sent.form["DurationSeconds"] == "3600"
    assert sent_token(server) == token_in(token_file)

    (issued,) = server.sts.issued_credentials
    assert isinstance(credentials, AwsCredentials)
    assert credentials.access_key_id == issued.access_key_id
    assert credentials.secret_access_key == issued.secret_access_key
    assert credentials.session_token == issued.session_token
    assert credentials.access_key_id.expose_secret().startswith("ASIA")


def test_custom_session_name_and_duration_are_sent(
    server: FakeIdentityServer, token_file: pathlib.Path
) -> None:
    with build(
        token_file, session_name="worker@bedrock.eu-1", duration_seconds=900, sts_endpoint=server.url
    ) as p:
        credentials = p.resolve()
    assert server.sts.requests[0].form["RoleSessionName"] == "worker@bedrock.eu-1"
    assert server.sts.requests[0].form["DurationSeconds"] == "900"
    assert credentials.expires_at_epoch is not None
    assert credentials.expires_at_epoch - time.time() == pytest.approx(900, abs=3)


def test_trailing_newline_and_spaces_never_reach_sts(
    server: FakeIdentityServer, provider: WebIdentityCredentialProvider, token_file: pathlib.Path
) -> None:
    token = token_in(token_file)
    token_file.write_text(f"  \n{token}\r\n\n ")

    provider.resolve()

    assert sent_token(server) == token


def test_a_rewritten_token_file_is_picked_up_by_the_next_fetch(
    server: FakeIdentityServer, provider: WebIdentityCredentialProvider, token_file: pathlib.Path
) -> None:
    first = token_in(token_file)
    provider.resolve()
    server.sts.rotate_signing_key()  # the old token is no longer accepted...
    server.sts.write_web_identity_token(token_file)  # ...and the kubelet wrote a new one
    second = token_in(token_file)
    assert second != first

    provider.resolve(force_refresh=True)

    assert [sent_token(server, 0), sent_token(server, 1)] == [first, second]
    assert len(server.sts.issued_credentials) == 2


def test_the_token_file_is_read_on_every_fetch_not_cached(
    server: FakeIdentityServer, provider: WebIdentityCredentialProvider, token_file: pathlib.Path
) -> None:
    provider.resolve()
    token_file.unlink()

    with pytest.raises(CredentialSourceError, match="does not exist") as caught:
        provider.resolve(force_refresh=True)

    assert str(token_file) in str(caught.value)
    assert server.sts.request_count == 1


def test_a_token_file_may_appear_after_construction(
    server: FakeIdentityServer, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "later"
    with build(path, sts_endpoint=server.url) as p:
        with pytest.raises(CredentialSourceError):
            p.resolve()
        p.invalidate()
        server.sts.write_web_identity_token(path)
        assert isinstance(p.resolve(), AwsCredentials)


def _write(kind: str, path: pathlib.Path, token: str) -> None:
    if kind == "missing":
        return
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "whitespace":
        path.write_bytes(b" \n\t\r\n")
    elif kind == "not-utf8":
        path.write_bytes(token.encode() + b"\xff\xfe")
    elif kind == "huge":
        path.write_bytes(token.encode() * 1000)
    elif kind == "two-lines":
        path.write_text(f"{token}\n{token}\n")


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("missing", "does not exist"),
        ("directory", "is a directory"),
        ("empty", "is empty"),
        ("whitespace", "is empty"),
        ("not-utf8", "not UTF-8"),
        ("huge", "larger than"),
        ("two-lines", "whitespace"),
    ],
)
def test_an_unusable_token_file_is_a_source_error_naming_the_path_never_the_content(
    server: FakeIdentityServer, tmp_path: pathlib.Path, kind: str, says: str
) -> None:
    token = server.sts.issue_web_identity_token()
    path = tmp_path / "token"
    _write(kind, path, token)

    with build(path, sts_endpoint=server.url) as p, pytest.raises(CredentialSourceError, match=says) as caught:
        p.resolve()

    assert str(path) in str(caught.value)
    assert_no_secret([str(caught.value), repr(caught.value)], [token])
    assert server.sts.request_count == 0


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_token_file_is_a_source_error(
    server: FakeIdentityServer, token_file: pathlib.Path
) -> None:
    token_file.chmod(0)
    try:
        with (
            build(token_file, sts_endpoint=server.url) as p,
            pytest.raises(CredentialSourceError, match="cannot be read"),
        ):
            p.resolve()
    finally:
        token_file.chmod(0o600)
    assert server.sts.request_count == 0


# -- from_env ---------------------------------------------------------------------------------


def test_from_env_reads_the_irsa_variables(server: FakeIdentityServer, token_file: pathlib.Path) -> None:
    env = {
        "AWS_ROLE_ARN": ROLE,
        "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
        "AWS_ROLE_SESSION_NAME": "pod-1234",
        "AWS_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL_STS": server.url,
    }
    with WebIdentityCredentialProvider.from_env(env) as p:
        assert (p.role_arn, p.web_identity_token_file, p.session_name, p.region) == (
            ROLE,
            str(token_file),
            "pod-1234",
            "eu-west-1",
        )
        assert p.endpoint == server.url
        p.resolve()
    assert server.sts.requests[0].form["RoleSessionName"] == "pod-1234"


def test_from_env_defaults(token_file: pathlib.Path) -> None:
    p = WebIdentityCredentialProvider.from_env(
        {"AWS_ROLE_ARN": ROLE, "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file)}
    )
    assert p.session_name == "liter-llm-session"
    assert p.region == "us-east-1"
    assert p.endpoint == "https://sts.us-east-1.amazonaws.com"
    assert p.duration_seconds == 3600


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({}, ["AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"]),
        ({"AWS_ROLE_ARN": ROLE}, ["AWS_WEB_IDENTITY_TOKEN_FILE"]),
        ({"AWS_WEB_IDENTITY_TOKEN_FILE": "/t"}, ["AWS_ROLE_ARN"]),
        (
            {"AWS_ROLE_ARN": "  ", "AWS_WEB_IDENTITY_TOKEN_FILE": ""},
            ["AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"],
        ),
    ],
)
def test_from_env_names_every_missing_variable_in_one_error(env: dict[str, str], missing: list[str]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        WebIdentityCredentialProvider.from_env(env)
    message = str(caught.value)
    for name in ["AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"]:
        assert (name in message) == (name in missing)


@pytest.mark.parametrize(
    ("env", "region"),
    [
        ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "ap-south-1"}, "eu-west-1"),
        ({"AWS_DEFAULT_REGION": "ap-south-1"}, "ap-south-1"),
        ({"AWS_REGION": "", "AWS_DEFAULT_REGION": "ap-south-1"}, "ap-south-1"),
        ({}, "us-east-1"),
    ],
)
def test_region_falls_back_from_aws_region_to_default_region_to_us_east_1(
    env: dict[str, str], region: str
) -> None:
    env = {"AWS_ROLE_ARN": ROLE, "AWS_WEB_IDENTITY_TOKEN_FILE": "/t", **env}
    p = WebIdentityCredentialProvider.from_env(env)
    assert p.region == region
    assert p.endpoint == f"https://sts.{region}.amazonaws.com"


def test_from_env_without_a_mapping_reads_os_environ(
    monkeypatch: pytest.MonkeyPatch, server: FakeIdentityServer, token_file: pathlib.Path, clock: FakeClock
) -> None:
    monkeypatch.setenv("AWS_ROLE_ARN", ROLE)
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", server.url)
    monkeypatch.delenv("AWS_ROLE_SESSION_NAME", raising=False)
    monkeypatch.setenv("AWS_REGION", "ca-central-1")
    with WebIdentityCredentialProvider.from_env(clock=clock) as p:
        credentials = p.resolve()
    assert p.region == "ca-central-1"
    assert credentials.expires_at_epoch == pytest.approx(START + 3600, abs=2)  # the injected clock was used


def test_from_env_validates_like_the_constructor() -> None:
    with pytest.raises(ConfigurationError, match="region"):
        WebIdentityCredentialProvider.from_env(
            {"AWS_ROLE_ARN": ROLE, "AWS_WEB_IDENTITY_TOKEN_FILE": "/t", "AWS_REGION": "Frankfurt"}
        )
    with pytest.raises(ConfigurationError, match="https"):
        WebIdentityCredentialProvider.from_env(
            {
                "AWS_ROLE_ARN": ROLE,
                "AWS_WEB_IDENTITY_TOKEN_FILE": "/t",
                "AWS_ENDPOINT_URL_STS": "http://sts.corp",
            }
        )


# -- endpoint and validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role_arn", "region", "endpoint"),
    [
        (ROLE, "us-east-1", "https://sts.us-east-1.amazonaws.com"),
        (ROLE, "eu-central-2", "https://sts.eu-central-2.amazonaws.com"),
        ("arn:aws-cn:iam::123456789012:role/r", "cn-north-1", "https://sts.cn-north-1.amazonaws.com.cn"),
        (
            "arn:aws-cn:iam::123456789012:role/r",
            "cn-northwest-1",
            "https://sts.cn-northwest-1.amazonaws.com.cn",
        ),
        (
            "arn:aws-us-gov:iam::123456789012:role/r",
            "us-gov-west-1",
            "https://sts.us-gov-west-1.amazonaws.com",
        ),
    ],
)
def test_the_regional_endpoint_has_the_partitions_dns_suffix(
    role_arn: str, region: str, endpoint: str
) -> None:
    assert build(role_arn=role_arn, region=region).endpoint == endpoint
    assert sts_endpoint_for(region) == endpoint


@pytest.mark.parametrize(
    ("role_arn", "region"),
    [
        ("arn:aws-cn:iam::123456789012:role/r", "us-east-1"),
        (ROLE, "cn-north-1"),
        (ROLE, "us-gov-west-1"),
    ],
)
def test_a_role_and_region_in_different_partitions_are_refused(role_arn: str, region: str) -> None:
    with pytest.raises(ConfigurationError, match="partition"):
        build(role_arn=role_arn, region=region)
    # A custom endpoint knows better: no partition check then.
    assert (
        build(role_arn=role_arn, region=region, sts_endpoint="https://sts.internal").endpoint
        == "https://sts.internal"
    )


def test_sts_endpoint_overrides_the_regional_endpoint(
    server: FakeIdentityServer, token_file: pathlib.Path
) -> None:
    p = build(token_file, region="eu-west-1", sts_endpoint=server.url + "/sts")
    assert p.endpoint == server.url + "/sts"
    p.resolve()
    assert server.sts.requests[0].path == "/sts"


@pytest.mark.parametrize(
    "endpoint",
    ["http://sts.example.com", "ftp://127.0.0.1", "sts.amazonaws.com", "", "https://u:p@sts.example"],
)
def test_sts_endpoint_must_be_https_or_loopback(endpoint: str) -> None:
    with pytest.raises(ConfigurationError):
        build(sts_endpoint=endpoint)


@pytest.mark.parametrize(
    "role_arn",
    [
        "arn:aws:iam::123456789012:role/with/a/path/name",
        "arn:aws:iam::123456789012:role/name+=,.@_-",
        "arn:aws-us-gov:iam::000000000000:role/x",
    ],
)
def test_valid_role_arns_are_accepted(role_arn: str) -> None:
    region = "us-gov-east-1" if ":aws-us-gov:" in role_arn else "us-east-1"
    assert build(role_arn=role_arn, region=region).role_arn == role_arn


@pytest.mark.parametrize(
    "role_arn",
    [
        "",
        "literauth-test",
        "arn:aws:iam::12345678901:role/short-account",
        "arn:aws:iam::1234567890123:role/long-account",
        "arn:aws:iam::12345678901a:role/letters",
        "arn:aws:iam::123456789012:user/not-a-role",
        "arn:aws:sts::123456789012:assumed-role/r/s",
        "arn:aws:iam:us-east-1:123456789012:role/regional",
        "arn:azure:iam::123456789012:role/partition",
        "arn:aws-mars:iam::123456789012:role/unknown-partition",
        "arn:aws:iam::123456789012:role/",
        "arn:aws:iam::123456789012:role/" + "n" * 65,
        "arn:aws:iam::123456789012:role/space in name",
        " arn:aws:iam::123456789012:role/padded",
        None,
        42,
    ],
)
def test_invalid_role_arns_are_refused(role_arn: object) -> None:
    with pytest.raises(ConfigurationError, match="role_arn"):
        build(role_arn=role_arn)


@pytest.mark.parametrize("name", ["ab", "x" * 64, "liter-llm-session", "a_b+c=d,e.f@g-h", "0123456789"])
def test_valid_session_names(name: str) -> None:
    assert build(session_name=name).session_name == name


@pytest.mark.parametrize(
    "name", ["a", "x" * 65, "has space", "slash/name", "caf\u00e9", "tab\t", "", None, 7]
)
def test_invalid_session_names(name: object) -> None:
    with pytest.raises(ConfigurationError, match="session_name"):
        build(session_name=name)


@pytest.mark.parametrize("duration", [900, 3600, 43200])
def test_valid_durations(duration: int) -> None:
    assert build(duration_seconds=duration).duration_seconds == duration


@pytest.mark.parametrize("duration", [899, 43201, 0, -1, 3600.0, "3600", True, None])
def test_invalid_durations(duration: object) -> None:
    with pytest.raises(ConfigurationError, match="duration_seconds"):
        build(duration_seconds=duration)


@pytest.mark.parametrize(
    "region", ["", "US-EAST-1", "us_east_1", "useast1", "us-east-1 ", "us-east", "us-east-one", None]
)
def test_invalid_regions(region: object) -> None:
    with pytest.raises(ConfigurationError, match="region"):
        build(region=region)


@pytest.mark.parametrize("path", ["", "   ", None, 42])
def test_the_token_file_must_be_a_path(path: object) -> None:
    with pytest.raises(ConfigurationError, match="web_identity_token_file"):
        build(path)


def test_the_token_file_may_be_a_pathlike(server: FakeIdentityServer, token_file: pathlib.Path) -> None:
    assert build(token_file).web_identity_token_file == str(token_file)


# -- parsing the answer (pure) -------------------------------------------------------------------


def sts_xml(
    expiration: str = "2027-01-15T09:00:00Z",
    *,
    namespace: str | None = STS_NAMESPACE,
    omit: tuple[str, ...] = (),
    session_token: str = "FwoGZXIvYXdzEtoken",
) -> bytes:
    """A real-shaped AssumeRoleWithWebIdentity answer, with chosen parts left out."""
    values = {
        "AccessKeyId": "ASIAEXAMPLEEXAMPLE12",
        "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "SessionToken": session_token,
        "Expiration": expiration,
    }
    fields = "".join(f"<{k}>{v}</{k}>" for k, v in values.items() if k not in omit)
    xmlns = "" if namespace is None else f' xmlns="{namespace}"'
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<AssumeRoleWithWebIdentityResponse{xmlns}>'
        "<AssumeRoleWithWebIdentityResult>"
        "<SubjectFromWebIdentityToken>system:serviceaccount:ns:sa</SubjectFromWebIdentityToken>"
        "<Audience>sts.amazonaws.com</Audience>"
        "<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn>"
        "<AssumedRoleId>AROAEXAMPLE:s</AssumedRoleId></AssumedRoleUser>"
        f"<Credentials>{fields}</Credentials>"
        "<Provider>oidc.eks.us-east-1.amazonaws.com/id/X</Provider>"
        "</AssumeRoleWithWebIdentityResult>"
        "<ResponseMetadata><RequestId>11111111-2222-3333-4444-555555555555</RequestId></ResponseMetadata>"
        "</AssumeRoleWithWebIdentityResponse>"
    ).encode()


def reply(
    body: bytes, *, date: float | None = None, sent_at: float = START, status: int = 200
) -> TokenResponse:
    headers = {} if date is None else {"Date": email.utils.formatdate(date, usegmt=True)}
    return TokenResponse(status, headers, body, sent_at, 0.01)


def parse(response: TokenResponse) -> AwsCredentials:
    return parse_web_identity(response)


def utc(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("expiration", "expected"),
    [
        ("2027-01-15T09:00:00Z", utc("2027-01-15T09:00:00.000000")),
        ("2027-01-15T09:00:00.5Z", utc("2027-01-15T09:00:00.500000")),
        ("2027-01-15T09:00:00.123Z", utc("2027-01-15T09:00:00.123000")),
        ("2027-01-15T09:00:00.123456Z", utc("2027-01-15T09:00:00.123456")),
        ("2027-01-15T09:00:00.123456789Z", utc("2027-01-15T09:00:00.123456")),
        ("2027-01-15T09:00:00+00:00", utc("2027-01-15T09:00:00.000000")),
        ("2027-01-15T11:30:00+02:30", utc("2027-01-15T09:00:00.000000")),
    ],
)
def test_expiration_with_and_without_fractional_seconds(expiration: str, expected: datetime) -> None:
    credentials = parse(reply(sts_xml(expiration)))  # no Date header: Expiration taken as is
    assert credentials.expires_at == expected
    assert credentials.access_key_id == SecretString("ASIAEXAMPLEEXAMPLE12")
    assert credentials.secret_access_key == SecretString("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    assert credentials.session_token == SecretString("FwoGZXIvYXdzEtoken")


@pytest.mark.parametrize("skew", [-600.0, 0.0, 600.0, -86400.0 * 40])
def test_expiry_is_local_send_time_plus_expiration_minus_server_date(skew: float) -> None:
    server_now = START + skew
    expiration = datetime.fromtimestamp(server_now + 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    credentials = parse(reply(sts_xml(expiration), date=server_now, sent_at=START))

    assert credentials.expires_at_epoch == START + 3600


def test_the_namespace_is_required() -> None:
    with pytest.raises(MalformedResponseError, match="namespace"):
        parse(reply(sts_xml(namespace=None)))
    with pytest.raises(MalformedResponseError, match="namespace"):
        parse(reply(sts_xml(namespace="https://sts.amazonaws.com/doc/2099-01-01/")))


@pytest.mark.parametrize("field", ["AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"])
def test_a_missing_credentials_field_is_malformed(field: str) -> None:
    with pytest.raises(MalformedResponseError, match=field) as caught:
        parse(reply(sts_xml(omit=(field,))))
    assert caught.value.provider == "aws.web_identity"
    assert caught.value.host == HOST


def test_an_empty_session_token_is_malformed_temporary_keys_always_have_one() -> None:
    with pytest.raises(MalformedResponseError, match="SessionToken"):
        parse(reply(sts_xml(session_token="  ")))


def test_missing_credentials_element_is_malformed() -> None:
    body = f'<AssumeRoleWithWebIdentityResponse xmlns="{STS_NAMESPACE}"><AssumeRoleWithWebIdentityResult/>'
    with pytest.raises(MalformedResponseError, match="Credentials"):
        parse(reply((body + "</AssumeRoleWithWebIdentityResponse>").encode()))


@pytest.mark.parametrize(
    "expiration",
    ["tomorrow", "2027-13-01T00:00:00Z", "2027-01-15T09:00:00", "2027-01-15 09:00:00Z", "1800000000"],
)
def test_an_unreadable_expiration_is_malformed(expiration: str) -> None:
    with pytest.raises(MalformedResponseError, match="Expiration"):
        parse(reply(sts_xml(expiration)))


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<html><body>Service Unavailable</body>",
        b'{"Credentials": {}}',
        sts_xml()[:-40],
        b"\xff\xfe\x00garbage",
        f'<ErrorResponse xmlns="{STS_NAMESPACE}"><Error><Code>X</Code></Error></ErrorResponse>'.encode(),
    ],
)
def test_a_body_that_is_not_an_sts_answer_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedResponseError):
        parse(reply(body))


SECRET_FILE_TEXT = "TOP-SECRET-FILE-CONTENT-7f3a9c"

DTD_PAYLOADS = {
    "external entity": (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file://{path}">]>'
        f'<AssumeRoleWithWebIdentityResponse xmlns="{STS_NAMESPACE}"><AssumeRoleWithWebIdentityResult>'
        "<Credentials><AccessKeyId>&xxe;</AccessKeyId></Credentials></AssumeRoleWithWebIdentityResult>"
        "</AssumeRoleWithWebIdentityResponse>"
    ),
    "billion laughs": (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><r>&lol3;</r>'
    ),
    "external dtd": '<?xml version="1.0"?><!DOCTYPE r SYSTEM "file://{path}"><r/>',
    "parameter entity": '<!DOCTYPE r [<!ENTITY % p SYSTEM "file://{path}"> %p;]><r/>',
    "lower-case doctype": '<!doctype r [<!entity x SYSTEM "file://{path}">]><r>&x;</r>',
}


@pytest.mark.parametrize("name", sorted(DTD_PAYLOADS))
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_dtd_and_entity_payloads_are_refused_without_reading_a_file(
    name: str, encoding: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET_FILE_TEXT)
    text = DTD_PAYLOADS[name].replace("{path}", str(secret_file))
    if encoding == "utf-16":
        text = text.replace('<?xml version="1.0"?>', "")
        text = '<?xml version="1.0" encoding="UTF-16"?>' + text
    body = text.encode(encoding)
    opened: list[object] = []

    def spy(*args: object, **kwargs: object) -> None:
        opened.append(args)
        raise AssertionError("the parser tried to open something")

    monkeypatch.setattr(builtins, "open", spy)
    monkeypatch.setattr(urllib.request, "urlopen", spy)

    # Lower-case "<!doctype" is no XML markup at all; in UTF-16 only the parser sees it, and fails it.
    refused = "DTD" if (name, encoding) != ("lower-case doctype", "utf-16") else "well-formed"
    with pytest.raises(MalformedResponseError, match=refused) as caught:
        parse(reply(body))
    assert parse_sts_error(reply(body, status=400)).error_code is None

    assert opened == []
    assert SECRET_FILE_TEXT not in str(caught.value)


def test_a_dtd_payload_over_http_is_refused(
    server: FakeIdentityServer,
    provider: WebIdentityCredentialProvider,
    tmp_path: pathlib.Path,
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(SECRET_FILE_TEXT)
    body = DTD_PAYLOADS["external entity"].replace("{path}", str(secret_file))
    server.sts.enqueue(Fault(200, body, {"Content-Type": "text/xml"}))

    with pytest.raises(MalformedResponseError, match="DTD") as caught:
        provider.resolve()

    assert_no_secret([str(caught.value), debug_logs.text], [SECRET_FILE_TEXT])


def test_safe_xml_helper_limits() -> None:
    assert parse_xml(b"<a><b>x</b></a>").find("b") is not None
    with pytest.raises(XmlError, match="deeper"):
        parse_xml(b"<a>" * (MAX_DEPTH + 1) + b"</a>" * (MAX_DEPTH + 1))
    with pytest.raises(XmlError, match="larger"):
        parse_xml(b"<a>" + b"x" * 100 + b"</a>", max_bytes=50)
    with pytest.raises(XmlError, match="well-formed"):
        parse_xml(b"<a>&undefined;</a>")
    with pytest.raises(UnsafeXmlError):
        parse_xml("<!DOCTYPE a><a/>".encode("utf-16"))
    root = parse_xml(b'<a xmlns="urn:x"><b/></a>')
    assert root.tag == "{urn:x}a" and isinstance(root, ET.Element)


# -- STS errors over HTTP --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        ("InvalidIdentityToken", 400, False),
        ("ExpiredTokenException", 400, False),
        ("AccessDenied", 403, False),
        ("IDPCommunicationError", 400, True),
        ("IDPRejectedClaim", 403, False),
        ("RegionDisabledException", 403, False),
        ("Throttling", 400, True),
        ("MalformedPolicyDocument", 400, False),
        ("ValidationError", 400, False),
        ("InternalFailure", 500, True),
    ],
)
def test_each_sts_error_code_is_mapped(
    server: FakeIdentityServer,
    provider: WebIdentityCredentialProvider,
    fake_sleep: FakeSleep,
    code: str,
    status: int,
    retryable: bool,
) -> None:
    server.sts.fail_with(code, f"the {code} message", times=5, request_id=f"req-{code}")

    with pytest.raises(TokenEndpointError) as caught:
        provider.resolve()

    error = caught.value
    assert error.error_code == code
    assert error.status_code == status
    assert error.retryable is retryable
    assert error.description == f"the {code} message"
    assert f"the {code} message" in str(error)
    assert f"(RequestId req-{code})" in str(error)
    assert server.sts.request_count == (3 if retryable else 1)  # the default policy makes three attempts
    assert len(fake_sleep.calls) == (2 if retryable else 0)


@pytest.mark.parametrize("code", ["IDPCommunicationError", "Throttling"])
def test_a_transient_error_is_retried_and_then_succeeds(
    server: FakeIdentityServer, provider: WebIdentityCredentialProvider, fake_sleep: FakeSleep, code: str
) -> None:
    server.sts.fail_with(code)

    assert isinstance(provider.resolve(), AwsCredentials)

    assert server.sts.request_count == 2
    assert len(fake_sleep.calls) == 1


def test_the_request_id_in_the_error_is_the_one_sts_sent(
    server: FakeIdentityServer, provider: WebIdentityCredentialProvider
) -> None:
    server.sts.enqueue(Fault(400, server.sts.error_body("AccessDenied", "nope", request_id="req-42-abc")))
    with pytest.raises(TokenEndpointError, match=r"\(RequestId req-42-abc\)") as caught:
        provider.resolve()
    assert "trust policy" in str(caught.value)  # the hint says what to check


def test_an_error_body_that_is_not_xml_falls_back_to_the_http_status(
    server: FakeIdentityServer, provider: WebIdentityCredentialProvider
) -> None:
    server.sts.fail(502, "<html>Bad Gateway", times=3)
    with pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert caught.value.error_code == "http_502"
    assert caught.value.retryable is True


def test_an_error_without_namespace_is_still_read() -> None:
    body = (
        b"<ErrorResponse><Error><Code>Throttling</Code><Message>slow down</Message></Error></ErrorResponse>"
    )
    info = parse_sts_error(reply(body, status=400))
    assert (info.error_code, info.description, info.retryable) == ("Throttling", "slow down", True)


def test_an_unknown_code_on_a_4xx_is_not_retryable_and_a_garbage_code_is_dropped() -> None:
    body = f'<ErrorResponse xmlns="{STS_NAMESPACE}"><Error><Code>Odd</Code></Error></ErrorResponse>'.encode()
    assert parse_sts_error(reply(body, status=400)).retryable is False
    assert parse_sts_error(reply(body, status=429)).retryable is None  # left to the status: retried
    weird = body.replace(b"Odd", b"not a <code> at all".replace(b"<", b"&lt;"))
    assert parse_sts_error(reply(weird, status=400)).error_code is None


def test_a_token_echoed_in_an_error_message_is_redacted(
    server: FakeIdentityServer,
    provider: WebIdentityCredentialProvider,
    token_file: pathlib.Path,
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    token = token_in(token_file)
    server.sts.fail_with("InvalidIdentityToken", f"bad token {token}")

    with pytest.raises(TokenEndpointError) as caught:
        provider.resolve()

    assert "bad token **********" in str(caught.value)
    assert_no_secret([str(caught.value), str(caught.value.description), debug_logs.text], [token])


# -- the fake endpoint checks requests like STS ---------------------------------------------------------


def test_a_token_the_endpoint_never_issued_is_refused(
    server: FakeIdentityServer, provider: WebIdentityCredentialProvider, token_file: pathlib.Path
) -> None:
    token_file.write_text("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtZSJ9.c2lnbmF0dXJl\n")
    with pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert (caught.value.error_code, caught.value.status_code) == ("InvalidIdentityToken", 400)
    assert server.sts.issued_credentials == []


@pytest.mark.parametrize("garbage", ["not-a-jwt", "a.b.c", "....", "x" * 100])
def test_garbage_tokens_are_invalid_identity_tokens(
    server: FakeIdentityServer,
    provider: WebIdentityCredentialProvider,
    token_file: pathlib.Path,
    garbage: str,
) -> None:
    token_file.write_text(garbage)
    with pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert caught.value.error_code == "InvalidIdentityToken"
    assert caught.value.retryable is False


def test_an_expired_token_is_refused_with_expired_token_exception(
    server: FakeIdentityServer, provider: WebIdentityCredentialProvider, token_file: pathlib.Path
) -> None:
    server.sts.write_web_identity_token(token_file, lifetime=60)
    server.advance(120)
    with pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert caught.value.error_code == "ExpiredTokenException"
    assert "rotated" in str(caught.value)


def test_a_token_for_another_audience_is_refused(
    server: FakeIdentityServer, provider: WebIdentityCredentialProvider, token_file: pathlib.Path
) -> None:
    server.sts.write_web_identity_token(token_file, audience="https://kubernetes.default.svc")
    with pytest.raises(TokenEndpointError, match="audience") as caught:
        provider.resolve()
    assert caught.value.error_code == "InvalidIdentityToken"


def test_a_role_whose_trust_policy_does_not_admit_the_token_is_access_denied(
    server: FakeIdentityServer, provider: WebIdentityCredentialProvider
) -> None:
    server.sts.allowed_roles = {"arn:aws:iam::123456789012:role/someone-else"}
    with pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    assert (caught.value.error_code, caught.value.status_code, caught.value.retryable) == (
        "AccessDenied",
        403,
        False,
    )


def test_a_duration_above_the_roles_maximum_is_a_validation_error(
    server: FakeIdentityServer, token_file: pathlib.Path
) -> None:
    server.sts.max_session_duration = 3600
    with (
        build(token_file, sts_endpoint=server.url, duration_seconds=7200) as p,
        pytest.raises(TokenEndpointError) as caught,
    ):
        p.resolve()
    assert caught.value.error_code == "ValidationError"
    assert "MaxSessionDuration" in str(caught.value)


def raw_call(server: FakeIdentityServer, **changes: str | None) -> requests.Response:
    form: dict[str, str | None] = {
        "Action": "AssumeRoleWithWebIdentity",
        "Version": "2011-06-15",
        "RoleArn": ROLE,
        "RoleSessionName": "raw-call",
        "WebIdentityToken": server.sts.issue_web_identity_token(),
        "DurationSeconds": "3600",
    }
    form.update(changes)
    data = {k: v for k, v in form.items() if v is not None}
    return requests.post(server.url + "/", data=data, timeout=5)


def error_parts(response: requests.Response) -> dict[str, str]:
    root = ET.fromstring(response.content)  # our own server's answer: trusted
    ns = {"s": STS_NAMESPACE}
    assert root.tag == f"{{{STS_NAMESPACE}}}ErrorResponse"
    parts = {
        name: root.findtext(f"s:Error/s:{name}", namespaces=ns) or "" for name in ("Type", "Code", "Message")
    }
    parts["RequestId"] = root.findtext("s:RequestId", namespaces=ns) or ""
    return parts


@pytest.mark.parametrize(
    ("changes", "code", "says"),
    [
        ({"Version": None}, "MissingParameter", "Version"),
        ({"Version": "2010-01-01"}, "InvalidAction", "2010-01-01"),
        ({"RoleArn": None}, "ValidationError", "roleArn"),
        ({"RoleArn": "arn:aws:iam::1:r"}, "ValidationError", "length between 20 and 2048"),
        ({"RoleArn": "arn:aws:iam::123456789012:user/not-a-role"}, "ValidationError", "ARN is invalid"),
        ({"RoleSessionName": "x"}, "ValidationError", "roleSessionName"),
        ({"RoleSessionName": "no spaces"}, "ValidationError", "regular expression"),
        ({"RoleSessionName": None}, "ValidationError", "roleSessionName"),
        ({"WebIdentityToken": None}, "ValidationError", "webIdentityToken"),
        ({"WebIdentityToken": "abc"}, "ValidationError", "webIdentityToken"),
        ({"WebIdentityToken": "garbage-token"}, "InvalidIdentityToken", "JWT"),
        ({"DurationSeconds": "899"}, "ValidationError", "greater than or equal to 900"),
        ({"DurationSeconds": "43201"}, "ValidationError", "less than or equal to 43200"),
        ({"DurationSeconds": "an hour"}, "ValidationError", "durationSeconds"),
    ],
)
def test_the_fake_endpoint_validates_requests_like_sts(
    server: FakeIdentityServer, changes: dict[str, str | None], code: str, says: str
) -> None:
    response = raw_call(server, **changes)

    assert response.status_code == 400
    assert response.headers["Content-Type"] == "text/xml"
    parts = error_parts(response)
    assert parts["Type"] == "Sender"
    assert parts["Code"] == code
    assert says in parts["Message"]
    assert parts["RequestId"] == response.headers["x-amzn-RequestId"]
    assert server.sts.issued_credentials == []


def test_several_validation_problems_are_reported_together(server: FakeIdentityServer) -> None:
    parts = error_parts(raw_call(server, RoleSessionName="x", DurationSeconds="1"))
    assert parts["Message"].startswith("2 validation errors detected: ")


def test_the_fake_success_answer_has_the_real_shape(server: FakeIdentityServer) -> None:
    server.advance(-3600)
    response = raw_call(server, RoleSessionName="shape-check", DurationSeconds="1800")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml"
    ns = {"s": STS_NAMESPACE}
    root = ET.fromstring(response.content)
    assert root.tag == f"{{{STS_NAMESPACE}}}AssumeRoleWithWebIdentityResponse"
    result = root.find("s:AssumeRoleWithWebIdentityResult", ns)
    assert result is not None
    assert result.findtext("s:AssumedRoleUser/s:Arn", namespaces=ns) == (
        "arn:aws:sts::123456789012:assumed-role/literauth-test/shape-check"
    )
    assert (
        result.findtext("s:SubjectFromWebIdentityToken", namespaces=ns)
        == "system:serviceaccount:default:literauth"
    )
    assert result.findtext("s:Audience", namespaces=ns) == "sts.amazonaws.com"
    expiration = result.findtext("s:Credentials/s:Expiration", namespaces=ns) or ""
    assert expiration.endswith("Z") and "." not in expiration
    assert (
        root.findtext("s:ResponseMetadata/s:RequestId", namespaces=ns) == response.headers["x-amzn-RequestId"]
    )
    # One Date header (a second one would make it unreadable), on the server's clock, moved an hour back.
    assert len(response.raw.headers.getlist("Date")) == 1
    server_date = email.utils.parsedate_to_datetime(response.headers["Date"]).timestamp()
    assert server_date == pytest.approx(time.time() - 3600, abs=3)
    expires = datetime.strptime(expiration, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    assert expires - server_date == pytest.approx(1800, abs=1)


def test_the_fake_can_write_fractional_expirations(
    server: FakeIdentityServer, provider: WebIdentityCredentialProvider
) -> None:
    server.sts.fractional_seconds = True
    response = raw_call(server)
    assert ".000000Z</Expiration>" in response.text
    assert isinstance(provider.resolve(), AwsCredentials)


def test_the_fake_only_answers_sts_posts(server: FakeIdentityServer) -> None:
    assert (
        requests.get(server.url + "/", params={"Action": "AssumeRoleWithWebIdentity"}, timeout=5).status_code
        == 404
    )
    assert requests.post(server.url + "/", data={"Action": "GetCallerIdentity"}, timeout=5).status_code == 404
    assert (
        requests.post(
            server.url + "/other", data={"Action": "AssumeRoleWithWebIdentity"}, timeout=5
        ).status_code
        == 404
    )


def test_the_fake_records_the_token_as_a_secret(server: FakeIdentityServer) -> None:
    raw_call(server)
    (recorded,) = server.sts.requests
    assert isinstance(recorded.form["WebIdentityToken"], SecretString)
    assert "eyJ" not in repr(recorded)


def test_the_fake_lifetime_overrides_the_duration_until_reset(
    server: FakeIdentityServer, clock: FakeClock, token_file: pathlib.Path
) -> None:
    server.sts.lifetime = 1200
    with build(token_file, sts_endpoint=server.url, clock=clock) as p:
        assert p.resolve().expires_at_epoch == pytest.approx(START + 1200, abs=1)
        server.reset()
        assert server.sts.lifetime == 3600
        assert p.resolve(force_refresh=True).expires_at_epoch == pytest.approx(START + 3600, abs=1)
    assert server.sts.max_session_duration == 43200 and server.sts.allowed_roles is None


def test_the_provider_works_over_https_with_the_servers_ca() -> None:
    pytest.importorskip("cryptography")
    with FakeIdentityServer(https=True) as server, server.sts_provider() as p:
        assert p.endpoint.startswith("https://127.0.0.1:")
        assert isinstance(p.resolve(), AwsCredentials)
        assert server.sts.request_count == 1


def test_server_sts_provider_builds_a_working_provider(server: FakeIdentityServer, clock: FakeClock) -> None:
    with server.sts_provider(clock=clock, session_name="helper", region="eu-west-1") as p:
        assert isinstance(p, WebIdentityCredentialProvider)
        credentials = p.resolve()
        assert p.endpoint == server.url
        assert p.region == "eu-west-1"
    assert credentials.access_key_id == server.sts.issued_credentials[0].access_key_id
    assert server.sts.requests[0].form["RoleSessionName"] == "helper"


# -- clock skew and refresh timing ------------------------------------------------------------------


@pytest.mark.parametrize("skew", [600.0, -600.0])
def test_a_server_clock_ten_minutes_off_does_not_move_the_local_expiry(
    server: FakeIdentityServer, token_file: pathlib.Path, skew: float
) -> None:
    server.advance(skew)  # the Date header and Expiration STS writes move together
    with build(token_file, sts_endpoint=server.url) as p:  # the real local clock
        before = time.time()
        credentials = p.resolve()
        after = time.time()

    assert credentials.expires_at_epoch is not None
    assert before + 3600 - 1 <= credentials.expires_at_epoch <= after + 3600 + 1
    (issued,) = server.sts.issued_credentials
    # Uncorrected, the expiry would have been off by the skew.
    assert issued.expiration.timestamp() - credentials.expires_at_epoch == pytest.approx(skew, abs=2)


def test_a_local_clock_far_from_the_servers_still_gets_the_full_lifetime(
    provider: WebIdentityCredentialProvider, clock: FakeClock
) -> None:
    # FakeClock sits in 2027 while the server runs on real time: months of skew.
    credentials = provider.resolve()
    assert credentials.expires_at_epoch == pytest.approx(clock.now + 3600, abs=1)


def test_credentials_are_refreshed_five_minutes_before_expiry(
    server: FakeIdentityServer, provider: WebIdentityCredentialProvider, clock: FakeClock
) -> None:
    first = provider.resolve()
    assert first.expires_at_epoch is not None
    lifetime = first.expires_at_epoch - clock.now

    clock.advance(lifetime - 300 - 6)  # the refresh point is 300 s (plus up to 5 s jitter) before expiry
    assert provider.resolve() is first
    assert server.sts.request_count == 1

    clock.advance(7)
    second = provider.resolve()  # inline refresh (background_refresh=False); the cached one is served
    assert server.sts.request_count == 2
    assert second is first
    third = provider.resolve()
    assert third is not first
    assert third.access_key_id == server.sts.issued_credentials[1].access_key_id


def test_many_threads_share_one_sts_call(server: FakeIdentityServer, token_file: pathlib.Path) -> None:
    server.sts.latency = 0.2
    with build(token_file, sts_endpoint=server.url) as p:
        results: list[AwsCredentials] = []
        barrier = threading.Barrier(12)

        def work() -> None:
            barrier.wait()
            results.append(p.resolve())  # type: ignore[arg-type]

        threads = [threading.Thread(target=work) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert server.sts.request_count == 1
    assert len(results) == 12 and all(r is results[0] for r in results)


# -- secrets never leak --------------------------------------------------------------------------------


def test_no_secret_reaches_repr_str_logs_or_errors(
    server: FakeIdentityServer,
    provider: WebIdentityCredentialProvider,
    token_file: pathlib.Path,
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    token = token_in(token_file)
    credentials = provider.resolve()
    texts = [repr(provider), str(provider), repr(credentials), str(credentials), repr(server.sts.requests)]
    texts += [repr(server.sts.issued_credentials)]
    for code in ("InvalidIdentityToken", "Throttling"):
        server.sts.fail_with(code, times=3)
        with pytest.raises(TokenEndpointError) as caught:
            provider.resolve(force_refresh=True)
        texts += [str(caught.value), repr(caught.value)]
        server.sts.clear_faults()
        provider.invalidate()
    server.sts.enqueue(Fault(200, sts_xml(session_token=""), {"Content-Type": "text/xml"}))
    with pytest.raises(MalformedResponseError) as malformed:
        provider.resolve(force_refresh=True)
    texts += [str(malformed.value), debug_logs.text]
    assert "aws.web_identity" in debug_logs.text  # the logs were captured, so the check means something

    secrets = [
        token,
        credentials.access_key_id.expose_secret(),
        credentials.secret_access_key.expose_secret(),
        (credentials.session_token or SecretString("")).expose_secret(),
    ]
    assert_no_secret(texts, secrets)
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(provider)


def test_provider_repr_names_the_role_and_region_only(provider: WebIdentityCredentialProvider) -> None:
    text = repr(provider)
    assert ROLE in text and "us-east-1" in text and "cached=none" in text


# -- the example ------------------------------------------------------------------------------------------


def test_the_bedrock_example_imports_without_side_effects() -> None:
    threads_before = threading.active_count()
    spec = importlib.util.spec_from_file_location("bedrock_worker_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert threading.active_count() == threads_before
    assert callable(module.main)
    assert hasattr(module, "BedrockWorker")


def test_the_bedrock_example_runs_against_the_fake_server() -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--demo"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "job 3" in done.stdout
    assert "STS calls: 1" in done.stdout


def test_logging_names_the_provider(
    server: FakeIdentityServer, provider: WebIdentityCredentialProvider, debug_logs: pytest.LogCaptureFixture
) -> None:
    provider.resolve()
    assert any(r.name.startswith("literauth") and "aws.web_identity" in r.getMessage() for r in debug_logs.records)
