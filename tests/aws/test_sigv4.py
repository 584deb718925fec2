"""SigV4: `sign()` and `SigV4Auth` checked against botocore and the AWS published vectors."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import io
import logging
from datetime import datetime, timedelta
from unittest import mock

import pytest
import requests
from botocore.auth import S3SigV4Auth
from botocore.auth import SigV4Auth as BotoSigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from literauth import (
    AwsCredentials,
    BearerToken,
    ConfigurationError,
    SecretString,
    StaticTokenProvider,
)
from literauth.credentials import UTC
from literauth.integrations.requests import aws_error_code
from literauth.sigv4 import SigV4Auth, sign, strict_url

from ..conftest import assert_no_secret

NOW = datetime(2027, 1, 15, 8, 0, 0, tzinfo=UTC)
KEY_ID = "ASIAEXAMPLEKEYID0001"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCXVzLWVhc3QtMSJHMEUCIQDexampleSessionToken=="
WITH_TOKEN = AwsCredentials(SecretString(KEY_ID), SecretString(SECRET), SecretString(TOKEN))
NO_TOKEN = AwsCredentials(SecretString("AKIDEXAMPLE"), SecretString(SECRET))
MODEL = "anthropic.claude-3-opus-20240229-v1:0"


class Provider:
    """Returns fixed credentials; counts calls."""

    def __init__(self, credential: object) -> None:
        self.credential = credential
        self.calls = 0

    def resolve(self) -> object:
        self.calls += 1
        return self.credential


# -- the oracle ----------------------------------------------------------------------


_BOTO_HEADERS = {"content-type", "host", "user-agent", "expect", "x-amzn-trace-id"}  # the last 3: it skips them too


def botocore_headers(
    method: str,
    url: str,
    params: list[tuple[str, str]],
    headers: dict[str, str],
    body: bytes,
    credentials: AwsCredentials,
    region: str,
    service: str,
    now: datetime = NOW,
) -> dict[str, str]:
    """What botocore adds when signing the same request at the same time.

    botocore signs every header but a few hop-by-hop ones; our policy signs only host,
    content-type and x-amz-*, so other headers (Accept...) are left out of its copy.
    """
    headers = {k: v for k, v in headers.items() if k.lower() in _BOTO_HEADERS or k.lower().startswith("x-amz")}
    token = credentials.session_token.expose_secret() if credentials.session_token else None
    boto_credentials = Credentials(
        credentials.access_key_id.expose_secret(), credentials.secret_access_key.expose_secret(), token
    )
    request = AWSRequest(method, url, headers=dict(headers), data=body, params=list(params))
    signer = (S3SigV4Auth if service == "s3" else BotoSigV4Auth)(boto_credentials, service, region)
    with mock.patch("botocore.auth.get_current_datetime", return_value=now.replace(tzinfo=None)):
        signer.add_auth(request)
    return dict(request.headers.items())


def botocore_canonical_request(method: str, url: str, service: str, region: str = "us-east-1") -> str:
    request = AWSRequest(method, url, headers={"X-Amz-Date": "20270115T080000Z"}, data=b"")
    request.context["timestamp"] = "20270115T080000Z"
    signer = (S3SigV4Auth if service == "s3" else BotoSigV4Auth)(Credentials("a", "b"), service, region)
    return str(signer.canonical_request(request))


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    method: str
    base: str  # scheme://host[:port] + path, as a caller writes it (may hold unicode or ':')
    params: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    body: bytes = b""
    service: str = "bedrock"
    region: str = "us-east-1"
    credentials: AwsCredentials = dataclasses.field(default_factory=lambda: WITH_TOKEN)


BEDROCK = "https://bedrock-runtime.us-east-1.amazonaws.com"
JSON = {"Content-Type": "application/json"}
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
CASES = [
    Case("get-root", "GET", BEDROCK + "/"),
    Case("converse-colon", "POST", f"{BEDROCK}/model/{MODEL}/converse", headers=JSON,
         body=b'{"messages":[{"role":"user","content":[{"text":"hi"}]}]}'),
    Case("invoke-stream", "POST", f"{BEDROCK}/model/{MODEL}/invoke-with-response-stream",
         headers={**JSON, "Accept": "application/vnd.amazon.eventstream"}, body=b'{"prompt":"x"}'),
    Case("converse-no-token", "POST", f"{BEDROCK}/model/{MODEL}/converse", headers=JSON, body=b"{}",
         credentials=NO_TOKEN),
    Case("control-plane-query", "GET", "https://bedrock.us-west-2.amazonaws.com/foundation-models",
         params=[("byProvider", "anthropic"), ("byOutputModality", "TEXT")], region="us-west-2"),
    Case("sts-form", "POST", "https://sts.amazonaws.com/", headers=FORM,
         body=b"Action=GetCallerIdentity&Version=2011-06-15", service="sts"),
    Case("sts-query", "GET", "https://sts.eu-west-1.amazonaws.com/",
         params=[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")], service="sts", region="eu-west-1"),
    Case("reserved-query", "GET", "https://abc123.execute-api.us-east-1.amazonaws.com/prod/search",
         params=[("q", "a b/c?d=e&f"), ("x", "+:@!$'()*,;"), ("y", "%41")], service="execute-api"),
    Case("repeated-keys", "GET", "https://abc123.execute-api.us-east-1.amazonaws.com/prod/items",
         params=[("k", "b"), ("k", "a"), ("k", ""), ("j", "z")], service="execute-api"),
    Case("empty-values", "GET", "https://abc123.execute-api.us-east-1.amazonaws.com/prod/",
         params=[("empty", ""), ("also", "")], service="execute-api"),
    Case("key-order-encoded", "GET", "https://abc123.execute-api.us-east-1.amazonaws.com/prod",
         params=[("a-b", "1"), ("a_b", "2"), ("A", "3"), ("a.b", "4"), ("~t", "5"), ("a b", "6")],
         service="execute-api"),
    Case("unicode-path", "GET", "https://abc123.execute-api.us-east-1.amazonaws.com/prod/ünïcödé/日本語",
         service="execute-api"),
    Case("unicode-query", "GET", "https://abc123.execute-api.us-east-1.amazonaws.com/prod/find",
         params=[("name", "Zoë Ångström"), ("emoji", "🦙")], service="execute-api"),
    Case("binary-body", "PUT", "https://abc123.execute-api.us-east-1.amazonaws.com/prod/blob",
         headers={"Content-Type": "application/octet-stream"}, body=bytes(range(256)) * 4, service="execute-api"),
    Case("empty-post", "POST", "https://abc123.execute-api.us-east-1.amazonaws.com/prod/ping",
         service="execute-api"),
    Case("delete", "DELETE", "https://abc123.execute-api.us-east-1.amazonaws.com/prod/items/42",
         service="execute-api", credentials=NO_TOKEN),
    Case("patch", "PATCH", "https://abc123.execute-api.us-east-1.amazonaws.com/prod/items/42", headers=JSON,
         body=b'{"op":"replace"}', service="execute-api"),
    Case("head", "HEAD", "https://abc123.execute-api.us-east-1.amazonaws.com/prod/items/42",
         service="execute-api"),
    Case("options", "OPTIONS", "https://abc123.execute-api.us-east-1.amazonaws.com/prod/items",
         service="execute-api"),
    Case("dot-segments", "GET", "https://abc123.execute-api.us-east-1.amazonaws.com/prod/a/./b/../c",
         service="execute-api"),
    Case("double-slashes", "GET", "https://abc123.execute-api.us-east-1.amazonaws.com//prod//a//b/",
         service="execute-api"),
    Case("trailing-slash", "GET", "https://abc123.execute-api.us-east-1.amazonaws.com/prod/items/",
         service="execute-api"),
    Case("header-spaces", "POST", "https://abc123.execute-api.us-east-1.amazonaws.com/prod/x",
         headers={"X-Amz-Meta-Note": "a   lot   of    space  ", "Content-Type": "text/plain  ",
                  "User-Agent": "tests/1.0", "X-Amzn-Trace-Id": "Root=1-abc", "Expect": "100-continue"},
         body=b"hello", service="execute-api"),
    Case("amz-json-target", "POST", "https://ssm.us-east-1.amazonaws.com/",
         headers={"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AmazonSSM.GetParameter"},
         body=b'{"Name":"/app/key"}', service="ssm"),
    Case("custom-port", "GET", "https://vpce.example.com:8443/prod/items", service="execute-api"),
    Case("loopback-http", "POST", "http://127.0.0.1:9000/model/x/converse", headers=JSON, body=b"{}"),
    Case("ipv6-loopback", "GET", "http://[::1]:9001/items", service="execute-api"),
    Case("eu-region", "POST", "https://bedrock-runtime.eu-central-1.amazonaws.com/model/m/converse",
         headers=JSON, body=b"{}", region="eu-central-1"),
    Case("ap-region-token", "POST", "https://bedrock-runtime.ap-southeast-2.amazonaws.com/model/m/invoke",
         headers=JSON, body=b'{"inputText":"x"}', region="ap-southeast-2"),
    Case("long-query", "GET", "https://abc123.execute-api.us-east-1.amazonaws.com/prod/q",
         params=[("v", "x" * 2000)], service="execute-api"),
    Case("encoded-slash", "GET", "https://abc123.execute-api.us-east-1.amazonaws.com/prod/a%2Fb/c",
         service="execute-api"),
    Case("unreserved-path", "GET", "https://abc123.execute-api.us-east-1.amazonaws.com/prod/A-z_0.9~x",
         service="execute-api"),
    Case("equals-in-value", "GET", "https://abc123.execute-api.us-east-1.amazonaws.com/prod/x",
         params=[("filter", "a=b=c")], service="execute-api"),
    Case("s3-list-buckets", "GET", "https://s3.amazonaws.com/", service="s3"),
    Case("s3-put-object", "PUT", "https://my-bucket.s3.us-west-2.amazonaws.com/dir/ä file+1.bin",
         headers={"Content-Type": "application/octet-stream", "x-amz-meta-owner": "tests"},
         body=bytes(range(200)), service="s3", region="us-west-2"),
    Case("s3-list-v2", "GET", "https://my-bucket.s3.us-west-2.amazonaws.com/",
         params=[("list-type", "2"), ("prefix", "a/b c/"), ("delimiter", "/")], service="s3", region="us-west-2"),
    Case("s3-no-normalise", "GET", "https://my-bucket.s3.amazonaws.com/a/./b//c", service="s3",
         credentials=NO_TOKEN),
]


def _wire(case: Case) -> str:
    """The URL `requests` sends for the case, made strict (what SigV4Auth sends)."""
    prepared = requests.Request(case.method, case.base, params=case.params).prepare()
    return strict_url(prepared.url or "")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_sign_matches_botocore(case: Case) -> None:
    wire = _wire(case)
    ours = sign(case.method, wire, case.headers, case.body, case.credentials,
                region=case.region, service=case.service, now=NOW)
    path_only = wire.partition("?")[0]
    theirs = botocore_headers(case.method, path_only, case.params, case.headers, case.body,
                              case.credentials, case.region, case.service)
    assert ours["Authorization"] == theirs["Authorization"]
    assert ours["X-Amz-Date"] == theirs["X-Amz-Date"] == "20270115T080000Z"
    if case.credentials.session_token is not None:
        assert ours["X-Amz-Security-Token"] == theirs["X-Amz-Security-Token"] == TOKEN
    else:
        assert "X-Amz-Security-Token" not in ours
    if case.service == "s3":
        assert ours["X-Amz-Content-SHA256"] == theirs["X-Amz-Content-SHA256"] == hashlib.sha256(case.body).hexdigest()
    else:
        assert "X-Amz-Content-SHA256" not in ours
    signed = ours["Authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert not {"user-agent", "x-amzn-trace-id", "expect", "accept", "authorization"} & set(signed)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_sigv4_auth_signs_what_it_sends(case: Case) -> None:
    """Through `requests`: the prepared request carries botocore's signature for its wire URL."""
    epoch = NOW.timestamp()
    auth = SigV4Auth(Provider(case.credentials), region=case.region, service=case.service, clock=lambda: epoch)
    prepared = requests.Request(case.method, case.base, params=case.params, headers=case.headers,
                                data=case.body or None, auth=auth).prepare()
    path_only = (prepared.url or "").partition("?")[0]
    theirs = botocore_headers(case.method, path_only, case.params, case.headers, case.body,
                              case.credentials, case.region, case.service)
    assert prepared.headers["Authorization"] == theirs["Authorization"]
    assert prepared.url == _wire(case)


