"""Fuzzing bad input: whatever a parser or loader is fed, it returns a valid result or raises a
`LiterAuthError` subclass, quickly.

Generated and mutated STS XML, OAuth JSON, service-account key files, web identity token
files, environment values, `[[models]]` TOML and whole HTTP answers; plus the XML attacks
(entity expansion, external entities) and oversized bodies. Hypothesis runs derandomized with
a bounded number of examples, so CI sees the same inputs every time; every call also runs
under an alarm, so a hang fails the test instead of stalling the suite.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import pathlib
import signal
import string
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import Any, TypeVar
from xml.sax.saxutils import escape

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from literauth import (
    AwsCredentials,
    BearerToken,
    ConfigurationError,
    Credential,
    CredentialSourceError,
    LiterAuthError,
    MalformedResponseError,
    ModelTable,
    StaticTokenProvider,
    VertexOAuthCredentialProvider,
    WebIdentityCredentialProvider,
    load_models,
    loads_models,
)
from literauth._files import read_token_file
from literauth._http import MAX_BODY, ErrorDetails, TokenResponse, mask_secrets
from literauth._oauth import parse_bearer_token, parse_oauth_error
from literauth._policy import RetryPolicy
from literauth._registry import SPECS
from literauth._xml import MAX_XML_BYTES
from literauth.aws._sts import (
    STS_NAMESPACE,
    parse_credentials_response,
    parse_sts_error,
)
from literauth.azure import _common as azure_common
from literauth.credentials import UTC
from literauth.google import service_account
from literauth.secret import SecretString
from literauth.testing import FakeIdentityServer, Fault

from ..conftest import METADATA_OVERRIDES, FakeSleep

T = TypeVar("T")

CALL_LIMIT = 10.0  # seconds one call may take before it counts as a hang
HOST = "idp.test"


def parse_web_identity(response: TokenResponse) -> AwsCredentials:
    """The web identity answer read as the provider reads it."""
    return parse_credentials_response(response, "AssumeRoleWithWebIdentity", "aws.web_identity", HOST)



# -- the harness -------------------------------------------------------------------------------


def fuzz(examples: int, deadline_ms: int = 2000) -> settings:
    """Derandomized settings: the same inputs on every run, a bounded count, a per-example deadline."""
    return settings(
        max_examples=examples,
        deadline=timedelta(milliseconds=deadline_ms),
        derandomize=True,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


class Hang(BaseException):
    """A call ran past `CALL_LIMIT`; a BaseException, so no `except Exception` can hide it."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block with `Hang` after `seconds` (where SIGALRM exists, in the main thread)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(signum: int, frame: object) -> None:
        raise Hang(f"one call ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def outcome(call: Callable[[], T], limit: float = CALL_LIMIT) -> T | LiterAuthError:
    """The call's result, or the `LiterAuthError` it raised; any other exception fails the test."""
    with time_limit(limit):
        try:
            return call()
        except LiterAuthError as exc:
            return exc


def response(body: bytes, headers: Mapping[str, str] | None = None, sent_at: float = 1_800_000_000.0,
             status: int = 200) -> TokenResponse:
    return TokenResponse(status, dict(headers or {}), body, sent_at, 0.01)


def close(result: object) -> None:
    closer = getattr(result, "close", None)
    if callable(closer):
        closer()


# -- strategies shared by several targets --------------------------------------------------------

# Bytes that tend to break parsers, inserted by `mutated`.
SPICE = (
    b"<", b">", b"&", b"&amp;", b"&#0;", b"&#x110000;", b"&lol;", b"<!DOCTYPE a>", b"<!ENTITY e 'x'>", b"]]>",
    b"<![CDATA[", b"<?xml version='1.0' encoding='bogus'?>", b"\x00", b"\xff", b"\xc3", b"\xef\xbb\xbf",
    b"\xed\xa0\x80", b'"', b"'", b"{", b"}", b"[", b"]", b",", b":", b"1e999", b"-1", b"1" + b"0" * 400,
    b"\\u0000", b"\\ud800", b"null", b"\n", b"\r", b"\t", b"${", b"$${", b"=", b"[[models]]", b"'''", b'"""',
    b"-----BEGIN " + b"PRIVATE KEY-----", b"\\n", b"xmlns='x'", b"</Credentials>", b"<Credentials>",
)


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """`seed` after a few random edits: byte flips, insertions of `SPICE`, deletions, copies, a cut."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 6))):
        operation = draw(st.sampled_from(("flip", "insert", "delete", "duplicate", "truncate")))
        at = draw(st.integers(0, len(data)))
        if operation == "flip" and data:
            data[min(at, len(data) - 1)] = draw(st.integers(0, 255))
        elif operation == "insert":
            data[at:at] = draw(st.sampled_from(SPICE) | st.binary(min_size=1, max_size=8))
        elif operation == "delete":
            del data[at : draw(st.integers(at, min(len(data), at + 64)))]
        elif operation == "duplicate":
            data[at:at] = data[at : draw(st.integers(at, min(len(data), at + 64)))]
        else:
            del data[at:]
    return bytes(data)


def mutated_text(seed: str) -> st.SearchStrategy[str]:
    """`mutated` for text: edited as UTF-8, broken sequences kept as lone surrogates."""
    return mutated(seed.encode()).map(lambda raw: raw.decode("utf-8", "surrogateescape"))


# Text as it arrives from files and environments: any code point, with NUL, controls and lone
# surrogates (what os.environ holds for undecodable bytes).
wild_text = st.text(
    st.characters(codec=None, exclude_categories=())
    | st.sampled_from(["\x00", "\n", "\r", "\t", "\x0b", "\x85", "\u2028", "\ufeff", "\udcff", "\ud800", " "]),
    max_size=40,
)
json_leaves = (
    st.none() | st.booleans() | st.integers() | st.integers(10**300, 10**400) | st.floats() | st.text(max_size=20)
)
json_values = st.recursive(
    json_leaves,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3),
    max_leaves=8,
)


# -- STS XML -------------------------------------------------------------------------------------

CREDENTIAL_FIELDS = ("AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")


def sts_body(fields: Mapping[str, str], *, root: str = "AssumeRoleWithWebIdentityResponse",
             namespace: str = STS_NAMESPACE) -> bytes:
    """An AssumeRoleWithWebIdentity answer holding `fields` in its Credentials element."""
    inner = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in fields.items())
    return (
        f'<{root} xmlns="{namespace}"><AssumeRoleWithWebIdentityResult>'
        f"<Credentials>{inner}</Credentials></AssumeRoleWithWebIdentityResult>"
        f"<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></{root}>"
    ).encode("utf-8", "surrogatepass")


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """ISO-8601 stamps: real moments of years 1-9999, or parts drawn apart (impossible dates); any offset."""
    if draw(st.booleans()):
        moment = draw(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)))
        parts = (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    else:
        parts = tuple(draw(st.integers(0, top)) for top in (9999, 13, 32, 25, 61, 61))
    fraction = draw(st.sampled_from(["", ".5", ".123456", ".1234567890123"]))
    hours = st.integers(0, 23) if draw(st.booleans()) else st.integers(0, 99)
    zone = draw(st.just("Z") | st.builds("{}{:02d}:{:02d}".format, st.sampled_from("+-"), hours, st.integers(0, 99)))
    return "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}".format(*parts) + fraction + zone


def _http_date(epoch: float) -> str:
    import email.utils

    return email.utils.formatdate(epoch, usegmt=True)


http_dates = (
    st.none()
    | st.floats(0, 253402300799).map(_http_date)
    | st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=40)
    | st.sampled_from(["Thu, 01 Jan 0000 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 -9999", "Mon, 32 Foo 2027"])
)
xml_safe_text = st.text(st.characters(exclude_categories=["Cs", "Cc"]) | st.sampled_from("\t\n\r "), max_size=30)
field_text = xml_safe_text | xml_safe_text | st.text(max_size=30) | st.sampled_from(
    ["", " ", "\r\n", "\x00", "]]>", "AKIA" + "A" * 16])
sts_fields = st.fixed_dictionaries(
    {"AccessKeyId": field_text, "SecretAccessKey": field_text, "SessionToken": field_text,
     "Expiration": timestamps() | timestamps() | field_text},
).flatmap(lambda full: st.sampled_from([set(), set(), set(), {"Expiration"}, {"AccessKeyId", "SessionToken"}]).map(
    lambda dropped: {k: v for k, v in full.items() if k not in dropped}
))
sent_times = st.floats(0, 4_000_000_000)


def _xml_text(value: str) -> str:
    """What an XML parser makes of text: line ends normalised, then stripped as the parser does."""
    return value.replace("\r\n", "\n").replace("\r", "\n").strip()


@fuzz(300)
@given(fields=sts_fields, date_header=http_dates, sent_at=sent_times)
def test_generated_sts_answers_parse_or_raise_malformed(
    fields: dict[str, str], date_header: str | None, sent_at: float
) -> None:
    headers = {} if date_header is None else {"Date": date_header}
    result = outcome(lambda: parse_web_identity(response(sts_body(fields), headers, sent_at)))
    if isinstance(result, LiterAuthError):
        assert isinstance(result, MalformedResponseError)
        return
    assert isinstance(result, AwsCredentials)
    assert result.access_key_id.expose_secret() == _xml_text(fields["AccessKeyId"])
    assert result.secret_access_key.expose_secret() == _xml_text(fields["SecretAccessKey"])
    assert result.session_token is not None
    assert result.session_token.expose_secret() == _xml_text(fields["SessionToken"])
    assert result.expires_at is not None and result.expires_at.tzinfo is not None


xml_declarations = st.sampled_from([
    b"<?xml version='1.0' encoding='bogus'?>", b'<?xml version="1.0" encoding="utf-16"?>',
    b'<?xml version="1.0" encoding="ascii"?>', b'<?xml version="1.1"?>', b"\xef\xbb\xbf", b"\xff\xfe",
    b'<?xml version="1.0" encoding="latin-1" standalone="yes"?>', b"<?xml?>",
])
VALID_STS = sts_body({
    "AccessKeyId": "ASIAFUZZFUZZFUZZFUZZ", "SecretAccessKey": "c2VjcmV0LWFjY2Vzcy1rZXk=",
    "SessionToken": "FwoGZXIvYXdzEFUZZ", "Expiration": "2027-01-15T08:00:00Z",
})


@fuzz(300)
@given(
    body=mutated(VALID_STS) | st.binary(max_size=300)
    | st.tuples(xml_declarations, mutated(VALID_STS) | st.just(VALID_STS)).map(b"".join),
    date_header=http_dates,
)
def test_mutated_sts_answers_parse_or_raise_malformed(body: bytes, date_header: str | None) -> None:
    headers = {} if date_header is None else {"Date": date_header}
    result = outcome(lambda: parse_web_identity(response(body, headers)))
    assert isinstance(result, (AwsCredentials, MalformedResponseError))


xml_names = st.sampled_from(["Error", "Code", "Message", "RequestId", "ErrorResponse", "Type", "x:Code", "a"])


@st.composite
def xml_trees(draw: st.DrawFn, depth: int = 0) -> str:
    """A random element with random children and text; namespaces declared or not."""
    name = draw(xml_names)
    attributes = ' xmlns="https://sts.amazonaws.com/doc/2011-06-15/"' if draw(st.booleans()) else ""
    if ":" in name and draw(st.booleans()):
        attributes += ' xmlns:x="urn:x"'
    children = draw(st.lists(xml_trees(depth + 1), max_size=0 if depth > 3 else 3))
    return f"<{name}{attributes}>{escape(draw(field_text))}{''.join(children)}</{name}>"


ERROR_BODY = (
    f'<ErrorResponse xmlns="{STS_NAMESPACE}"><Error><Type>Sender</Type><Code>InvalidIdentityToken</Code>'
    "<Message>bad</Message></Error><RequestId>r-1</RequestId></ErrorResponse>"
).encode()


@fuzz(300)
@given(
    body=xml_trees().map(str.encode) | mutated(ERROR_BODY) | st.binary(max_size=200),
    status=st.integers(400, 599),
    request_id=st.none() | st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=20),
)
def test_sts_error_bodies_always_read_as_an_endpoint_error(body: bytes, status: int, request_id: str | None) -> None:
    headers = {} if request_id is None else {"x-amzn-RequestId": request_id}
    token = SecretString("eyJfuzz.web-identity.token")
    info = outcome(lambda: mask_secrets(parse_sts_error(response(body, headers, status=status)), [token]))
    assert isinstance(info, ErrorDetails)
    assert info.error_code is None or info.error_code[:1].isalpha()
    assert token.expose_secret() not in (info.description or "")


# -- XML attacks -----------------------------------------------------------------------------------

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + b"".join(
        b' <!ENTITY lol%d "%s">\n' % (level, (b"&lol%d;" % (level - 1) if level > 1 else b"&lol;") * 10)
        for level in range(1, 10)
    )
    + b"]>\n<AssumeRoleWithWebIdentityResponse>&lol9;</AssumeRoleWithWebIdentityResponse>"
)
QUADRATIC_BLOWUP = (
    b'<!DOCTYPE r [<!ENTITY a "' + b"A" * 50_000 + b'">]><r>' + b"&a;" * 5_000 + b"</r>"
)


def _external_entity(target: str, *, parameter: bool = False, encoding: str = "utf-8") -> bytes:
    if parameter:
        text = (
            f'<?xml version="1.0" encoding="{encoding}"?><!DOCTYPE r [<!ENTITY % ext SYSTEM "{target}"> %ext;]>'
            "<r>x</r>"
        )
    else:
        text = (
            f'<?xml version="1.0" encoding="{encoding}"?><!DOCTYPE r [<!ENTITY ext SYSTEM "{target}">]>'
            f'<AssumeRoleWithWebIdentityResponse xmlns="{STS_NAMESPACE}"><AssumeRoleWithWebIdentityResult>'
            "<Credentials><AccessKeyId>&ext;</AccessKeyId><SecretAccessKey>s</SecretAccessKey>"
            "<SessionToken>t</SessionToken><Expiration>2027-01-15T08:00:00Z</Expiration></Credentials>"
            "</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"
        )
    return text.encode(encoding)


_recorders: list[list[str]] = []  # lists the audit hook appends opened paths to, while a block runs


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _recorders and event in ("open", "urllib.Request", "socket.connect") and args:
        for seen in _recorders:
            seen.append(str(args[0]))


@contextlib.contextmanager
def opened_files() -> Iterator[list[str]]:
    """Record the paths Python opens (and URLs or sockets it reaches) while the block runs."""
    if not getattr(opened_files, "hooked", False):
        sys.addaudithook(_audit)  # audit hooks cannot be removed: one, idle outside these blocks
        opened_files.hooked = True  # type: ignore[attr-defined]
    seen: list[str] = []
    _recorders.append(seen)
    try:
        yield seen
    finally:
        _recorders.remove(seen)


@pytest.mark.parametrize("body", [BILLION_LAUGHS, QUADRATIC_BLOWUP], ids=["billion-laughs", "quadratic"])
def test_entity_expansion_is_refused_fast_and_small(body: bytes) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = outcome(lambda: parse_web_identity(response(body)), limit=5)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(result, MalformedResponseError)
    assert "DTD or entities" in str(result)
    assert time.perf_counter() - started < 1.0
    assert peak < 4 * len(body) + 256 * 1024  # nothing expanded: memory in the order of the body


@pytest.mark.parametrize("parameter", [False, True], ids=["general", "parameter"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_external_entities_are_refused_without_reading_the_file(
    tmp_path_factory: pytest.TempPathFactory, parameter: bool, encoding: str
) -> None:
    marker = "LITERAUTH-XXE-MARKER-7f3a"
    secret_file = tmp_path_factory.mktemp("xxe") / "secret.txt"
    secret_file.write_text(marker)
    targets = [secret_file.as_uri(), str(secret_file), "file:///etc/passwd", "http://127.0.0.1:9/x.dtd"]
    for target in targets:
        body = _external_entity(target, parameter=parameter, encoding=encoding)
        with opened_files() as seen:
            started = time.perf_counter()
            result = outcome(lambda body=body: parse_web_identity(response(body)), limit=5)
            error = outcome(lambda body=body: parse_sts_error(response(body, status=400)), limit=5)
        assert isinstance(result, MalformedResponseError), target
        assert "DTD or entities" in str(result)
        assert error == ErrorDetails(None)
        assert time.perf_counter() - started < 1.0
        assert not [path for path in seen if "secret.txt" in path or "passwd" in path or "x.dtd" in path]
        assert marker not in repr(result) and marker not in str(result)


def test_dtd_payloads_from_the_server_fail_the_fetch_cleanly(idp: FakeIdentityServer) -> None:
    with idp.sts_provider(sleep=FakeSleep(), background_refresh=False) as provider:
        for body in (BILLION_LAUGHS, _external_entity("file:///etc/passwd")):
            idp.sts.fail(200, body, headers={"Content-Type": "text/xml"})
            started = time.perf_counter()
            result = outcome(provider.resolve, limit=10)
            assert isinstance(result, MalformedResponseError)
            assert time.perf_counter() - started < 2.0
            provider.invalidate()
    idp.reset()


# -- oversized bodies ------------------------------------------------------------------------------

HUGE = 16 * 1024 * 1024  # sixteen times what the fetcher agrees to read
FAKED = [spec.name for spec in SPECS if spec.fake is not None]  # every registered provider with a fake


@pytest.mark.parametrize("kind", FAKED)
def test_a_body_over_one_mebibyte_is_refused_with_bounded_memory(idp: FakeIdentityServer, kind: str) -> None:
    endpoint = idp.endpoint(kind)
    body = b'{"access_token": "' + b"a" * HUGE + b'"}'
    options: dict[str, Any] = {"sleep": FakeSleep(), "background_refresh": False, "retry": RetryPolicy(max_attempts=1)}
    with idp.provider(kind, **options) as provider:
        endpoint.enqueue(Fault(200, body))
        tracemalloc.start()
        try:
            result = outcome(provider.resolve, limit=20)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    idp.reset()
    assert isinstance(result, MalformedResponseError)
    assert f"more than {MAX_BODY} bytes" in str(result)
    assert peak < 4 * MAX_BODY  # read up to the cap, never the whole body


def test_xml_larger_than_the_xml_cap_is_refused() -> None:
    body = b"<a>" + b"x" * MAX_XML_BYTES + b"</a>"
    result = outcome(lambda: parse_web_identity(response(body)))
    assert isinstance(result, MalformedResponseError)
    assert "larger than" in str(result)


# -- Azure and Google JSON ----------------------------------------------------------------------------

numberish = (
    st.integers() | st.integers(10**300, 10**400) | st.floats()
    | st.sampled_from(["3600", " 3599.5 ", "1e400", "-1e400", "nan", "inf", "0x10", "", "1_000", "٣٦٠٠", "²", "-5"])
    | st.text(max_size=8) | json_values
)
token_objects = st.fixed_dictionaries(
    {},
    optional={
        "access_token": st.text(max_size=30) | st.sampled_from(["", " ", "ya29.token"]) | json_values,
        "expires_in": numberish,
        "token_type": st.sampled_from(["Bearer", "bearer", "BEARER", "mac", "pop", ""]) | json_values,
        "ext_expires_in": numberish,
        "scope": st.text(max_size=10),
    },
)


def _encode_json(value: Any, style: str) -> bytes:
    text = json.dumps(value, allow_nan=True)
    if style == "utf-16":
        return text.encode("utf-16")
    if style == "bom":
        return b"\xef\xbb\xbf" + text.encode()
    return text.encode("utf-8", "surrogatepass")


def _expected_seconds(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(value.strip()) if isinstance(value, str) else float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


@fuzz(400)
@given(data=token_objects, style=st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-16", "bom"]), sent_at=sent_times)
def test_generated_oauth_answers_parse_or_raise_malformed(data: dict[str, Any], style: str, sent_at: float) -> None:
    body = _encode_json(data, style)
    result = outcome(lambda: parse_bearer_token(response(body, sent_at=sent_at), "azure.client_secret", HOST))
    if isinstance(result, LiterAuthError):
        assert isinstance(result, MalformedResponseError)
        return
    assert isinstance(result, BearerToken)
    assert result.token.expose_secret() == data["access_token"]
    seconds = _expected_seconds(data.get("expires_in"))
    assert seconds is not None and result.expires_at_epoch is not None
    assert math.isclose(result.expires_at_epoch, sent_at + seconds, rel_tol=1e-9, abs_tol=1e-3)


VALID_JSON = b'{"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": "eyJ0.eyJ1.c2ln"}'


@fuzz(300)
@given(body=mutated(VALID_JSON) | st.binary(max_size=200) | json_values.map(lambda v: _encode_json(v, "utf-8")))
def test_mutated_oauth_answers_parse_or_raise_malformed(body: bytes) -> None:
    result = outcome(lambda: parse_bearer_token(response(body), "google.service_account", HOST))
    assert isinstance(result, (BearerToken, MalformedResponseError))


@pytest.mark.parametrize("body", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b'{"access_token": "t", "expires_in": 1' + b"0" * 400 + b"}",
    b'{"access_token": "t", "expires_in": 1e308, "token_type": "Bearer"}',
    b'{"access_token": "t", "expires_in": -1e308}',
    b'{"access_token": "t", "expires_in": 1' + b"0" * 5000 + b"}",
], ids=["deep-array", "deep-object", "huge-int", "huge-float", "huge-negative", "too-many-digits"])
def test_pathological_json_is_malformed(body: bytes) -> None:
    result = outcome(lambda: parse_bearer_token(response(body), "azure.client_secret", HOST))
    assert isinstance(result, MalformedResponseError)


error_objects = st.fixed_dictionaries(
    {},
    optional={
        "error": st.text(max_size=20) | json_values,
        "error_description": st.text(max_size=40) | json_values,
        "error_codes": st.lists(st.integers() | json_values, max_size=3) | json_values,
        "correlation_id": st.text(max_size=20) | json_values,
        "trace_id": st.text(max_size=20) | json_values,
    },
)
ECHOED = "cs~FuzzEchoedClientSecret.0123456789"


@fuzz(300)
@given(
    data=error_objects,
    echo=st.sets(st.sampled_from(["error", "error_description", "correlation_id", "trace_id"])),
    raw=st.none() | st.binary(max_size=100) | st.sampled_from([b"[" * 2_000, b"Too Many Requests"]),
)
def test_oauth_error_bodies_always_read_as_an_endpoint_error(
    data: dict[str, Any], echo: set[str], raw: bytes | None
) -> None:
    for field in echo:
        data[field] = f"before {ECHOED} after"
    body = raw if raw is not None else _encode_json(data, "utf-8")
    reply = response(body, status=400)
    for parse in (
        lambda: azure_common.parse_error(reply),
        lambda: service_account._parse_error(reply),
        lambda: parse_oauth_error(reply),
    ):
        info = outcome(parse)
        assert isinstance(info, ErrorDetails)
    azure = mask_secrets(azure_common.parse_error(reply), [SecretString(ECHOED)])
    shown = " ".join(str(part) for part in (azure.error_code, azure.description, azure.reference))
    assert ECHOED not in shown


@fuzz(300)
@given(value=st.none() | st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=40)
       | st.sampled_from(["²", "١٢", "9" * 400, "120", " 30 ", "Fri, 31 Dec 9999 23:59:59 +9999"]))
def test_retry_after_and_date_headers_never_raise(value: str | None) -> None:
    delay = outcome(lambda: RetryPolicy.parse_retry_after(value, 1_800_000_000.0))
    assert delay is None or (isinstance(delay, float) and delay >= 0)
    headers = {} if value is None else {"Date": value}
    when = outcome(lambda: response(b"", headers).server_date)
    assert when is None or isinstance(when, float)


# -- whole HTTP answers -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def idp() -> Iterator[FakeIdentityServer]:
    """One fake identity provider for the module (hypothesis tests cannot take function fixtures)."""
    with FakeIdentityServer() as server:
        yield server


@pytest.fixture(scope="module")
def idp_env(idp: FakeIdentityServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment variables pointing every from_env() at `idp`."""
    return idp.environ(tmp_path_factory.mktemp("env"))


header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=40)
fault_headers = st.dictionaries(
    st.sampled_from(["Date", "Retry-After", "Location", "Content-Type", "x-amzn-RequestId", "X-Fuzz"]),
    header_text | http_dates.filter(lambda v: v is not None),  # type: ignore[arg-type]
    max_size=3,
)
fault_bodies = (
    st.binary(max_size=200) | mutated(VALID_JSON) | mutated(VALID_STS) | mutated(ERROR_BODY)
    | token_objects.map(lambda v: _encode_json(v, "utf-8")) | st.just(VALID_STS) | st.just(VALID_JSON)
)
faults = st.builds(
    Fault,
    status=st.sampled_from([200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 429, 500, 502, 503, 504])
    | st.integers(200, 599),
    body=fault_bodies,
    headers=fault_headers,
)


