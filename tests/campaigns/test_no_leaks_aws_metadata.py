"""Secrets never leak from the AWS metadata sources: environment keys, the container token, IMDS session tokens.

The same evidence collection as `test_no_leaks` (logs at DEBUG, every exception's chain and
traceback, reprs, stats, stderr), driven through success, refresh, refusal, outage and
malformed answers of the container endpoint and IMDSv2, and through `from_env()`.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from literauth import (
    ConfigurationError,
    CredentialSourceError,
    LiterAuthError,
    MalformedResponseError,
    SourceNotConfigured,
    TokenEndpointError,
    TransportError,
)
from literauth.aws import (
    ContainerCredentialsProvider,
    EnvironmentCredentialsProvider,
    InstanceMetadataCredentialsProvider,
)
from literauth.testing import FakeIdentityServer, Fault, Reply

from ..conftest import FakeClock, FakeSleep
from .test_no_leaks import CHOSEN, Evidence, aws_secrets, closed_port

ENV_KEY_ID = "AKIALEAKCHECKENVKEY01"
ENV_SECRET = "LeakCheck/Env+Secret/Access/Key/0123456789ab"
ENV_TOKEN = "IQoJb3JpZ2luLeakCheckEnvSessionToken9f8e7d6c"
OPTIONS: dict[str, Any] = {"sleep": FakeSleep(), "background_refresh": False, "cache": False}  # each fetches


@pytest.fixture
def evidence(debug_logs: pytest.LogCaptureFixture) -> Evidence:
    """An Evidence, with literauth, requests and urllib3 logging at DEBUG for the test."""
    return Evidence()


def test_environment_keys_leak_nothing(evidence: Evidence, debug_logs: pytest.LogCaptureFixture,
                                       capfd: pytest.CaptureFixture[str]) -> None:
    clock = FakeClock()
    env = {"AWS_ACCESS_KEY_ID": ENV_KEY_ID, "AWS_SECRET_ACCESS_KEY": ENV_SECRET, "AWS_SESSION_TOKEN": ENV_TOKEN,
           "AWS_CREDENTIAL_EXPIRATION": "2027-01-15T09:00:00Z"}
    provider = EnvironmentCredentialsProvider(env, clock=clock, **OPTIONS)
    evidence.objects("environment provider", provider, provider.resolve(), provider.stats())
    clock.advance(86400)  # expired, and the mapping still holds the old keys
    evidence.expect("still expired", CredentialSourceError, provider.resolve)
    evidence.objects("after the failure", provider, provider.stats())
    for name, broken in {
        "id without secret": {"AWS_ACCESS_KEY_ID": ENV_KEY_ID},
        "secret with a space": dict(env, AWS_SECRET_ACCESS_KEY=ENV_SECRET[:20] + " " + ENV_SECRET[20:]),
        "token with a newline": dict(env, AWS_SESSION_TOKEN=ENV_TOKEN[:20] + "\n" + ENV_TOKEN[20:]),
        "bad expiration": dict(env, AWS_CREDENTIAL_EXPIRATION=ENV_SECRET),
    }.items():
        evidence.expect(name, ConfigurationError, lambda broken=broken: EnvironmentCredentialsProvider(broken))
    evidence.expect("secret alone", SourceNotConfigured,
                    lambda: EnvironmentCredentialsProvider({"AWS_SECRET_ACCESS_KEY": ENV_SECRET}))
    evidence.logs(debug_logs)
    evidence.text("stderr", capfd.readouterr().err)
    evidence.assert_clean({**CHOSEN, "env key id": ENV_KEY_ID, "env secret": ENV_SECRET, "env token": ENV_TOKEN,
                           "env secret head": ENV_SECRET[:20], "env token head": ENV_TOKEN[:20]})


def test_container_paths_leak_nothing(
    server: FakeIdentityServer, evidence: Evidence, debug_logs: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path,
) -> None:
    fake = server.aws_container
    token = fake.authorization_token.expose_secret()
    token_file = pathlib.Path(fake.write_token_file(tmp_path / "token"))

    def build(**extra: Any) -> ContainerCredentialsProvider:
        return server.provider("aws.container", **{"authorization_token_file": token_file, **OPTIONS, **extra})  # type: ignore[return-value]

    with build() as provider:
        first = provider.resolve()
        evidence.objects("after fetches", provider, first, provider.resolve(force_refresh=True), provider.stats())
    faults: list[tuple[str, Callable[[], None], type[LiterAuthError], dict[str, Any]]] = [
        ("wrong token", lambda: None, TokenEndpointError, {"authorization_token_file": None,
                                                           "authorization_token": token[:-4] + "AAAA"}),
        ("throttled", lambda: fake.throttle(1, times=3), TokenEndpointError, {}),
        ("outage", lambda: fake.outage(503, times=3), TokenEndpointError, {}),
        ("html", lambda: fake.fail(200, "<html>no</html>"), MalformedResponseError, {}),
        ("no secret", lambda: fake.enqueue(Fault(200, fake.no_token_body())), MalformedResponseError, {}),
        ("redirect", lambda: fake.fail(302, "", headers={"Location": f"https://evil.example/?t={token}"}),
         TokenEndpointError, {}),
        ("truncated", lambda: fake.enqueue(*[Fault(200, fake.success_body(), truncate=True)] * 3), TransportError, {}),
        ("missing file", lambda: token_file.unlink(), CredentialSourceError, {}),
    ]
    for name, setup, kind, extra in faults:
        fake.write_token_file(token_file)
        setup()
        with build(**extra) as failing:
            evidence.expect(name, kind, failing.resolve)
            evidence.expect(f"{name}, again while cooling down", kind, failing.resolve)
            evidence.objects(name, failing, failing.stats())
        fake.clear_faults()
    fake.write_token_file(token_file)

    def echo(request: Any, form: Mapping[str, str]) -> Reply:
        sent = request.header("Authorization") or ""
        return fake.json(403, {"code": sent, "message": f"token {sent} refused"})

    monkeypatch.setattr(fake, "respond", echo)
    with build() as echoed:
        evidence.expect("echoing agent", TokenEndpointError, echoed.resolve)
    monkeypatch.undo()
    with build(full_uri=f"http://127.0.0.1:{closed_port()}/v1/credentials") as unreachable:
        evidence.expect("unreachable", TransportError, unreachable.resolve)
    env = fake.environ(tmp_path)
    evidence.objects("from_env", ContainerCredentialsProvider.from_env(env))
    evidence.expect("query in the uri", ConfigurationError, lambda: ContainerCredentialsProvider.from_env(
        dict(env, AWS_CONTAINER_CREDENTIALS_FULL_URI=f"http://10.0.0.1/?t={token}")))
    evidence.expect("literal token with a newline", ConfigurationError, lambda: ContainerCredentialsProvider(
        full_uri=fake.full_uri, authorization_token=token[:20] + "\n" + token[20:]))
    evidence.logs(debug_logs)
    evidence.text("stderr", capfd.readouterr().err)
    assert len(evidence.errors) == 2 * len(faults) + 4
    evidence.assert_clean({**CHOSEN, "container token": token, **aws_secrets(fake.issued_credentials)})


def test_imds_paths_leak_nothing(
    server: FakeIdentityServer, evidence: Evidence, debug_logs: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = server.aws_imds
    tokens: dict[str, str] = {}

    def build(**extra: Any) -> InstanceMetadataCredentialsProvider:
        return server.provider("aws.instance_metadata", **{"open_session": False, **OPTIONS, **extra})  # type: ignore[return-value]

    with build() as provider:
        provider.probe(2.0)
        evidence.objects("after the probe", provider, provider.stats())
        first = provider.resolve()
        fake.expire_session_tokens()  # a 401, a new session, the keys
        evidence.objects("after fetches", provider, first, provider.resolve(force_refresh=True), provider.stats())
        fake.serve_expired(600)  # static stability: served, with a WARNING
        evidence.objects("extended", provider.resolve(force_refresh=True), provider.stats())
        fake.lifetime = 3600
    tokens.update({f"first session token {i}": t.expose_secret() for i, t in enumerate(fake.issued_tokens)})
    keys = aws_secrets(fake.issued_credentials)
    primed = {"open_session": True}  # the fault then meets the keys request, not the session token
    faults: list[tuple[str, Callable[[], None], type[LiterAuthError], dict[str, Any]]] = [
        ("no role", lambda: setattr(fake, "role_name", None), TokenEndpointError, {}),
        ("v1 only", lambda: setattr(fake, "token_status", 403), TokenEndpointError, {}),
        ("outage", lambda: fake.outage(500, times=3), TokenEndpointError, {}),
        ("throttled", lambda: fake.throttle(1, times=3), TokenEndpointError, primed),
        ("error code", lambda: fake.enqueue(Fault(200, json.dumps({"Code": "Fail", "Message": "no"}))),
         MalformedResponseError, primed),
        ("html", lambda: fake.fail(200, "<html>x</html>"), MalformedResponseError, primed),
        ("bad session token", lambda: fake.enqueue(Fault(200, "two words")), MalformedResponseError, {}),
        ("too stale", lambda: fake.serve_expired(86400), MalformedResponseError, {}),
    ]
    for name, setup, kind, extra in faults:
        fake.reset()
        with build(**extra) as failing:
            setup()
            evidence.expect(name, kind, failing.resolve)
            evidence.expect(f"{name}, again while cooling down", kind, failing.resolve)
            evidence.objects(name, failing, failing.stats())
        tokens.update({f"{name} session token {i}": t.expose_secret() for i, t in enumerate(fake.issued_tokens)})
    fake.reset()

    def echo(request: Any, form: Mapping[str, str]) -> Reply:
        if request.method == "PUT":
            return fake._new_token(request)
        sent = request.header("X-aws-ec2-metadata-token") or ""
        tokens[f"echoed token {len(tokens)}"] = sent
        return Reply(401, f"token {sent} is not valid".encode(), content_type="text/plain")

    monkeypatch.setattr(fake, "respond", echo)
    with build() as echoed:
        evidence.expect("echoing IMDS", TokenEndpointError, echoed.resolve)
    monkeypatch.undo()
    with build(endpoint=f"http://127.0.0.1:{closed_port()}") as unreachable:
        evidence.expect("probe refused", SourceNotConfigured, lambda: unreachable.probe(1.0))
        evidence.expect("unreachable", TransportError, unreachable.resolve)
    evidence.logs(debug_logs)
    evidence.text("stderr", capfd.readouterr().err)
    assert "static stability" in debug_logs.text
    assert len(evidence.errors) == 2 * len(faults) + 3
    tokens.update({f"issued session token {i}": t.expose_secret() for i, t in enumerate(fake.issued_tokens)})
    evidence.assert_clean({**CHOSEN, **tokens, **keys, **aws_secrets(fake.issued_credentials)})