def test_cases_are_varied() -> None:
    assert len(CASES) >= 30
    assert {c.method for c in CASES} >= {"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"}
    assert {c.service for c in CASES} >= {"bedrock", "sts", "execute-api", "s3"}
    assert any(c.credentials.session_token is None for c in CASES)
    assert any(len(c.params) != len({k for k, _ in c.params}) for c in CASES)


# -- published vectors ----------------------------------------------------------------

SUITE = AwsCredentials(SecretString("AKIDEXAMPLE"), SecretString("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"))
SUITE_TIME = datetime(2015, 8, 30, 12, 36, 0, tzinfo=UTC)


def test_aws_test_suite_get_vanilla() -> None:
    """The AWS SigV4 test suite's get-vanilla request and its published signature."""
    headers = sign("GET", "https://example.amazonaws.com/", {}, b"", SUITE,
                   region="us-east-1", service="service", now=SUITE_TIME)
    assert headers == {
        "X-Amz-Date": "20150830T123600Z",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    }


def test_aws_test_suite_get_vanilla_query_order() -> None:
    """get-vanilla-query-order-key-case: parameters sorted by key, upper case first."""
    headers = sign("GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1", {}, b"", SUITE,
                   region="us-east-1", service="service", now=SUITE_TIME)
    expected = botocore_headers("GET", "https://example.amazonaws.com/",
                                [("Param2", "value2"), ("Param1", "value1")], {}, b"", SUITE,
                                "us-east-1", "service", SUITE_TIME)
    assert headers["Authorization"] == expected["Authorization"]
    assert headers["Authorization"].endswith(
        "Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
    )