@pytest.mark.parametrize("kind", FAKED)
def test_random_http_answers_give_a_credential_or_a_literauth_error(idp: FakeIdentityServer, kind: str) -> None:
    endpoint = idp.endpoint(kind)
    provider = idp.provider(kind, sleep=FakeSleep(), background_refresh=False, timeout=(2.0, 2.0),
                            retry=RetryPolicy(max_attempts=2))

    @fuzz(60, deadline_ms=20000)  # two 2 s read timeouts fit, even on a loaded machine
    @given(replies=st.lists(faults | st.builds(Fault, status=st.just(200), body=fault_bodies, truncate=st.just(True)),
                            min_size=2, max_size=2))
    def check(replies: list[Fault]) -> None:
        endpoint.clear_faults()
        endpoint.enqueue(*replies)
        provider.invalidate()
        result = outcome(provider.resolve)
        assert isinstance(result, (Credential, LiterAuthError))

    try:
        check()
    finally:
        provider.close()
        idp.reset()


# -- service-account key files ---------------------------------------------------------------------------


def _pem(key: Any, encryption: Any = None) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        encryption or serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="module")
def key_pems() -> dict[str, str]:
    """PEM texts of several kinds; a 1024-bit RSA key keeps key checks quick (size is not under test)."""
    signing = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return {
        "rsa": _pem(signing),
        "rsa-pkcs1": signing.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode(),
        "ec": _pem(ec.generate_private_key(ec.SECP256R1())),
        "ed25519": _pem(ed25519.Ed25519PrivateKey.generate()),
        "encrypted": _pem(signing, serialization.BestAvailableEncryption(b"pw")),
    }


