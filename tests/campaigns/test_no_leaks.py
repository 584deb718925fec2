"""Secrets never leak: distinctive secrets driven through every success and error path.

Client secrets, web identity tokens, a private key, access tokens, AWS keys, static tokens
and API keys go through the three providers, `from_env()`, `load_models()`, the `requests`
auths, `Client` and the CLI, with the `literauth` logger at DEBUG and `requests`/`urllib3`
logging on. Everything a person, a log or a crash report could see is collected: log
records, every exception's `str`, `repr`, attributes and formatted traceback (each link of
its `__cause__`/`__context__` chain too, suppressed or not), the `repr` and `str` of public
objects, anything written to stderr, and the CLI's stderr. None may hold a secret, nor any
16-character piece of one. Pickling anything that holds a secret is a clear `TypeError`.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import pathlib
import pickle
import socket
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from literauth import (
    AwsCredentials,
    AzureAdCredentialProvider,
    BearerToken,
    ConfigurationError,
    CredentialSourceError,
    LiterAuthError,
    MalformedResponseError,
    ModelConfigError,
    SecretString,
    StaticTokenProvider,
    TokenEndpointError,
    TransportError,
    VertexOAuthCredentialProvider,
    WebIdentityCredentialProvider,
    load_models,
    loads_models,
)
from literauth._http import MAX_BODY, TokenResponse, mask_secrets
from literauth._registry import SPECS
from literauth.aws._sts import parse_sts_error
from literauth.client import Client, ClientConfig
from literauth.integrations.requests import BearerAuth, bearer_token_callable
from literauth.sigv4 import SigV4Auth
from literauth.testing import FakeIdentityServer, Fault, Reply

from .._api_server import Answer, ApiServer, aws_error
from ..conftest import FakeClock, FakeSleep, secret_fragments

# Secrets the tests choose (the fakes generate the tokens, keys and assertions they issue).
CLIENT_SECRET = "Zq8~LeakCheck.Azure-Client-Secret_5f1c2a7e9b3d"
WRONG_SECRET = "Wr8~LeakCheck.Wrong-Client-Secret_0a9b8c7d6e5f"
STATIC_TOKEN = "eyJleak.check-static-azure-ad-token.8d2e6b4f1a9c"
API_KEY = "sk-leakcheck-config-api-key-3b7d1f9e5c2a4b6d"
HEADER_KEY = "hk-leakcheck-client-header-value-7e1d2c3b4a59"
REFRESH_TOKEN = "1//leakcheck-user-refresh-token-9a8b7c6d5e4f"
BODY_TOKEN = "ya29.leakcheck-token-in-a-bad-answer-6a5b4c3d"  # sent in answers that are refused

CHOSEN = {
    "client secret": CLIENT_SECRET, "wrong client secret": WRONG_SECRET, "static token": STATIC_TOKEN,
    "api key": API_KEY, "header value": HEADER_KEY, "refresh token": REFRESH_TOKEN,
    "token in a refused answer": BODY_TOKEN,
}
FAKED = [spec for spec in SPECS if spec.fake is not None]
CLEARED = ("AZURE_", "AWS_", "GOOGLE_", "VERTEX_", "LITERAUTH_", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


# -- collecting what could be seen, and searching it ----------------------------------------------


def chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and every exception linked from it as cause or context, suppressed ones included."""
    pending: list[BaseException | None] = [exc]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [current.__cause__, current.__context__]


class Evidence:
    """Texts a person, a log or an error reporter could see, each with where it came from."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self.errors: list[BaseException] = []

    def text(self, where: str, text: str) -> None:
        self.items.append((where, text))

    def objects(self, where: str, *objects: object) -> None:
        """`repr`, `str` and default formatting of each object."""
        for index, thing in enumerate(objects):
            label = f"{where}[{index}] {type(thing).__name__}"
            self.text(f"repr of {label}", repr(thing))
            self.text(f"str of {label}", str(thing))
            self.text(f"format of {label}", f"{thing}")

    def exception(self, where: str, exc: BaseException) -> None:
        """The formatted traceback, and `str`, `repr`, args and attributes of each chained exception."""
        self.errors.append(exc)
        self.text(f"traceback of {where}", "".join(traceback.format_exception(exc)))
        for link in chain(exc):
            label = f"{where}: {type(link).__name__}"
            self.text(f"traceback of {label}", "".join(traceback.format_exception(link)))
            self.text(f"str of {label}", str(link))
            self.text(f"repr of {label}", repr(link))
            self.text(f"args of {label}", repr(link.args))
            if isinstance(link, LiterAuthError):
                self.text(f"attributes of {label}", repr(vars(link)))

    def expect(self, where: str, kind: type[BaseException], call: Callable[[], object]) -> BaseException:
        """Run `call`, which must raise `kind`; record the exception."""
        with pytest.raises(kind) as info:
            call()
        self.exception(where, info.value)
        return info.value

    def logs(self, caplog: pytest.LogCaptureFixture) -> None:
        self.text("captured log text", caplog.text)
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        for record in caplog.records:
            self.text(f"log record from {record.name}", formatter.format(record))

    def assert_clean(self, secrets: Mapping[str, str]) -> None:
        """No text holds any secret, or any 16-character piece of one; names the first found."""
        owners: dict[str, str] = {}
        for name, secret in secrets.items():
            assert len(secret) >= 16, f"{name} is too short to search for"
            for piece in secret_fragments(secret):
                owners.setdefault(piece, name)
        for where, text in self.items:
            for start in range(max(0, len(text) - 15)):
                owner = owners.get(text[start : start + 16])
                assert owner is None, f"{owner} leaked into {where}"


def pem_pieces(pem: str) -> dict[str, str]:
    """The secret lines of a PEM key (its base64 body), each as a secret to search for."""
    lines = [line for line in pem.splitlines() if line and "PRIVATE KEY" not in line]
    pieces = {f"private key line {i}": line for i, line in enumerate(lines) if len(line) >= 16}
    pieces["private key body"] = "".join(lines)
    return pieces


def aws_secrets(issued: Iterable[Any]) -> dict[str, str]:
    found = {}
    for index, item in enumerate(issued):
        found[f"access key id {index}"] = item.access_key_id.expose_secret()
        found[f"secret access key {index}"] = item.secret_access_key.expose_secret()
        found[f"session token {index}"] = item.session_token.expose_secret()
    return found


def closed_port() -> int:
    """A loopback port nothing listens on (connection refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def evidence(debug_logs: pytest.LogCaptureFixture) -> Evidence:
    """An Evidence, with literauth, requests and urllib3 logging at DEBUG for the test."""
    return Evidence()


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: Any, fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8) -> str:
    return key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()


# -- the checker itself ------------------------------------------------------------------------------


def test_the_search_finds_a_sixteen_character_piece() -> None:
    evidence = Evidence()
    evidence.text("innocent", "nothing to see")
    evidence.assert_clean({"client secret": CLIENT_SECRET})
    evidence.text("a log line", f"prefix {CLIENT_SECRET[7:23]} suffix")  # 16 characters from the middle
    with pytest.raises(AssertionError, match="client secret leaked into a log line"):
        evidence.assert_clean({"client secret": CLIENT_SECRET})
    shorter = Evidence()
    shorter.text("a log line", CLIENT_SECRET[7:22])  # 15 characters are not a leak
    shorter.assert_clean({"client secret": CLIENT_SECRET})


# -- values and pickling -----------------------------------------------------------------------------