def test_iam_documentation_example() -> None:
    """The IAM ListUsers walk-through from the SigV4 documentation, derived step by step by hand."""
    url = "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08"
    content_type = "application/x-www-form-urlencoded; charset=utf-8"
    canonical = "\n".join([
        "GET", "/", "Action=ListUsers&Version=2010-05-08",
        f"content-type:{content_type}\nhost:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n",
        "content-type;host;x-amz-date", hashlib.sha256(b"").hexdigest(),
    ])
    assert hashlib.sha256(canonical.encode()).hexdigest() == (
        "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    )
    expected = _hand_signature(canonical, "20150830T123600Z", "us-east-1", "iam",
                               "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    assert expected == "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    headers = sign("GET", url, {"Content-Type": content_type}, b"", SUITE,
                   region="us-east-1", service="iam", now=SUITE_TIME)
    assert headers["Authorization"].endswith(f"SignedHeaders=content-type;host;x-amz-date, Signature={expected}")


def _hand_signature(canonical: str, stamp: str, region: str, service: str, secret: str) -> str:
    """The documented derivation, written out: string to sign, kDate..kSigning, HMAC."""
    scope = f"{stamp[:8]}/{region}/{service}/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = f"AWS4{secret}".encode()
    for part in (stamp[:8], region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


# -- the Bedrock colon ------------------------------------------------------------------


def test_bedrock_model_id_colon_is_percent_3a_on_the_wire_and_double_encoded_when_signed() -> None:
    raw = f"{BEDROCK}/model/{MODEL}/converse"
    wire = strict_url(raw)
    assert wire == f"{BEDROCK}/model/anthropic.claude-3-opus-20240229-v1%3A0/converse"
    assert strict_url(wire) == wire  # idempotent
    canonical_uri = "/model/anthropic.claude-3-opus-20240229-v1%253A0/converse"
    assert botocore_canonical_request("POST", wire, "bedrock").split("\n")[1] == canonical_uri
    body = b'{"messages":[]}'
    # Hand-derived from the documented algorithm with the canonical URI written out.
    canonical = "\n".join([
        "POST", canonical_uri, "",
        (
            f"content-type:application/json\nhost:bedrock-runtime.us-east-1.amazonaws.com\n"
            f"x-amz-date:20270115T080000Z\nx-amz-security-token:{TOKEN}\n"
        ),
        "content-type;host;x-amz-date;x-amz-security-token", hashlib.sha256(body).hexdigest(),
    ])
    expected = _hand_signature(canonical, "20270115T080000Z", "us-east-1", "bedrock", SECRET)
    headers = sign("POST", wire, JSON, body, WITH_TOKEN, region="us-east-1", service="bedrock", now=NOW)
    assert headers["Authorization"].endswith(f"Signature={expected}")
    # A raw colon travels raw, so AWS encodes it once: sign() follows the URL it is given.
    raw_signed = sign("POST", raw, JSON, body, WITH_TOKEN, region="us-east-1", service="bedrock", now=NOW)
    assert not raw_signed["Authorization"].endswith(f"Signature={expected}")
    assert botocore_canonical_request("POST", raw, "bedrock").split("\n")[1] == (
        "/model/anthropic.claude-3-opus-20240229-v1%3A0/converse"
    )
    # SigV4Auth sends the strict form, and signs it.
    auth = SigV4Auth(Provider(WITH_TOKEN), region="us-east-1", clock=lambda: NOW.timestamp())
    prepared = requests.Request("POST", raw, headers=JSON, data=body, auth=auth).prepare()
    assert prepared.url == wire
    assert prepared.headers["Authorization"].endswith(f"Signature={expected}")


# The canonical URI is the wire path encoded once more (all services but S3), whether or
# not the caller encoded it strictly: botocore, given the same URL, is the oracle.
WIRE_PATHS = [
    ("/example/$delete", "/example/%24delete"),
    ("/a b", "/a%20b"),
    ("/a%20b", "/a%2520b"),
    ("/%3A", "/%253A"),
    ("/model/anthropic.claude-3:0/invoke", "/model/anthropic.claude-3%3A0/invoke"),
    ("/model/x%3A0/invoke", "/model/x%253A0/invoke"),
    ("/~user", "/~user"),
    ("/a+b", "/a%2Bb"),
    ("/\u00fc", "/%C3%BC"),
    ("//double//slash/", "/double/slash/"),
    ("/./a/../b", "/b"),
    ("/%2E/a", "/%252E/a"),  # an encoded dot is data, not a dot segment
    ("/a%2Fb", "/a%252Fb"),
    ("", "/"),
]


@pytest.mark.parametrize(("path", "canonical_uri"), WIRE_PATHS, ids=[p for p, _ in WIRE_PATHS])
def test_any_wire_path_signs_like_botocore(path: str, canonical_uri: str) -> None:
    url = f"https://example.amazonaws.com{path}"
    assert botocore_canonical_request("GET", url, "service").split("\n")[1] == canonical_uri
    ours = sign("GET", url, {}, b"", SUITE, region="us-east-1", service="service", now=NOW)
    theirs = botocore_headers("GET", url, [], {}, b"", SUITE, "us-east-1", "service")
    assert ours["Authorization"] == theirs["Authorization"]


@pytest.mark.parametrize(
    ("name", "path", "signature"),
    [  # published in the AWS SigV4 test suite; the path is sent as written
        ("normalize-path/get-special-character", "/example/$delete",
         "a853c9b21b528b19643d00910d35b83a10c366a10833ceefb45edd6c80e40f27"),
        ("normalize-path/get-space", "/example space/",
         "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"),
        ("get-utf8", "/\u1234", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
    ],
)
def test_aws_test_suite_raw_paths(name: str, path: str, signature: str) -> None:
    headers = sign("GET", f"https://example.amazonaws.com{path}", {}, b"", SUITE,
                   region="us-east-1", service="service", now=SUITE_TIME)
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={signature}"
    ), name


def test_strict_and_raw_s3_paths_sign_alike() -> None:
    """S3 encodes each segment of the path once, so the raw and the strict form agree."""
    raw = sign("GET", "https://b.s3.amazonaws.com/a:b/c d", {}, b"", NO_TOKEN,
               region="us-east-1", service="s3", now=NOW)
    strict = sign("GET", "https://b.s3.amazonaws.com/a%3Ab/c%20d", {}, b"", NO_TOKEN,
                  region="us-east-1", service="s3", now=NOW)
    assert raw == strict


def test_s3_path_is_encoded_once() -> None:
    wire = strict_url("https://b.s3.amazonaws.com/a:b/c d")
    assert wire == "https://b.s3.amazonaws.com/a%3Ab/c%20d"
    assert botocore_canonical_request("GET", wire, "s3").split("\n")[1] == "/a%3Ab/c%20d"
    theirs = botocore_headers("GET", wire, [], {}, b"", NO_TOKEN, "us-east-1", "s3")
    ours = sign("GET", wire, {}, b"", NO_TOKEN, region="us-east-1", service="s3", now=NOW)
    assert ours["Authorization"] == theirs["Authorization"]


# -- details of sign() ----------------------------------------------------------------


def test_plus_in_query_is_a_space_and_travels_as_percent_20() -> None:
    assert strict_url("https://h/p?q=a+b&r=c%2Bd") == "https://h/p?q=a%20b&r=c%2Bd"
    one = sign("GET", "https://h/p?q=a+b", {}, b"", NO_TOKEN, region="us-east-1", service="x", now=NOW)
    two = sign("GET", "https://h/p?q=a%20b", {}, b"", NO_TOKEN, region="us-east-1", service="x", now=NOW)
    assert one == two


def test_bare_query_key_signs_as_empty_value_and_keeps_its_wire_form() -> None:
    assert strict_url("https://h/b?acl") == "https://h/b?acl"
    one = sign("GET", "https://h/b?acl", {}, b"", NO_TOKEN, region="us-east-1", service="s3", now=NOW)
    two = sign("GET", "https://h/b?acl=", {}, b"", NO_TOKEN, region="us-east-1", service="s3", now=NOW)
    assert one == two


def test_caller_payload_hash_is_used_as_is() -> None:
    headers = {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    ours = sign("PUT", "https://b.s3.amazonaws.com/k", headers, b"data", NO_TOKEN,
                region="us-east-1", service="s3", now=NOW)
    assert "X-Amz-Content-SHA256" not in ours  # the caller's value stays and is signed
    theirs = botocore_headers("PUT", "https://b.s3.amazonaws.com/k", [], headers, b"data", NO_TOKEN,
                              "us-east-1", "execute-api")
    also = sign("PUT", "https://b.s3.amazonaws.com/k", headers, b"data", NO_TOKEN,
                region="us-east-1", service="execute-api", now=NOW)
    assert also["Authorization"] == theirs["Authorization"]


def test_unsigned_headers_do_not_change_the_signature() -> None:
    base = sign("GET", "https://h/", {}, b"", NO_TOKEN, region="us-east-1", service="x", now=NOW)
    noisy = sign("GET", "https://h/", {"User-Agent": "a", "Accept": "*/*", "Authorization": "old",
                                       "X-Amzn-Trace-Id": "t", "Expect": "100-continue", "X-Amz-Date": "19990101T000000Z",
                                       "Content-Length": "0"},
                 b"", NO_TOKEN, region="us-east-1", service="x", now=NOW)
    assert noisy == base


def test_caller_host_header_wins_over_the_url() -> None:
    a = sign("GET", "https://h/", {"Host": "other.example"}, b"", NO_TOKEN, region="us-east-1", service="x", now=NOW)
    b = sign("GET", "https://other.example/", {}, b"", NO_TOKEN, region="us-east-1", service="x", now=NOW)
    assert a == b


def test_now_may_be_epoch_seconds_and_str_body_is_utf8() -> None:
    a = sign("POST", "https://h/", {}, "zoë", NO_TOKEN, region="us-east-1", service="x", now=NOW.timestamp())
    b = sign("POST", "https://h/", {}, "zoë".encode(), NO_TOKEN, region="us-east-1", service="x", now=NOW)
    assert a == b


def test_default_now_is_the_current_time() -> None:
    stamp = sign("GET", "https://h/", {}, None, NO_TOKEN, region="us-east-1", service="x")["X-Amz-Date"]
    signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs(signed_at - datetime.now(UTC)) < timedelta(minutes=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"region": "US East", "service": "x"}, "region"),
        ({"region": "us-east-1", "service": ""}, "service"),
        ({"region": "us-east-1", "service": "a/b"}, "service"),
        ({"region": "us-east-1", "service": "x", "now": datetime(2027, 1, 1)}, "timezone-aware"),
    ],
)
def test_bad_arguments_are_configuration_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        sign("GET", "https://h/", {}, b"", NO_TOKEN, **kwargs)  # type: ignore[arg-type]


def test_bearer_token_cannot_sign() -> None:
    with pytest.raises(ConfigurationError, match="AwsCredentials"):
        sign("GET", "https://h/", {}, b"", BearerToken(SecretString("t")),  # type: ignore[arg-type]
             region="us-east-1", service="x")


# -- SigV4Auth ------------------------------------------------------------------------


def test_provider_returning_a_bearer_token_is_a_configuration_error() -> None:
    auth = SigV4Auth(StaticTokenProvider("a-bearer-token"), region="us-east-1")
    with pytest.raises(ConfigurationError, match="BearerToken.*BearerAuth"):
        requests.Request("GET", "https://h/", auth=auth).prepare()


def test_not_a_provider_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="resolve"):
        SigV4Auth(object(), region="us-east-1")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="region"):
        SigV4Auth(Provider(NO_TOKEN), region="")