def _base_info(pem: str) -> dict[str, Any]:
    return {
        "type": "service_account", "project_id": "fuzz", "private_key_id": "0123abcd",
        "private_key": pem, "client_email": "fuzz@fuzz.iam.gserviceaccount.com", "client_id": "1",
        "token_uri": "http://127.0.0.1:9/token",
    }


KEY_FIELDS = ("type", "private_key_id", "private_key", "client_email", "token_uri")


@st.composite
def key_infos(draw: st.DrawFn, pems: Mapping[str, str]) -> dict[str, Any]:
    """Key-file content with some fields dropped, replaced by random JSON, or mutated."""
    info = _base_info(pems[draw(st.sampled_from(sorted(pems)))])
    for field in draw(st.sets(st.sampled_from(KEY_FIELDS), max_size=3)):
        action = draw(st.sampled_from(["drop", "json", "text", "mutate"]))
        if action == "drop":
            del info[field]
        elif action == "json":
            info[field] = draw(json_values)
        elif action == "text":
            info[field] = draw(wild_text | st.sampled_from(
                ["authorized_user", "external_account", "", "https://oauth2.googleapis.com/token", "http://x/"]))
        else:
            info[field] = draw(mutated_text(str(info[field])))
    if draw(st.booleans()):
        info["private_key"] = str(info.get("private_key", "")).replace("\n", "\\n")  # newlines lost on the way
    return info