def test_secret_values_never_show_themselves(evidence: Evidence, debug_logs: pytest.LogCaptureFixture) -> None:
    secret = SecretString(CLIENT_SECRET)
    token = BearerToken(SecretString(STATIC_TOKEN))
    keys = AwsCredentials(SecretString(API_KEY), SecretString(HEADER_KEY), SecretString(REFRESH_TOKEN))
    evidence.objects("values", secret, token, keys, copy.copy(secret), copy.deepcopy(secret))
    evidence.text("%-formatting", "%s %r %s %r" % (secret, secret, token, keys))  # noqa: UP031
    evidence.text("ascii", ascii(secret) + ascii(keys))
    evidence.text("f-string with a spec", f"{secret:>80}|{secret!r}|{secret!s}")
    evidence.exception("json.dumps", pytest.raises(TypeError, json.dumps, secret).value)
    evidence.exception("hash", pytest.raises(TypeError, hash, secret).value)
    evidence.exception("setattr", pytest.raises(AttributeError, setattr, secret, "_value", "x").value)
    logging.getLogger("literauth.test").debug("values %s %r %s", secret, token, keys)
    assert secret.expose_secret() == CLIENT_SECRET  # the one way out
    evidence.logs(debug_logs)
    assert "values **********" in debug_logs.text
    evidence.assert_clean(CHOSEN)


def _resolved(provider: AzureAdCredentialProvider) -> AzureAdCredentialProvider:
    provider.resolve()
    return provider


def _holders(server: FakeIdentityServer) -> dict[str, Callable[[], object]]:
    """Builders of every public object that holds a secret."""
    azure = lambda: server.azure_provider(sleep=FakeSleep())
    sts = lambda: server.sts_provider(sleep=FakeSleep())
    table = lambda: loads_models(
        '[[models]]\nname = "m"\nprovider_model = "openai/gpt"\napi_key = "' + API_KEY + '"\n'
    )
    return {
        "SecretString": lambda: SecretString(CLIENT_SECRET),
        "BearerToken": lambda: BearerToken(SecretString(STATIC_TOKEN)),
        "AwsCredentials": lambda: AwsCredentials(SecretString(API_KEY), SecretString(HEADER_KEY)),
        "StaticTokenProvider": lambda: StaticTokenProvider(STATIC_TOKEN),
        **{spec.class_name: (lambda name=spec.name: server.provider(name, sleep=FakeSleep())) for spec in FAKED},
        "a resolved provider": lambda: _resolved(azure()),
        "ModelTable": table,
        "ModelEntry": lambda: table()["m"],
        "BearerAuth": lambda: BearerAuth(azure()),
        "SigV4Auth": lambda: SigV4Auth(sts(), region="us-east-1"),
        "ClientConfig": lambda: ClientConfig("https://api.example", azure(), headers={"X-Key": HEADER_KEY}),
        "Client": lambda: Client(ClientConfig("https://api.example", azure())),
        "a list of credentials": lambda: [BearerToken(SecretString(STATIC_TOKEN))],
    }


HOLDERS = [
    "SecretString", "BearerToken", "AwsCredentials", "StaticTokenProvider",
    *(spec.class_name for spec in FAKED),  # every registered provider with a fake
    "a resolved provider", "ModelTable", "ModelEntry", "BearerAuth", "SigV4Auth", "ClientConfig", "Client",
    "a list of credentials",
]


@pytest.mark.parametrize("name", HOLDERS)
def test_objects_holding_secrets_refuse_pickling(server: FakeIdentityServer, name: str) -> None:
    builders = _holders(server)
    assert sorted(builders) == sorted(HOLDERS)
    holder = builders[name]()
    try:
        for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
            with pytest.raises(TypeError, match=r"(holds secrets|hold secrets|secrets are not written out)") as info:
                pickle.dumps(holder, protocol)
            assert "cannot be pickled" in str(info.value)
            assert CLIENT_SECRET not in str(info.value) and API_KEY not in str(info.value)
    finally:
        for thing in holder if isinstance(holder, list) else [holder]:
            closer = getattr(thing, "close", None)
            if callable(closer):
                closer()


# -- Azure AD -----------------------------------------------------------------------------------------