def test_credentials_are_resolved_for_every_request() -> None:
    provider = Provider(WITH_TOKEN)
    auth = SigV4Auth(provider, region="us-east-1")
    for _ in range(3):
        requests.Request("GET", "https://h/", auth=auth).prepare()
    assert provider.calls == 3


@pytest.mark.parametrize("kind", ["file", "generator", "str"])
def test_streamed_bodies_are_read_once_and_replaced_by_the_signed_bytes(kind: str) -> None:
    data = "zoë says hi ".encode() * 100
    body: object = {
        "file": io.BytesIO(data),
        "generator": (data[i : i + 100] for i in range(0, len(data), 100)),
        "str": data.decode(),
    }[kind]
    auth = SigV4Auth(Provider(NO_TOKEN), region="us-east-1", service="execute-api", clock=lambda: NOW.timestamp())
    prepared = requests.Request("POST", "https://h/x", data=body, auth=auth).prepare()
    assert prepared.body == data
    assert prepared.headers["Content-Length"] == str(len(data))
    assert "Transfer-Encoding" not in prepared.headers
    expected = sign("POST", "https://h/x", {}, data, NO_TOKEN, region="us-east-1", service="execute-api", now=NOW)
    assert prepared.headers["Authorization"] == expected["Authorization"]


def test_resigning_replaces_the_old_signature_headers() -> None:
    clock = iter([NOW.timestamp(), NOW.timestamp() + 60])
    auth = SigV4Auth(Provider(WITH_TOKEN), region="us-east-1", clock=lambda: next(clock))
    prepared = requests.Request("GET", "https://h/", auth=auth).prepare()
    first = dict(prepared.headers)
    auth(prepared)
    assert prepared.headers["X-Amz-Date"] == "20270115T080100Z"
    assert prepared.headers["Authorization"] != first["Authorization"]
    assert list(prepared.headers).count("Authorization") == 1