def _check_vertex(result: object, info: Mapping[str, Any] | None = None) -> None:
    if isinstance(result, LiterAuthError):
        assert isinstance(result, ConfigurationError)
        return
    assert isinstance(result, VertexOAuthCredentialProvider)
    try:
        if info is not None:
            assert result.client_email == info["client_email"].strip()
    finally:
        result.close()


def test_service_account_info_parses_or_raises_configuration_error(key_pems: dict[str, str]) -> None:
    @fuzz(150)
    @given(info=key_infos(key_pems), as_text=st.booleans())
    def check(info: dict[str, Any], as_text: bool) -> None:
        given_info: Any = json.dumps(info, ensure_ascii=False) if as_text else info
        if as_text:
            try:
                given_info.encode()
            except UnicodeEncodeError:
                given_info = json.dumps(info)  # lone surrogates travel escaped
        _check_vertex(outcome(lambda: VertexOAuthCredentialProvider.from_service_account_json(given_info)), info)

    check()


def test_service_account_json_text_parses_or_raises_configuration_error(key_pems: dict[str, str]) -> None:
    seed = json.dumps(_base_info(key_pems["rsa"]))

    @fuzz(150)
    @given(text=mutated_text(seed) | wild_text | st.sampled_from(["[" * 2_000, "{}", "null", "1" + "0" * 500]))
    def check(text: str) -> None:
        _check_vertex(outcome(lambda: VertexOAuthCredentialProvider.from_service_account_json(text)))

    check()