def test_azure_paths_leak_nothing(
    server: FakeIdentityServer, evidence: Evidence, debug_logs: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    client_id, _ = server.azure.add_client(client_secret=CLIENT_SECRET)
    clock = FakeClock(server.clock())
    options: dict[str, Any] = {"sleep": FakeSleep(), "background_refresh": False, "clock": clock, "cache": False}
    issued: dict[str, str] = {}

    def build(**extra: Any) -> AzureAdCredentialProvider:
        merged = {"client_id": client_id, "client_secret": CLIENT_SECRET, **options, **extra}
        return server.azure_provider(**merged)  # type: ignore[no-any-return]

    # success: first fetch, inline refresh in the window, forced refresh, another scope
    provider = build()
    first = provider.resolve()
    evidence.objects("after the first fetch", provider, first, first.token, provider.stats())
    clock.advance(3600 - 200)
    assert provider.resolve() is first  # served while the refresh runs (inline here)
    second = provider.resolve()
    third = provider.resolve(force_refresh=True)
    other = provider.with_scope("https://management.azure.com/.default")
    fourth = other.resolve()
    for index, token in enumerate((first, second, third, fourth)):
        assert isinstance(token, BearerToken)
        issued[f"azure access token {index}"] = token.token.expose_secret()
    assert len(set(issued.values())) == 4  # four fetches really happened
    evidence.objects("after refreshes", provider, other, provider.stats(), server.azure.requests)

    # a background refresh that fails while the cached token is still served
    server.azure.outage(503, times=3)
    clock.advance(3600 - 200)
    assert provider.resolve() is third  # still the cached token
    assert "background refresh failed" in debug_logs.text
    provider.close()
    other.close()

    # the same on a real background thread: what it logs is captured too
    with build(background_refresh=True) as background:
        cached = background.resolve()
        server.azure.outage(503, times=3)
        clock.advance(3600 - 200)
        assert background.resolve() is cached
        for thread in threading.enumerate():
            if thread.name.startswith("literauth-refresh-"):
                thread.join(timeout=10)
        assert background.stats().failures == 1
        issued["azure access token from the background provider"] = cached.token.expose_secret()  # type: ignore[attr-defined]

    # the endpoint refuses or misbehaves: a new provider each time, so no cache hides the error
    redirect = {"Location": f"https://evil.example/steal?secret={CLIENT_SECRET}"}
    faults: list[tuple[str, Callable[[], None], type[LiterAuthError], dict[str, Any]]] = [
        ("wrong secret", lambda: None, TokenEndpointError, {"client_secret": WRONG_SECRET}),
        ("throttled", lambda: server.azure.throttle(1, times=3), TokenEndpointError, {}),
        ("outage", lambda: server.azure.outage(503, times=3), TokenEndpointError, {}),
        ("html", lambda: server.azure.fail(200, "<html><body>sign in</body></html>"), MalformedResponseError, {}),
        ("empty", lambda: server.azure.fail(200, ""), MalformedResponseError, {}),
        ("no expires_in", lambda: server.azure.fail(200, json.dumps({"access_token": BODY_TOKEN})),
         MalformedResponseError, {}),
        ("mac token", lambda: server.azure.fail(200, json.dumps(
            {"access_token": BODY_TOKEN, "token_type": "mac", "expires_in": 3600})), MalformedResponseError, {}),
        ("expired at once", lambda: server.azure.fail(200, json.dumps(
            {"access_token": BODY_TOKEN, "token_type": "Bearer", "expires_in": -5})), MalformedResponseError, {}),
        ("truncated", lambda: server.azure.enqueue(*[Fault(200, json.dumps(
            {"access_token": BODY_TOKEN, "expires_in": 3600}), truncate=True)] * 3), TransportError, {}),
        ("reset", lambda: server.azure.enqueue(*[Fault(200, BODY_TOKEN * 4, reset=True)] * 3), TransportError, {}),
        ("redirect", lambda: server.azure.fail(302, "", headers=redirect), TokenEndpointError, {}),
        ("too big", lambda: server.azure.enqueue(Fault(200, b"x" * (MAX_BODY + 10))), MalformedResponseError, {}),
        ("hang", lambda: server.azure.enqueue(*[Fault(200, hang=2.0)] * 3), TransportError, {"timeout": (2.0, 0.2)}),
    ]
    for name, setup, kind, extra in faults:
        setup()
        with build(**extra) as failing:
            evidence.expect(name, kind, failing.resolve)
            evidence.expect(f"{name}, again while cooling down", kind, failing.resolve)
            evidence.objects(name, failing, failing.stats())
        server.azure.clear_faults()

    # a server that echoes the secret back in every field of its error
    def echo(request: Any, form: Mapping[str, str]) -> Reply:
        sent = form.get("client_secret", "")
        body = {field: f"got {sent} here" for field in ("error", "error_description", "correlation_id", "trace_id")}
        return Reply(401, json.dumps(dict(body, error_codes=[7000215])).encode(), {"x-ms-request-id": sent})

    monkeypatch.setattr(server.azure, "respond", echo)
    with build() as echoed:
        error = evidence.expect("echoing server", TokenEndpointError, echoed.resolve)
    assert isinstance(error, TokenEndpointError) and error.error_code == "AADSTS7000215"
    monkeypatch.undo()

    with build(authority_host=f"http://127.0.0.1:{closed_port()}") as unreachable:
        evidence.expect("unreachable", TransportError, unreachable.resolve)
    server.azure.expire_secret(CLIENT_SECRET)
    with build() as expired:
        evidence.expect("expired secret", TokenEndpointError, expired.resolve)

    # from_env and bad configuration
    base = {"AZURE_TENANT_ID": server.azure.tenant_id, "AZURE_CLIENT_ID": client_id,
            "AZURE_CLIENT_SECRET": CLIENT_SECRET, "AZURE_AUTHORITY_HOST": server.url}
    static = AzureAdCredentialProvider.from_env({"AZURE_AD_TOKEN": f" {STATIC_TOKEN}\n"})
    evidence.objects("from_env with AZURE_AD_TOKEN", static, static.resolve())
    for name, env in {
        "missing client id": {k: v for k, v in base.items() if k != "AZURE_CLIENT_ID"},
        "bad tenant": dict(base, AZURE_TENANT_ID="not a tenant"),
        "user info in authority": dict(base, AZURE_AUTHORITY_HOST=f"https://user:{CLIENT_SECRET}@login.example"),
        "query in authority": dict(base, AZURE_AUTHORITY_HOST=f"https://login.example/?code={CLIENT_SECRET}"),
        "empty static token": dict(base, AZURE_AD_TOKEN=" "),
    }.items():
        evidence.expect(name, ConfigurationError, lambda env=env: AzureAdCredentialProvider.from_env(env))

    evidence.logs(debug_logs)
    evidence.text("stderr", capfd.readouterr().err)
    assert "literauth.http" in debug_logs.text and "urllib3" in debug_logs.text  # the loggers really ran
    assert len(evidence.errors) == 2 * len(faults) + 3 + 5  # faults twice, echo, unreachable, expired, env
    evidence.assert_clean({**CHOSEN, **issued})


# -- AWS STS web identity, SigV4 ---------------------------------------------------------------------------


def test_sts_paths_leak_nothing(
    server: FakeIdentityServer, evidence: Evidence, debug_logs: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path,
) -> None:
    token_file = pathlib.Path(server.sts.write_web_identity_token(tmp_path / "token"))
    web_token = token_file.read_text().strip()
    clock = FakeClock(server.clock())
    options: dict[str, Any] = {"sleep": FakeSleep(), "background_refresh": False, "clock": clock, "cache": False}

    def build(**extra: Any) -> WebIdentityCredentialProvider:
        return server.sts_provider(**{"web_identity_token_file": str(token_file), **options, **extra})  # type: ignore[no-any-return]

    # success: fetch, refresh in the window, forced refresh; then sign requests with the keys
    provider = build()
    first = provider.resolve()
    clock.advance(3600 - 200)
    assert provider.resolve() is first
    provider.resolve(force_refresh=True)
    evidence.objects("after fetches", provider, first, provider.stats(), server.sts.requests,
                     server.sts.issued_credentials)
    with ApiServer() as api:
        config = ClientConfig(api.url, provider, aws_region="us-east-1", aws_service="bedrock",
                              headers={"X-Api-Key": HEADER_KEY})
        with Client(config) as client:
            api.script(aws_error(403, "ExpiredTokenException", "The security token included in the request is expired"))
            answer = client.post("/model/m/invoke", json={"prompt": "hi"})
            assert answer.status_code == 200 and len(api.seen) == 2  # rejected once, re-signed, accepted
            evidence.objects("client", client, config, client.auth, answer, answer.request)
    provider.close()

    # STS refuses, or answers badly: a new provider each time
    def write(content: bytes) -> None:
        token_file.write_bytes(content)

    valid = web_token.encode()
    faults: list[tuple[str, Callable[[], None], type[LiterAuthError]]] = [
        ("access denied", lambda: setattr(server.sts, "allowed_roles", set()), TokenEndpointError),
        ("throttled", lambda: server.sts.fail_with("Throttling", times=3), TokenEndpointError),
        ("internal failure", lambda: server.sts.fail_with("InternalFailure", times=3), TokenEndpointError),
        ("dtd", lambda: server.sts.fail(200, '<!DOCTYPE r [<!ENTITY e "x">]><r>&e;</r>'), MalformedResponseError),
        ("html", lambda: server.sts.fail(200, "<html><body>oops</body></html>"), MalformedResponseError),
        ("empty", lambda: server.sts.fail(200, ""), MalformedResponseError),
        ("truncated", lambda: server.sts.enqueue(*[Fault(200, BODY_TOKEN * 3, truncate=True)] * 3), TransportError),
        ("redirect", lambda: server.sts.fail(307, "", headers={"Location": f"https://evil.example/?t={web_token}"}),
         TokenEndpointError),
        ("signing key rotated", server.sts.rotate_signing_key, TokenEndpointError),
        ("expired token", lambda: server.sts.write_web_identity_token(token_file, lifetime=-60), TokenEndpointError),
        ("missing file", token_file.unlink, CredentialSourceError),
        ("empty file", lambda: write(b"\n"), CredentialSourceError),
        ("not UTF-8", lambda: write(valid + b"\xff\xfe"), CredentialSourceError),
        ("two tokens", lambda: write(valid + b" " + valid), CredentialSourceError),
        ("a control character", lambda: write(valid[:40] + b"\x1b" + valid[40:]), CredentialSourceError),
        ("too long for STS", lambda: write(valid * (20_001 // len(valid) + 1)), CredentialSourceError),
        ("too large a file", lambda: write(valid * (65_537 // len(valid) + 1)), CredentialSourceError),
    ]
    for name, setup, kind in faults:
        write(valid)
        server.sts.allowed_roles = None
        setup()
        with build() as failing:
            evidence.expect(name, kind, failing.resolve)
            evidence.expect(f"{name}, again while cooling down", kind, failing.resolve)
            evidence.objects(name, failing, failing.stats())
        server.sts.clear_faults()
    web_tokens = {"web identity token": web_token}
    web_tokens.update({f"web identity token {i}": r.form["WebIdentityToken"].expose_secret()  # type: ignore[union-attr]
                       for i, r in enumerate(server.sts.requests) if "WebIdentityToken" in r.form})

    # a server (or proxy) echoing the token in every field of its error
    write(valid)

    def echo(request: Any, form: Mapping[str, str]) -> Reply:
        sent = form.get("WebIdentityToken", "")
        body = (f'<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
                f"<Code>{sent}</Code><Message>token {sent} rejected</Message></Error>"
                f"<RequestId>{sent}</RequestId></ErrorResponse>")
        return Reply(400, body.encode(), {"x-amzn-RequestId": sent}, content_type="text/xml")

    monkeypatch.setattr(server.sts, "respond", echo)
    with build() as echoed:
        evidence.expect("echoing server", TokenEndpointError, echoed.resolve)
    monkeypatch.undo()
    info = mask_secrets(
        parse_sts_error(
            TokenResponse(400, {"x-amzn-RequestId": web_token},
                          f"<Error><Code>{web_token[:60]}</Code></Error>".encode(), 0.0, 0.0),
        ),
        [SecretString(web_token)],
    )
    evidence.objects("parsed echo", info)
    with build(sts_endpoint=f"http://127.0.0.1:{closed_port()}") as unreachable:
        evidence.expect("unreachable", TransportError, unreachable.resolve)

    # from_env and configuration
    base = {"AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/literauth-test", "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file),
            "AWS_ENDPOINT_URL_STS": server.url}
    evidence.objects("from_env", WebIdentityCredentialProvider.from_env(base))
    for name, env in {
        "no role": {k: v for k, v in base.items() if k != "AWS_ROLE_ARN"},
        "bad region": dict(base, AWS_REGION="moon-1"),
        "user info in endpoint": dict(base, AWS_ENDPOINT_URL_STS=f"https://u:{web_token[:40]}@sts.example"),
        "query in endpoint": dict(base, AWS_ENDPOINT_URL_STS=f"http://sts.example/?t={web_token}"),
    }.items():
        evidence.expect(name, ConfigurationError, lambda env=env: WebIdentityCredentialProvider.from_env(env))

    evidence.logs(debug_logs)
    evidence.text("stderr", capfd.readouterr().err)
    assert len(evidence.errors) == 2 * len(faults) + 6
    issued = aws_secrets(server.sts.issued_credentials)
    assert len(issued) == 3 * 4  # fetch, refresh, forced refresh, and the fetch for the re-signed request
    evidence.assert_clean({**CHOSEN, **web_tokens, **issued})


# -- AWS AssumeRole and credential_process ------------------------------------------------------------


def test_assume_role_and_process_paths_leak_nothing(
    server: FakeIdentityServer, evidence: Evidence, debug_logs: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path,
) -> None:
    from literauth import AssumeRoleProvider, ProcessCredentialsProvider
    from literauth.testing.aws.assume_role import StaticKeysProvider
    from literauth.testing.aws.credential_process import FakeCredentialProcess

    endpoint = server.assume_role
    second = "arn:aws:iam::333333333333:role/leak-check-second-hop"
    endpoint.add_role(second, external_id="leak-check-external-id")
    options: dict[str, Any] = {"sleep": FakeSleep(), "background_refresh": False, "cache": False}

    # success: static source, a web identity source, two hops; then a signed API call
    first = server.provider("aws.assume_role", **options)
    with server.sts_provider(**options) as web, AssumeRoleProvider(
        first, second, external_id="leak-check-external-id", sts_endpoint=server.url, session=server.session(),
        environ={}, **options,
    ) as chained, server.provider("aws.assume_role", source=web, **options) as over_web:
        keys = chained.resolve()
        over_web.resolve()
        chained.resolve(force_refresh=True)
        evidence.objects("after fetches", first, chained, over_web, keys, chained.stats(), endpoint.issued_credentials)
        with ApiServer() as api, Client(ClientConfig(api.url, chained, aws_region="us-east-1", aws_service="bedrock")) as c:
            assert c.post("/model/m/invoke", json={"prompt": "hi"}).status_code == 200
            evidence.objects("client", c, c.auth)
    first.close()

    # STS refuses: a new provider each time
    forged = StaticKeysProvider(AwsCredentials(endpoint.source_keys.access_key_id, SecretString(WRONG_SECRET)))
    faults: list[tuple[str, Callable[[], None], dict[str, Any]]] = [
        ("access denied", lambda: None, {"role_arn": "arn:aws:iam::222222222222:role/not-registered"}),
        ("throttled", lambda: endpoint.fail_with("Throttling", times=3), {}),
        ("expired token", lambda: endpoint.fail_with("ExpiredToken", times=2), {}),
        ("wrong secret", lambda: None, {"source": forged}),
        ("html", lambda: endpoint.fail(200, "<html><body>oops</body></html>"), {}),
        ("redirect", lambda: endpoint.fail(307, "", headers={"Location": "https://evil.example/"}), {}),
    ]
    for name, setup, extra in faults:
        setup()
        with server.provider("aws.assume_role", **options, **extra) as failing:
            evidence.expect(name, LiterAuthError, failing.resolve)
            evidence.expect(f"{name}, again while cooling down", LiterAuthError, failing.resolve)
            evidence.objects(name, failing, failing.stats())
        endpoint.clear_faults()

    # a server (or proxy) echoing what it received: the signature, the key id, the session token
    def echo(request: Any, form: Mapping[str, str]) -> Reply:
        seen = f"{request.header('Authorization')} {request.header('X-Amz-Security-Token')}"
        return endpoint.error_reply("AccessDenied", f"you sent {seen}", request_id=seen[:80])

    monkeypatch.setattr(endpoint, "respond", echo)
    with server.sts_provider(**options) as web, server.provider("aws.assume_role", source=web, **options) as echoed:
        evidence.expect("echoing server", TokenEndpointError, echoed.resolve)
    monkeypatch.undo()
    with server.provider("aws.assume_role", sts_endpoint=f"http://127.0.0.1:{closed_port()}", **options) as p:
        evidence.expect("unreachable", TransportError, p.resolve)

    # credential_process: success, and a helper that prints keys where it should not
    helper = FakeCredentialProcess(tmp_path / "helper")
    with ProcessCredentialsProvider(helper.argv, timeout=5, **options) as process:
        evidence.objects("process", process, process.resolve(), process.stats())
    printed = helper.issued[-1]
    leaked = f"{printed.access_key_id.expose_secret()} {printed.secret_access_key.expose_secret()}"
    for name, setup in [
        ("exit with keys on stderr", lambda: helper.fail(1, f"refused {leaked}\nmore {leaked}\n")),
        ("keys in non-JSON stdout", lambda: helper.bad_json(f"AccessKeyId={leaked}")),
        ("wrong version", lambda: helper.answer(version=2)),
        ("hang", lambda: helper.hang(30)),
    ]:
        setup()
        with ProcessCredentialsProvider(helper.argv, timeout=0.5, **options) as failing:
            evidence.expect(name, CredentialSourceError, failing.resolve)
            evidence.objects(name, failing)

    evidence.logs(debug_logs)
    evidence.text("stderr", capfd.readouterr().err)
    source = endpoint.source_keys
    secrets = {
        **CHOSEN, **aws_secrets(endpoint.issued_credentials), **aws_secrets(server.sts.issued_credentials),
        **{f"process {k}": v for k, v in aws_secrets(helper.issued).items()},
        "source key id": source.access_key_id.expose_secret(),
        "source secret": source.secret_access_key.expose_secret(),
    }
    assert len(endpoint.issued_credentials) >= 4  # the chain's two hops (twice) and the web identity hop
    evidence.assert_clean({k: v for k, v in secrets.items() if len(v) >= 16})


# -- AWS IAM Identity Center (SSO) and shared-config profiles ---------------------------------------------

PROFILE_SECRET = "wJalrXUtnFEMI/LeakCheck-Profile-Static-Secret-Key"


def test_sso_and_profile_paths_leak_nothing(
    server: FakeIdentityServer, evidence: Evidence, debug_logs: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path,
) -> None:
    from literauth.aws import SharedConfigProvider, SsoCredentialProvider
    from literauth.testing.aws.sso import (
        DEFAULT_ACCOUNT,
        DEFAULT_ROLE,
        DEFAULT_SESSION,
        DEFAULT_START_URL,
        SsoPortalEndpoint,
    )

    portal = server.endpoint("aws.sso")
    assert isinstance(portal, SsoPortalEndpoint)
    cache = tmp_path / "sso-cache"
    clock = FakeClock(server.clock())
    options: dict[str, Any] = {"sleep": FakeSleep(), "background_refresh": False, "clock": clock}
    logins: dict[str, str] = {}

    def login(**extra: Any) -> pathlib.Path:
        path = pathlib.Path(portal.write_token_cache(cache, **extra))
        logins[f"sso login {len(logins)}"] = json.loads(path.read_text())["accessToken"]
        return path

    def build(**extra: Any) -> SsoCredentialProvider:
        return SsoCredentialProvider(
            start_url=DEFAULT_START_URL, sso_region="us-east-1", account_id=DEFAULT_ACCOUNT, role_name=DEFAULT_ROLE,
            session_name=DEFAULT_SESSION, profile="leak", token_cache_dir=cache, endpoint=server.url,
            session=server.session(), cache=False,  # each fault case fetches anew, not from the shared cache
            **{**options, **extra},
        )

    # success: fetch, refresh in the window, forced refresh
    cache_file = login()
    provider = build()
    first = provider.resolve()
    clock.advance(3600 - 200)
    assert provider.resolve() is first
    provider.resolve(force_refresh=True)
    evidence.objects("after fetches", provider, first, provider.stats(), portal.issued_credentials)
    provider.close()

    def write(content: bytes) -> None:
        cache_file.write_bytes(content)

    faults: list[tuple[str, Callable[[], object], type[LiterAuthError]]] = [
        ("revoked login", lambda: login(token="aoa-LeakCheck-revoked-portal-token-0123456789"), TokenEndpointError),
        ("not assigned", lambda: setattr(portal, "assignments", set()), TokenEndpointError),
        ("throttled", lambda: portal.fail_with("TooManyRequestsException", times=3), TokenEndpointError),
        ("outage", lambda: portal.fail(500, times=3), TokenEndpointError),
        ("html", lambda: portal.fail(200, "<html><body>oops</body></html>"), MalformedResponseError),
        ("truncated", lambda: portal.enqueue(*[Fault(200, BODY_TOKEN * 3, truncate=True)] * 3), TransportError),
        ("redirect", lambda: portal.fail(307, "", headers={"Location": f"https://evil.example/?t={logins['sso login 0']}"}),
         TokenEndpointError),
        ("expired login", lambda: login(lifetime=-60), CredentialSourceError),
        ("missing cache file", cache_file.unlink, CredentialSourceError),
        ("cache file not JSON", lambda: write(b"{" + logins["sso login 0"].encode()), CredentialSourceError),
    ]
    for name, setup, kind in faults:
        login()
        portal.assignments = None
        setup()
        with build() as failing:
            evidence.expect(name, kind, failing.resolve)
            evidence.expect(f"{name}, again while cooling down", kind, failing.resolve)
            evidence.objects(name, failing, failing.stats())
        portal.clear_faults()

    # a portal (or proxy) echoing the token in its error
    login()

    def echo(request: Any, form: Mapping[str, str]) -> Reply:
        sent = request.header("x-amz-sso_bearer_token") or ""
        body = json.dumps({"message": f"token {sent} rejected", "__type": sent}).encode()
        return Reply(401, body, {"x-amzn-ErrorType": sent, "x-amzn-RequestId": sent})

    monkeypatch.setattr(portal, "respond", echo)
    with build() as echoed:
        evidence.expect("echoing portal", TokenEndpointError, echoed.resolve)
    monkeypatch.undo()

    # profiles: static keys, and files that are broken where a secret sits
    credentials = tmp_path / "credentials"
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_CONFIG_FILE": str(tmp_path / "config"),
           "HOME": str(tmp_path)}
    credentials.write_text(f"[default]\naws_access_key_id = AKIALEAKCHECKPROFILE\naws_secret_access_key = {PROFILE_SECRET}\n")
    profile = SharedConfigProvider(environ=env)
    evidence.objects("static profile", profile, profile.resolve(), profile.describe(), profile.provider)
    for name, text in {
        "secret before a section": f"aws_secret_access_key = {PROFILE_SECRET}\n",
        "secret on an unparsable line": f"[default]\n{PROFILE_SECRET}\n",
        "secret twice": f"[default]\naws_secret_access_key = {PROFILE_SECRET}\naws_secret_access_key = {PROFILE_SECRET}\n",
        "secret without its key id": f"[default]\naws_secret_access_key = {PROFILE_SECRET}\naws_access_key_id =\n",
        "control character in the secret": f"[default]\naws_access_key_id = AKIA\naws_secret_access_key = {PROFILE_SECRET}\x1b\n",
    }.items():
        credentials.write_text(text)
        evidence.expect(name, ConfigurationError, lambda: SharedConfigProvider(environ=env))

    evidence.logs(debug_logs)
    evidence.text("stderr", capfd.readouterr().err)
    assert len(evidence.errors) == 2 * len(faults) + 1 + 5
    issued = {f"sso {k}": v for k, v in aws_secrets(portal.issued_credentials).items()}
    assert len(issued) == 3 * 3
    evidence.assert_clean({**CHOSEN, **logins, **issued, "profile secret": PROFILE_SECRET,
                           "profile key id": "AKIALEAKCHECKPROFILE"})


# -- Google Vertex AI --------------------------------------------------------------------------------------


def test_vertex_paths_leak_nothing(
    server: FakeIdentityServer, evidence: Evidence, debug_logs: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path,
    private_key: rsa.RSAPrivateKey,
) -> None:
    info = server.google.register_service_account(private_key=private_key)
    key_file = server.google.write_key_file(tmp_path / "sa.json", info)
    pem = info["private_key"]
    other_pem = _pem(ec.generate_private_key(ec.SECP256R1()))
    options: dict[str, Any] = {"sleep": FakeSleep(), "background_refresh": False, "cache": False}

    # success from a file, from the parsed JSON and from its text; another scope; forced refresh
    provider = VertexOAuthCredentialProvider.from_key_file(key_file, **options)
    tokens = [provider.resolve(), provider.resolve(force_refresh=True)]
    from_info = VertexOAuthCredentialProvider.from_service_account_json(json.loads(key_file.read_text()), **options)
    from_text = VertexOAuthCredentialProvider.from_service_account_json(key_file.read_text(), **options)
    scoped = from_text.with_scope("https://www.googleapis.com/auth/generative-language")
    tokens += [from_info.resolve(), scoped.resolve()]
    evidence.objects("after fetches", provider, from_info, from_text, scoped, *tokens, provider.stats(),
                     server.google.requests, server.google.accepted)
    for made in (provider, from_info, from_text, scoped):
        made.close()

    # the endpoint refuses or misbehaves
    def build(**extra: Any) -> VertexOAuthCredentialProvider:
        return VertexOAuthCredentialProvider.from_key_file(key_file, **{**options, **extra})

    faults: list[tuple[str, Callable[[], None], type[LiterAuthError], dict[str, Any]]] = [
        ("unknown scope", lambda: None, TokenEndpointError, {"scopes": "https://example.com/not-google"}),
        ("outage", lambda: server.google.fail(503, "unavailable", times=3), TokenEndpointError, {}),
        ("html", lambda: server.google.fail(200, "<html>sign in</html>"), MalformedResponseError, {}),
        ("no token", lambda: server.google.fail(200, json.dumps({"expires_in": 3600})), MalformedResponseError, {}),
        ("no expiry", lambda: server.google.fail(200, json.dumps({"access_token": BODY_TOKEN})),
         MalformedResponseError, {}),
        ("redirect", lambda: server.google.fail(302, "", headers={"Location": "https://evil.example/"}),
         TokenEndpointError, {}),
        ("key revoked", lambda: server.google.revoke_key(info["client_email"], info["private_key_id"]),
         TokenEndpointError, {}),
        ("account deleted", lambda: server.google.delete_account(info["client_email"]), TokenEndpointError, {}),
    ]
    for name, setup, kind, extra in faults:
        setup()
        with build(**extra) as failing:
            evidence.expect(name, kind, failing.resolve)
            evidence.expect(f"{name}, again while cooling down", kind, failing.resolve)
            evidence.objects(name, failing)
        server.google.clear_faults()

    # a server echoing the signed assertion (a credential for an hour) in its error
    def echo(request: Any, form: Mapping[str, str]) -> Reply:
        sent = form.get("assertion", "")
        return Reply(400, json.dumps({"error": "invalid_grant", "error_description": f"bad {sent}"}).encode())

    again = server.google.register_service_account(private_key=private_key)
    monkeypatch.setattr(server.google, "respond", echo)
    with VertexOAuthCredentialProvider.from_service_account_json(again, **options) as echoed:
        evidence.expect("echoing server", TokenEndpointError, echoed.resolve)
    monkeypatch.undo()
    assertions = {f"assertion {i}": r.form["assertion"].expose_secret()  # type: ignore[union-attr]
                  for i, r in enumerate(server.google.requests) if "assertion" in r.form}

    # broken key files: never quote the key
    lines = pem.splitlines()
    broken: dict[str, Any] = {
        "a flipped character": dict(info, private_key=pem.replace(lines[5], lines[5][:30] + "!" + lines[5][31:])),
        "newlines lost": dict(info, private_key=pem.replace("\n", "\\n")),
        "truncated key": dict(info, private_key="\n".join(lines[: len(lines) // 2])),
        "an EC key": dict(info, private_key=other_pem),
        "an encrypted key": dict(info, private_key=private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"pw")).decode()),
        "a user login": {"type": "authorized_user", "client_id": "x", "client_secret": CLIENT_SECRET,
                         "refresh_token": REFRESH_TOKEN},
        "no type": {k: v for k, v in info.items() if k != "type"},
        "token_uri with a query": dict(info, token_uri=f"http://token.example/?k={API_KEY}"),
    }
    for name, content in broken.items():
        evidence.expect(name, ConfigurationError,
                        lambda content=content: VertexOAuthCredentialProvider.from_service_account_json(content))
    raw = key_file.read_bytes()
    for name, data in {
        "the PEM alone": pem.encode(),
        "truncated JSON": raw[: len(raw) * 2 // 3],
        "not UTF-8": raw + b"\xff",
        "a JSON array": json.dumps([info]).encode(),
    }.items():
        path = tmp_path / f"{name}.json"
        path.write_bytes(data)
        evidence.expect(name, ConfigurationError, lambda path=path: VertexOAuthCredentialProvider.from_key_file(path))
    evidence.expect("text that is not JSON", ConfigurationError,
                    lambda: VertexOAuthCredentialProvider.from_service_account_json(raw.decode()[:-3]))
    evidence.expect("no variable", ConfigurationError, lambda: VertexOAuthCredentialProvider.from_env({}))

    evidence.logs(debug_logs)
    evidence.text("stderr", capfd.readouterr().err)
    assert len(evidence.errors) == 2 * len(faults) + 1 + len(broken) + 4 + 2
    access = {f"access token {i}": t for i, t in enumerate(server.google.issued_tokens)}
    assert len(access) == 4
    evidence.assert_clean({**CHOSEN, **pem_pieces(pem), **pem_pieces(other_pem), **assertions, **access})


# -- Google without key files: gcloud user logins, the metadata server, ADC ------------------------------------


def test_google_user_and_metadata_paths_leak_nothing(
    server: FakeIdentityServer, evidence: Evidence, debug_logs: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path,
) -> None:
    from literauth import (
        AuthorizedUserCredentialProvider,
        ComputeEngineCredentialProvider,
    )
    from literauth.google import default

    user = server.google_user
    info = user.login(client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN)
    options: dict[str, Any] = {"sleep": FakeSleep(), "background_refresh": False, "session": server.session(), "cache": False}
    gcloud = tmp_path / "gcloud"
    user.write_adc_file(gcloud, info)

    # success: from the info, the file, the chain; another scope; a forced refresh; the metadata server
    provider = AuthorizedUserCredentialProvider.from_info(info, **options)
    tokens = [provider.resolve(), provider.resolve(force_refresh=True)]
    scoped = provider.with_scope("https://www.googleapis.com/auth/generative-language")
    chain = default(environ={"CLOUDSDK_CONFIG": str(gcloud), "HOME": str(tmp_path)}, **options)
    metadata = ComputeEngineCredentialProvider(endpoint=server.url, **options)
    tokens += [scoped.resolve(), chain.resolve(), metadata.resolve()]
    evidence.objects("after fetches", provider, scoped, chain, metadata, *tokens, provider.stats(), chain.describe(),
                     user.requests, provider._cache_identity()[0])  # type: ignore[index]

    # the endpoint refuses or misbehaves
    faults: list[tuple[str, Callable[[], None], type[LiterAuthError]]] = [
        ("outage", lambda: user.fail(503, "unavailable", times=3), TokenEndpointError),
        ("html", lambda: user.fail(200, "<html>sign in</html>"), MalformedResponseError),
        ("no expiry", lambda: user.fail(200, json.dumps({"access_token": BODY_TOKEN})), MalformedResponseError),
        ("redirect", lambda: user.fail(302, "", headers={"Location": "https://evil.example/"}), TokenEndpointError),
        ("revoked", lambda: user.revoke(REFRESH_TOKEN), TokenEndpointError),
    ]
    for name, setup, kind in faults:
        setup()
        with AuthorizedUserCredentialProvider.from_info(info, **options) as failing:
            evidence.expect(name, kind, failing.resolve)
            evidence.expect(f"{name}, again while cooling down", kind, failing.resolve)
            evidence.objects(name, failing)
        user.clear_faults()
    wrong = dict(info, client_secret=WRONG_SECRET)
    with AuthorizedUserCredentialProvider.from_info(wrong, **options) as failing:
        evidence.expect("wrong client secret", TokenEndpointError, failing.resolve)

    # a server echoing both secrets in its error; the metadata server answering with a token it should not
    def echo(request: Any, form: Mapping[str, str]) -> Reply:
        body = {"error": "invalid_grant", "error_description": f"bad {form.get('refresh_token')} {form.get('client_secret')}"}
        return Reply(400, json.dumps(body).encode())

    fresh = user.login(client_secret=CLIENT_SECRET, refresh_token=REFRESH_TOKEN)
    monkeypatch.setattr(user, "respond", echo)
    with AuthorizedUserCredentialProvider.from_info(fresh, **options) as echoed:
        evidence.expect("echoing server", TokenEndpointError, echoed.resolve)
    monkeypatch.undo()
    server.google_metadata.enqueue(Fault(200, json.dumps({"access_token": BODY_TOKEN, "expires_in": 3600}).encode()))
    with ComputeEngineCredentialProvider(endpoint=server.url, **options) as impostor:
        evidence.expect("no Metadata-Flavor", MalformedResponseError, impostor.resolve)

    # broken files: never quote a secret
    broken = {
        "token_uri with a query": dict(info, token_uri=f"http://token.example/?k={API_KEY}"),
        "token_uri with a password": dict(info, token_uri=f"https://u:{API_KEY}@token.example/"),
        "whitespace in the refresh token": dict(info, refresh_token=REFRESH_TOKEN + " x"),
        "a weird type": dict(info, type="weird"),
    }
    for index, (name, content) in enumerate(broken.items()):
        path = _write(tmp_path / f"broken-{index}.json", content)
        evidence.expect(name, ConfigurationError, lambda path=path: default(
            environ={"GOOGLE_APPLICATION_CREDENTIALS": path, "HOME": str(tmp_path)}).resolve())
    for made in (provider, scoped, chain, metadata):
        made.close()

    evidence.logs(debug_logs)
    evidence.text("stderr", capfd.readouterr().err)
    access = {f"access token {i}": t for i, t in enumerate(user.issued_tokens)}
    access.update({f"metadata token {i}": t for i, t in enumerate(server.google_metadata.issued)})
    assert len(access) == 5
    evidence.assert_clean({**CHOSEN, **access})


def _write(path: pathlib.Path, content: Mapping[str, Any]) -> str:
    path.write_text(json.dumps(content))
    return str(path)


# -- [[models]] configuration ---------------------------------------------------------------------------------


def _entry(name: str, provider_model: str, **fields: str) -> str:
    lines = [f'name = "{name}"', f'provider_model = "{provider_model}"'] + [f"{k} = {v}" for k, v in fields.items()]
    return "[[models]]\n" + "\n".join(lines) + "\n\n"


def test_config_paths_leak_nothing(
    server: FakeIdentityServer, evidence: Evidence, debug_logs: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str], tmp_path: pathlib.Path,
) -> None:
    environ = server.environ(tmp_path)
    environ.update({"AZURE_CLIENT_ID": server.azure.add_client(client_secret=CLIENT_SECRET)[0],
                    "AZURE_CLIENT_SECRET": CLIENT_SECRET, "MY_KEY": API_KEY, "EMPTY": ""})
    good = (
        _entry("gpt", "openai/gpt-4o", api_key=f'"{API_KEY}"', base_url='"https://api.example/v1"')
        + _entry("gpt-env", "openai/gpt-4o-mini", api_key='"${MY_KEY}"', fallbacks='["gpt"]')
        + _entry("azure", "azure/gpt-4o") + _entry("claude", "bedrock/anthropic.claude")
        + _entry("gemini", "vertex_ai/gemini-1.5-pro")
    )
    with loads_models(good, environ=environ, sleep=FakeSleep(), background_refresh=False) as table:
        credentials = [table.resolve(name) for name in table]
        evidence.objects("table", table, *table.values(), *table.providers, *credentials)
    issued = {f"credential {i}": c.token.expose_secret() for i, c in enumerate(credentials)  # type: ignore[attr-defined]
              if isinstance(c, BearerToken)}
    issued.update(aws_secrets(server.sts.issued_credentials))
    path = tmp_path / "models.toml"
    path.write_text(good)
    with load_models(path, environ=environ) as from_file:
        evidence.objects("from a file", from_file, *from_file.values())

    bad = {
        "api_key not a string": _entry("m", "openai/x", api_key=f'["{API_KEY}"]'),
        "unterminated api_key": _entry("m", "openai/x", api_key=f'"{API_KEY}'),
        "bad escape in api_key": _entry("m", "openai/x", api_key=f'"{API_KEY}\\q"'),
        "bare api_key": _entry("m", "openai/x", api_key=API_KEY),
        "multi-line api_key": _entry("m", "openai/x", api_key=f'"""{API_KEY}\n{API_KEY}'),
        "empty after interpolation": _entry("m", "openai/x", api_key='"${EMPTY}"'),
        "malformed reference with a default": _entry("m", "openai/x", api_key=f'"${{1BAD:-{API_KEY}}}"'),
        "unclosed reference": _entry("m", "openai/x", api_key=f'"{API_KEY}${{MY_KEY"'),
        "user info in base_url": _entry("m", "openai/x", api_key='"k"', base_url=f'"https://u:{API_KEY}@api.example"'),
        "plain http base_url with a key": _entry("m", "openai/x", api_key='"k"',
                                                 base_url=f'"http://api.example/v1?key={API_KEY}"'),
        "unknown field holding a key": _entry("m", "openai/x", api_key='"k"', token_value=f'"{API_KEY}"'),
        "no credentials for the provider": _entry("m", "openai/x") + _entry("n", "openai/y", api_key=f'"{API_KEY}"'),
        "duplicate names": _entry("m", "openai/x", api_key=f'"{API_KEY}"') * 2,
        "timeout as the key": _entry("m", "openai/x", api_key='"k"', timeout_secs=f'"{API_KEY}"'),
        "azure env broken": _entry("m", "azure/gpt-4o"),
    }
    for name, text in bad.items():
        env = dict(environ, AZURE_TENANT_ID="not a tenant") if name == "azure env broken" else environ
        error = evidence.expect(name, ModelConfigError, lambda text=text, env=env: loads_models(text, environ=env))
        evidence.objects(name, *error.problems)  # type: ignore[attr-defined]
    broken = tmp_path / "broken.toml"
    broken.write_bytes(_entry("m", "openai/x", api_key=f'"{API_KEY}"').encode() + b"\xff\xfe")
    evidence.expect("not UTF-8", ConfigurationError, lambda: load_models(broken, environ=environ))

    evidence.logs(debug_logs)
    evidence.text("stderr", capfd.readouterr().err)
    assert len(credentials) == 5 and len(evidence.errors) == len(bad) + 1
    evidence.assert_clean({**CHOSEN, **issued})


# -- auth and Client ----------------------------------------------------------------------------------------


def test_auth_and_client_paths_leak_nothing(
    server: FakeIdentityServer, evidence: Evidence, debug_logs: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    provider = server.azure_provider(sleep=FakeSleep(), background_refresh=False)
    issued: dict[str, str] = {}
    with ApiServer() as api:
        config = ClientConfig(api.url + "/openai/deployments/d", provider, headers={"api-key": HEADER_KEY})
        with Client(config) as client:
            api.script(Answer(401, b'{"error": {"code": "401", "message": "token expired"}}'))
            answer = client.post("/chat/completions", json={"messages": []})
            assert answer.status_code == 200 and len(api.seen) == 2  # rejected, refreshed, accepted
            evidence.objects("client", client, config, client.auth, answer, answer.request, answer.history[0])
            for seen in api.seen:
                issued[f"bearer token {len(issued)}"] = (seen.header("Authorization") or "")[len("Bearer "):]
            api.script(*[Answer(401, b"{}")] * 2)
            evidence.objects("second rejection", client.get("/models"))
            evidence.expect("auth= given", ConfigurationError, lambda: client.get("/x", auth=("u", "p")))
        evidence.expect("closed", ConfigurationError, lambda: client.get("/x"))
        bearer = bearer_token_callable(provider)
        assert bearer() == provider.resolve().token.expose_secret()  # type: ignore[attr-defined]
        evidence.objects("callable", bearer, BearerAuth(provider))
    evidence.expect("wrong credential type", ConfigurationError,
                    lambda: SigV4Auth(provider, region="us-east-1")._resolve())
    evidence.expect("authorization header", ConfigurationError,
                    lambda: ClientConfig("https://api.example", provider, headers={"Authorization": HEADER_KEY}))
    evidence.expect("query-string key in a bad base_url", ConfigurationError,
                    lambda: ClientConfig(f"http://api.example/v1?key={HEADER_KEY}", provider))
    provider.close()

    evidence.logs(debug_logs)
    evidence.text("stderr", capfd.readouterr().err)
    assert len(set(issued.values())) == 2 and len(evidence.errors) == 5
    evidence.assert_clean({**CHOSEN, **issued})


def test_client_never_shows_a_key_in_a_url_query(server: FakeIdentityServer, evidence: Evidence) -> None:
    """`?key=...` is how some APIs take a key: neither errors nor reprs may show a query."""
    provider = server.azure_provider(sleep=FakeSleep())
    config = ClientConfig(f"https://api.example/v1?key={HEADER_KEY}", provider)
    with Client(config) as client:
        evidence.objects("client with a key in its base URL", client, config)
        evidence.expect("absolute URL", ConfigurationError,
                        lambda: client.url_for(f"https://generativelanguage.example/v1/models?key={HEADER_KEY}"))
    evidence.assert_clean({"header value": HEADER_KEY})


# -- the CLI ---------------------------------------------------------------------------------------------------


QUIET_RUNS = ("token static", "scope on a static token", "authority with the secret", "check broken config")  # no request


@pytest.mark.slow  # fifteen CLI subprocesses
def test_cli_stderr_leaks_nothing(server: FakeIdentityServer, tmp_path: pathlib.Path, private_key: rsa.RSAPrivateKey) -> None:
    client_id, _ = server.azure.add_client(client_secret=CLIENT_SECRET)
    info = server.google.register_service_account(private_key=private_key)
    revoked = server.google.register_service_account(private_key=private_key)
    server.google.revoke_key(revoked["client_email"], revoked["private_key_id"])
    base = {k: v for k, v in os.environ.items() if not k.startswith(CLEARED)}
    base.update(server.environ(tmp_path))
    base.update({
        "AZURE_CLIENT_ID": client_id, "AZURE_CLIENT_SECRET": CLIENT_SECRET,
        "GOOGLE_APPLICATION_CREDENTIALS": str(server.google.write_key_file(tmp_path / "sa.json", info)),
        "LITERAUTH_TOKEN": STATIC_TOKEN, "MY_KEY": API_KEY,
    })
    web_token = pathlib.Path(base["AWS_WEB_IDENTITY_TOKEN_FILE"]).read_text().strip()
    bad_token = tmp_path / "bad-token"
    bad_token.write_text(web_token[:-8] + "AAAAAAAA\n")  # a signature the fake STS refuses
    config = tmp_path / "models.toml"
    config.write_text(_entry("gpt", "openai/gpt", api_key='"${MY_KEY}"') + _entry("azure", "azure/gpt-4o")
                      + _entry("broken", "openai/x", api_key=f'["{API_KEY}"]'))
    good_config = tmp_path / "good.toml"
    good_config.write_text(_entry("gpt", "openai/gpt", api_key='"${MY_KEY}"') + _entry("azure", "azure/gpt-4o")
                           + _entry("claude", "bedrock/c") + _entry("gemini", "vertex/g"))
    closed = f"http://127.0.0.1:{closed_port()}"
    runs: dict[str, tuple[list[str], dict[str, str], int]] = {
        "token azure": (["token", "azure"], {}, 0),
        "token azure json": (["token", "azure", "--format", "json"], {}, 0),
        "token bedrock env": (["token", "bedrock", "--format", "env"], {}, 0),
        "token vertex": (["token", "vertex"], {}, 0),
        "token static": (["token", "static"], {}, 0),
        "check --fetch": (["check", "--fetch"], {}, 0),
        "check config --fetch": (["check", str(good_config), "--fetch"], {}, 0),
        "check broken config": (["check", str(config), "--fetch"], {}, 1),
        "wrong secret": (["token", "azure"], {"AZURE_CLIENT_SECRET": WRONG_SECRET}, 1),
        "refused web token": (["token", "bedrock"], {"AWS_WEB_IDENTITY_TOKEN_FILE": str(bad_token)}, 1),
        "revoked key": (["token", "vertex"], {"GOOGLE_APPLICATION_CREDENTIALS": str(
            server.google.write_key_file(tmp_path / "revoked.json", revoked))}, 1),
        "unreachable": (["token", "azure"], {"AZURE_AUTHORITY_HOST": closed}, 1),
        "authority with the secret": (["token", "azure"], {
            "AZURE_AUTHORITY_HOST": f"https://login.example/?s={CLIENT_SECRET}"}, 1),
        "scope on a static token": (["token", "azure", "--scope", "api://x/.default"],
                                    {"AZURE_AD_TOKEN": STATIC_TOKEN}, 0),  # served as it is
        "check with a broken setup": (["check", "--fetch"], {"AZURE_CLIENT_SECRET": WRONG_SECRET,
                                                             "AWS_WEB_IDENTITY_TOKEN_FILE": str(bad_token)}, 1),
    }
    started = {
        name: subprocess.Popen(
            [sys.executable, "-m", "literauth", "--verbose", *argv], env=dict(base, **extra),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for name, (argv, extra, _) in runs.items()
    }
    evidence = Evidence()
    printed: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, process in started.items():
        out, errors[name] = process.communicate(timeout=120)
        assert process.returncode == runs[name][2], f"{name}: exit {process.returncode}\n{errors[name][-2000:]}"
        assert "DEBUG literauth" in errors[name] or name in QUIET_RUNS, name  # --verbose really logged
        evidence.text(f"stderr of {name}", errors[name])
        if name == "token azure json" and process.returncode == 0:
            printed[f"printed by {name}"] = json.loads(out)["access_token"]  # on stdout by design
        elif name in ("token azure", "token vertex"):
            printed[f"printed by {name}"] = out.strip()
        elif name == "scope on a static token":
            assert out == STATIC_TOKEN + "\n"  # the ready-made token, on stdout by design
        elif not name.startswith("token"):
            evidence.text(f"stdout of {name}", out)
    for name in ("wrong secret", "refused web token", "revoked key", "unreachable"):
        assert "Traceback" in errors[name]  # --verbose tracebacks were searched too
    secrets = {**CHOSEN, **printed, "web identity token": web_token, **pem_pieces(info["private_key"])}
    secrets.update(aws_secrets(server.sts.issued_credentials))
    secrets.update({f"google token {i}": t for i, t in enumerate(server.google.issued_tokens)})
    secrets.update({f"assertion {i}": r.form["assertion"].expose_secret()  # type: ignore[union-attr]
                    for i, r in enumerate(server.google.requests)})
    evidence.assert_clean({k: v for k, v in secrets.items() if len(v) >= 16})