def test_secrets_stay_out_of_repr_and_logs(debug_logs: pytest.LogCaptureFixture) -> None:
    auth = SigV4Auth(StaticProviderRepr(), region="us-east-1")
    prepared = requests.Request("POST", f"{BEDROCK}/model/{MODEL}/converse", data=b"{}", auth=auth).prepare()
    assert prepared.headers["X-Amz-Security-Token"] == TOKEN  # it does go on the wire
    texts = [repr(auth), str(auth), repr(WITH_TOKEN), debug_logs.text]
    assert_no_secret(texts, [SECRET, TOKEN])


class StaticProviderRepr(Provider):
    def __init__(self) -> None:
        super().__init__(WITH_TOKEN)

    def __repr__(self) -> str:
        return "StaticProviderRepr()"


# -- reading AWS error codes ------------------------------------------------------------


STS_EXPIRED_XML = (
    b'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
    b"<Code>ExpiredToken</Code><Message>The security token included in the request is expired</Message>"
    b"</Error></ErrorResponse>"
)


def _response(status: int, body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers.update(headers or {})
    return response


@pytest.mark.parametrize(
    ("body", "headers", "code"),
    [
        (b'{"message":"expired"}', {"x-amzn-ErrorType": "ExpiredTokenException:http://internal.amazon.com/"},
         "ExpiredTokenException"),
        (b'{"__type":"com.amazon.coral.service#UnrecognizedClientException","message":"x"}', {},
         "UnrecognizedClientException"),
        (b'{"code":"ExpiredTokenException"}', {}, "ExpiredTokenException"),
        (
            STS_EXPIRED_XML,
            {},
            "ExpiredToken",
        ),
        (b"<?xml version='1.0'?><Error><Code>InvalidClientTokenId</Code></Error>", {}, "InvalidClientTokenId"),
        (b"not json {", {}, None),
        (b"{not json", {}, None),
        (b"", {}, None),
        (b"[1, 2]", {}, None),
    ],
)
def test_aws_error_code(body: bytes, headers: dict[str, str], code: str | None) -> None:
    assert aws_error_code(_response(403, body, headers)) == code


@pytest.mark.parametrize(
    ("status", "code", "rejected"),
    [
        (403, "ExpiredTokenException", True),
        (400, "ExpiredToken", True),
        (403, "InvalidClientTokenId", True),
        (400, "UnrecognizedClientException", True),
        (403, "AccessDeniedException", False),
        (403, "InvalidSignatureException", False),
        (401, "ExpiredTokenException", False),
        (500, "ExpiredTokenException", False),
    ],
)
def test_which_answers_mean_the_keys_are_no_good(status: int, code: str, rejected: bool) -> None:
    auth = SigV4Auth(Provider(NO_TOKEN), region="us-east-1")
    response = _response(status, b"{}", {"x-amzn-ErrorType": code})
    assert auth.is_rejection(response) is rejected


def test_no_logging_of_canonical_requests(debug_logs: pytest.LogCaptureFixture) -> None:
    sign("GET", "https://h/", {}, b"", WITH_TOKEN, region="us-east-1", service="x", now=NOW)
    assert not [r for r in debug_logs.records if r.name.startswith("literauth") and r.levelno >= logging.DEBUG]


def test_raw_reserved_characters_in_the_query_are_canonicalised_like_aws() -> None:
    url = "https://abc.execute-api.us-east-1.amazonaws.com/prod?path=a/b:c&at=@&sp=a%20b"
    ours = sign("GET", url, {}, b"", NO_TOKEN, region="us-east-1", service="execute-api", now=NOW)
    theirs = botocore_headers("GET", url.partition("?")[0], [("path", "a/b:c"), ("at", "@"), ("sp", "a b")], {},
                              b"", NO_TOKEN, "us-east-1", "execute-api")
    assert ours["Authorization"] == theirs["Authorization"]
    assert strict_url(url).endswith("?path=a%2Fb%3Ac&at=%40&sp=a%20b")


def test_the_public_face_promises_four_names() -> None:
    import literauth.sigv4

    assert literauth.sigv4.__all__ == ["ALGORITHM", "SigV4Auth", "sign", "strict_url"]
    assert literauth.sigv4.SigV4Auth is SigV4Auth