def test_key_files_parse_or_raise_configuration_error(
    key_pems: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("keys")
    seed = json.dumps(_base_info(key_pems["rsa"]), indent=2).encode()
    path = folder / "key.json"

    @fuzz(150)
    @given(raw=mutated(seed) | st.binary(max_size=200) | st.sampled_from(
        [b"", b"\xef\xbb\xbf" + seed, seed.decode().encode("utf-16"), b"[" * 2_000, b"\xff\xfe\xfd"]))
    def check(raw: bytes) -> None:
        path.write_bytes(raw)
        _check_vertex(outcome(lambda: VertexOAuthCredentialProvider.from_key_file(path)))

    check()


@pytest.mark.parametrize("make", [
    lambda folder: folder,  # a directory
    lambda folder: folder / "missing.json",
    lambda folder: "/dev/zero",  # endless: the read must stop at the cap
    lambda folder: _write(folder / "huge.json", b" " * (1024 * 1024 + 10) + b"{}"),
    lambda folder: str(folder / "nul\x00.json"),
    lambda folder: str(folder) + "/\ud800.json",
], ids=["directory", "missing", "dev-zero", "huge", "nul-in-path", "surrogate-in-path"])
def test_unusable_key_file_paths_raise_configuration_error(
    tmp_path: pathlib.Path, make: Callable[[pathlib.Path], Any]
) -> None:
    target = make(tmp_path)
    if target == "/dev/zero" and not os.path.exists(target):
        pytest.skip("no /dev/zero here")
    result = outcome(lambda: VertexOAuthCredentialProvider.from_key_file(target), limit=5)
    assert isinstance(result, ConfigurationError)


def _write(path: pathlib.Path, data: bytes) -> pathlib.Path:
    path.write_bytes(data)
    return path


# -- web identity token files ----------------------------------------------------------------------------

token_bytes = (
    st.binary(max_size=200)
    | st.text(max_size=60).map(str.encode)
    | st.sampled_from([
        b"", b"\n", b" \t\r\n", b"\xff\xfe", b"\xef\xbb\xbfeyJ.a.b", b"eyJ.a.b\x00", b"ey J.a.b", b"eyJ\x1b.a.b",
        b"a" * 20_001, b"a" * (64 * 1024 + 1), b"\xed\xa0\x80", "тóкен".encode(),
    ])
)


def test_token_file_contents_read_or_raise_source_error(
    idp: FakeIdentityServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("token") / "token"
    path.write_bytes(b"placeholder")
    provider = WebIdentityCredentialProvider(
        "arn:aws:iam::123456789012:role/fuzz", path, sts_endpoint=idp.url, sleep=FakeSleep(),
        background_refresh=False,
    )

    @fuzz(300)
    @given(raw=token_bytes)
    def check(raw: bytes) -> None:
        path.write_bytes(raw)
        result = outcome(lambda: read_token_file(
            str(path), provider="aws.web_identity", what="web identity token file", max_length=20_000
        ))
        if isinstance(result, LiterAuthError):
            assert isinstance(result, CredentialSourceError)
            assert str(path) in str(result)
        else:
            assert result.expose_secret() == raw.decode("utf-8").strip()

    try:
        check()
    finally:
        provider.close()


def test_token_files_through_a_real_fetch(idp: FakeIdentityServer, tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("token-fetch") / "token"
    valid = idp.sts.issue_web_identity_token().encode()
    provider = idp.sts_provider(web_identity_token_file=str(path), sleep=FakeSleep(), background_refresh=False)

    @fuzz(60, deadline_ms=5000)
    @given(raw=token_bytes | mutated(valid) | st.just(valid + b"\n"))
    def check(raw: bytes) -> None:
        path.write_bytes(raw)
        provider.invalidate()
        result = outcome(provider.resolve)
        assert isinstance(result, (AwsCredentials, LiterAuthError))
        if raw.strip() == valid:
            assert isinstance(result, AwsCredentials)

    try:
        check()
    finally:
        provider.close()
        idp.reset()


@pytest.mark.parametrize("name", ["directory", "missing", "dev-zero", "nul-in-path", "surrogate-in-path"])
def test_unusable_token_file_paths_raise_source_error(
    idp: FakeIdentityServer, tmp_path: pathlib.Path, name: str
) -> None:
    target = {
        "directory": str(tmp_path), "missing": str(tmp_path / "missing"), "dev-zero": "/dev/zero",
        "nul-in-path": str(tmp_path / "a\x00b"), "surrogate-in-path": str(tmp_path / "\ud800"),
    }[name]
    if target == "/dev/zero" and not os.path.exists(target):
        pytest.skip("no /dev/zero here")

    def build_and_fetch() -> Credential:
        with WebIdentityCredentialProvider(
            "arn:aws:iam::123456789012:role/fuzz", target, sts_endpoint=idp.url, sleep=FakeSleep(),
            background_refresh=False,
        ) as provider:
            return provider.resolve()

    before = idp.sts.request_count
    result = outcome(build_and_fetch, limit=5)
    # A path that can never be opened is refused at construction; one unreadable now, at fetch time.
    expected = ConfigurationError if name.endswith("-in-path") else CredentialSourceError
    assert isinstance(result, expected)
    assert idp.sts.request_count == before  # refused before anything was sent


# -- environment values ------------------------------------------------------------------------------------

SAMPLE_VALUES = (
    "", " ", "\n", "common", "contoso.onmicrosoft.com", "https://login.microsoftonline.com", "login.microsoftonline.us",
    "http://example.com", "https://[::1", "https://h:99999", "https://u:p@h", "api://x/.default", "/.default",
    "arn:aws:iam::123456789012:role/x", "arn:aws-cn:iam::123456789012:role/x", "arn:aws-xx:iam::123456789012:role/x",
    "us-east-1", "cn-north-1", "us-gov-west-1", "eu-isoe-west-1", "/dev/null", "/", "a\x00b", "\udcff",
)


@st.composite
def environments(draw: st.DrawFn, names: tuple[str, ...], valid: Mapping[str, str]) -> dict[str, str]:
    """Each variable absent, valid, a sample of trouble, random text, or its valid value mutated."""
    env: dict[str, str] = {}
    for name in names:
        choice = draw(st.sampled_from(["absent", "valid", "valid", "sample", "wild", "mutate"]))
        base = valid.get(name)
        if choice == "valid" and base is not None:
            env[name] = base
        elif choice == "sample":
            env[name] = draw(st.sampled_from(SAMPLE_VALUES))
        elif choice == "wild":
            env[name] = draw(wild_text)
        elif choice == "mutate" and base is not None:
            env[name] = draw(mutated_text(base))
    return env


def _maybe_fetch(provider: object, server: FakeIdentityServer) -> None:
    """Resolve once if the provider talks to the fake server (never to another host)."""
    url = (getattr(provider, "token_url", None) or getattr(provider, "endpoint", None)
           or getattr(provider, "token_uri", None))
    if isinstance(provider, StaticTokenProvider):
        assert isinstance(provider.resolve(), BearerToken)
    elif isinstance(url, str) and (url == server.url or url.startswith(server.url + "/")):
        result = outcome(provider.resolve)  # type: ignore[attr-defined]
        assert isinstance(result, (Credential, LiterAuthError))


@pytest.mark.parametrize("names,build", [
    (spec.required_env + spec.optional_env, spec.from_env) for spec in SPECS if spec.fake is not None
], ids=FAKED)
def test_environment_values_build_a_provider_or_raise_configuration_error(
    idp: FakeIdentityServer, idp_env: dict[str, str], names: tuple[str, ...], build: Callable[..., Any]
) -> None:
    options = {"sleep": FakeSleep(), "background_refresh": False, "retry": RetryPolicy(max_attempts=1),
               "timeout": (2.0, 2.0)}

    @fuzz(150, deadline_ms=5000)
    @given(env=environments(names, idp_env))
    def check(env: dict[str, str]) -> None:
        result = outcome(lambda: build(env, **options))
        if isinstance(result, LiterAuthError):
            assert isinstance(result, ConfigurationError)
            return
        try:
            _maybe_fetch(result, idp)
        finally:
            close(result)

    try:
        check()
    finally:
        idp.reset()


# -- [[models]] TOML -----------------------------------------------------------------------------------------

MODEL_FIELDS = ("name", "provider_model", "api_key", "base_url", "timeout_secs", "fallbacks")
interpolations = st.sampled_from(
    ["${KEY}", "${KEY:-fallback}", "${UNSET}", "${UNSET:-}", "${", "$${", "${1BAD}", "${KEY", "}", "${EMPTY}"]
)
toml_strings = st.lists(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=12) | interpolations
    | st.sampled_from(["azure/gpt-4o", "bedrock/claude", "vertex_ai/gemini", "openai/gpt", "https://x.test",
                       "http://127.0.0.1:1", "gpt-4o", "a"]),
    max_size=3,
).map("".join)
toml_scalars = (
    toml_strings | st.integers() | st.integers(2**63, 10**400) | st.floats() | st.booleans()
    | st.datetimes(min_value=datetime(1, 1, 1), timezones=st.none() | st.just(UTC))
    | st.dates() | st.times()
)
toml_values = st.recursive(
    toml_scalars,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.sampled_from(["a", "b", "name"]), kids, max_size=2),
    max_leaves=6,
)


def _toml_string(value: str) -> str:
    out = []
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 32 or ord(char) == 127:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    return key if key and all(c in string.ascii_letters + string.digits + "_-" for c in key) else _toml_string(key)


def toml_value(value: Any) -> str:
    """A value as TOML (a small writer: tomllib reads, the standard library cannot write)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (datetime, date, clock_time)):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{_toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


model_entries = st.dictionaries(
    st.sampled_from(MODEL_FIELDS + ("model", "api_base", "x")) | st.text(max_size=6),
    toml_values,
    max_size=6,
) | st.fixed_dictionaries(
    {"name": toml_strings, "provider_model": toml_strings},
    optional={"api_key": toml_strings, "base_url": toml_strings, "timeout_secs": toml_scalars,
              "fallbacks": st.lists(toml_strings, max_size=2)},
)


@st.composite
def toml_documents(draw: st.DrawFn) -> str:
    entries = draw(st.lists(model_entries, max_size=4))
    layout = draw(st.sampled_from(["tables", "tables", "inline", "scalar", "other-name"]))
    if layout == "inline":
        return "models = " + toml_value(entries) + "\n"
    if layout == "scalar":
        return "models = " + toml_value(draw(toml_scalars)) + "\n"
    name = "models" if layout == "tables" else "model"
    blocks = [f"[[{name}]]\n" + "".join(f"{_toml_key(k)} = {toml_value(v)}\n" for k, v in entry.items())
              for entry in entries]
    return "title = 'fuzz'\n" + "\n".join(blocks)


def _check_table(result: object, text: str | None = None) -> None:
    if isinstance(result, LiterAuthError):
        assert isinstance(result, ConfigurationError)
        return
    assert isinstance(result, ModelTable)
    try:
        for name, entry in result.items():
            assert entry.name == name and entry.credential_provider is not None
        if text is not None:
            assert len(result) == text.count("[[models]]") or not text.count("[[models]]")
    finally:
        result.close()


def _config_environ(idp_env: Mapping[str, str]) -> st.SearchStrategy[dict[str, str]]:
    base = {"KEY": "sk-fuzz-0123456789", "EMPTY": ""}  # metadata refused: the azure/ chain may probe it
    return st.sampled_from([dict(METADATA_OVERRIDES), dict(idp_env)]).map(lambda env: {**env, **base})


def test_generated_model_configurations_load_or_raise(idp_env: dict[str, str]) -> None:
    @fuzz(200, deadline_ms=5000)
    @given(text=toml_documents(), environ=_config_environ(idp_env))
    def check(text: str, environ: dict[str, str]) -> None:
        _check_table(outcome(lambda: loads_models(text, environ=environ)), text)

    check()


SEED_CONFIG = """\
[[models]]
name = "gpt-4o"
provider_model = "azure/gpt-4o"
base_url = "https://example.openai.azure.com"
timeout_secs = 30
fallbacks = ["claude"]

[[models]]
name = "claude"
provider_model = "bedrock/anthropic.claude-3"
api_key = "${KEY:-none}"

[[models]]
name = "gemini"
provider_model = "vertex_ai/gemini-1.5-pro"
"""


def test_mutated_model_configurations_load_or_raise(idp_env: dict[str, str]) -> None:
    @fuzz(200, deadline_ms=5000)
    @given(text=mutated_text(SEED_CONFIG) | wild_text.map(lambda t: t + "\n"), environ=_config_environ(idp_env))
    def check(text: str, environ: dict[str, str]) -> None:
        _check_table(outcome(lambda: loads_models(text, environ=environ)))

    check()


def test_model_configuration_files_load_or_raise(
    idp_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("config") / "models.toml"

    @fuzz(100, deadline_ms=5000)
    @given(raw=mutated(SEED_CONFIG.encode()) | st.binary(max_size=100)
           | st.sampled_from([b"", b"\xef\xbb\xbf" + SEED_CONFIG.encode(), SEED_CONFIG.encode("utf-16")]))
    def check(raw: bytes) -> None:
        path.write_bytes(raw)
        _check_table(outcome(lambda: load_models(path, environ=idp_env)))

    check()


@pytest.mark.parametrize("text", [
    "a = " + "[" * 5_000 + "]" * 5_000 + "\n",
    "a = " + "{b = " * 3_000 + "1" + "}" * 3_000 + "\n",
    "[[models]]\nname = 'a'\nprovider_model = 'x/y'\napi_key = 'k'\ntimeout_secs = 1" + "0" * 400 + "\n",
    "[[models]]\nname = 'a'\nprovider_model = 'x/y'\napi_key = 'k'\ntimeout_secs = 1e308\n",
    "[[models]]\nname = '" + "x" * 100_000 + "'\nprovider_model = 'x/y'\napi_key = 'k'\n",
    "[[models]]\nname = 'a'\nprovider_model = 'x/y'\napi_key = '" + "${A}" * 10_000 + "'\n",
], ids=["deep-array", "deep-table", "huge-int", "huge-float", "long-name", "many-references"])
def test_pathological_model_configurations(text: str) -> None:
    _check_table(outcome(lambda: loads_models(text, environ={"A": "x"})))


@pytest.mark.parametrize("target", ["/dev/zero", "nul\x00.toml", "\ud800.toml", "missing.toml"])
def test_unusable_model_configuration_paths_raise_configuration_error(target: str) -> None:
    if target == "/dev/zero" and not os.path.exists(target):
        pytest.skip("no /dev/zero here")
    for given_target in (target, pathlib.Path(target)):
        result = outcome(lambda given_target=given_target: load_models(given_target, environ={}), limit=5)
        assert isinstance(result, ConfigurationError)


# -- AWS error answers (SigV4's retry decision) and the CLI's view of a configuration --------------


def _api_answer(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> Any:
    import requests

    answer = requests.Response()
    answer.status_code = status
    answer._content = body
    answer.headers.update(headers or {})
    return answer


@fuzz(300)
@given(
    body=st.binary(max_size=200) | json_values.map(lambda v: _encode_json(v, "utf-8"))
    | mutated(b'{"__type": "com.amazon.coral.service#ExpiredTokenException", "message": "expired"}')
    | mutated(b"<ErrorResponse><Error><Code>ExpiredToken</Code></Error></ErrorResponse>"),
    error_type=st.none() | header_text,
)
def test_aws_error_codes_are_read_or_none(body: bytes, error_type: str | None) -> None:
    from literauth.integrations.requests import aws_error_code

    headers = {} if error_type is None else {"x-amzn-ErrorType": error_type}
    code = outcome(lambda: aws_error_code(_api_answer(403, body, headers)))
    assert code is None or isinstance(code, str)


def test_a_deeply_nested_aws_error_body_is_no_code() -> None:
    from literauth.integrations.requests import aws_error_code

    assert outcome(lambda: aws_error_code(_api_answer(403, b'{"a":' * 5_000 + b"1" + b"}" * 5_000))) is None


def test_check_reports_a_deeply_nested_configuration_as_invalid(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from literauth import cli

    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 5_000 + "]" * 5_000 + "\n")
    status = outcome(lambda: cli.main(["check", str(path)]))
    captured = capsys.readouterr()
    assert status == 1 and "unexpected" not in captured.err
    assert "invalid TOML" in captured.out + captured.err
