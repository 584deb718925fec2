"""ContainerCredentialsProvider over real HTTP against the fake ECS / EKS Pod Identity endpoint."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import botocore.credentials
import botocore.utils
import pytest

import literauth
from literauth import (
    ConfigurationError,
    CredentialSourceError,
    MalformedResponseError,
    SourceNotConfigured,
    TokenEndpointError,
)
from literauth.aws import ContainerCredentialsProvider
from literauth.credentials import AwsCredentials
from literauth.secret import SecretString
from literauth.testing import FakeIdentityServer, Fault, Reply
from literauth.testing.aws import ContainerCredentialsEndpoint

from ..conftest import FakeSleep, assert_no_secret


@pytest.fixture
def fake(server: FakeIdentityServer) -> ContainerCredentialsEndpoint:
    return server.aws_container


def _same_keys(ours: object, issued: AwsCredentials) -> None:
    assert isinstance(ours, AwsCredentials)
    assert ours.access_key_id == issued.access_key_id and ours.secret_access_key == issued.secret_access_key
    assert ours.session_token == issued.session_token and ours.expires_at == issued.expires_at


def test_pod_identity_sends_the_token_verbatim_and_reads_the_keys(
    server: FakeIdentityServer, fake: ContainerCredentialsEndpoint
) -> None:
    with server.provider("aws.container") as provider:
        credentials = provider.resolve()
        assert provider.resolve() is credentials
    (request,) = fake.requests
    assert request.method == "GET" and request.path == "/v1/credentials"
    assert request.header("Authorization") == fake.authorization_token.expose_secret()  # no "Bearer " prefix
    assert request.header("Accept") == "application/json"
    _same_keys(credentials, fake.issued_credentials[0])
    assert literauth.ContainerCredentialsProvider is ContainerCredentialsProvider


def test_the_token_file_is_read_again_and_stripped_for_every_fetch(
    server: FakeIdentityServer, fake: ContainerCredentialsEndpoint, tmp_path: pathlib.Path
) -> None:
    path = pathlib.Path(fake.write_token_file(tmp_path / "token"))
    assert path.read_text().endswith("\n")  # as the kubelet writes it; botocore raises on this
    with server.provider("aws.container", authorization_token_file=path) as provider:
        provider.resolve()
        fake.authorization_token = SecretString("eyJhbGciOiJSUzI1NiJ9.rotated-token-value-123456")
        fake.write_token_file(path)
        provider.resolve(force_refresh=True)
    sent = [r.header("Authorization") for r in fake.requests]
    assert sent[1] == "eyJhbGciOiJSUzI1NiJ9.rotated-token-value-123456" and sent[0] != sent[1]
    assert [r.path for r in fake.requests] == ["/v1/credentials"] * 2


def test_a_missing_token_file_is_a_source_error_naming_the_file(server: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    provider = server.provider("aws.container", authorization_token_file=tmp_path / "gone", background_refresh=False)
    with provider, pytest.raises(CredentialSourceError, match="authorization token file .*gone does not exist"):
        provider.resolve()


def test_ecs_relative_uri_on_a_moved_host(server: FakeIdentityServer, fake: ContainerCredentialsEndpoint) -> None:
    provider = ContainerCredentialsProvider(relative_uri=fake.relative_uri, ecs_host=server.url,
                                            session=server.session())
    with provider:
        provider.resolve()
    assert fake.requests[0].path == fake.relative_uri and fake.requests[0].header("Authorization") is None


def test_from_env_follows_botocore_precedence() -> None:
    both = {"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/abc",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:9/v1/credentials",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN": "literal-token-value", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": "/t"}
    with ContainerCredentialsProvider.from_env(both) as provider:  # no request is made
        assert provider.endpoint == "http://169.254.170.2/v2/credentials/abc"  # RELATIVE_URI wins, as in botocore
        assert provider._token is None and provider._token_file == "/t"  # the file wins over the literal
    with pytest.raises(SourceNotConfigured, match="neither AWS_CONTAINER_CREDENTIALS_RELATIVE_URI nor"):
        ContainerCredentialsProvider.from_env({"AWS_CONTAINER_AUTHORIZATION_TOKEN": "x"})


HOSTS = {
    "http://127.0.0.1:8080/creds": True, "http://127.0.0.2/creds": True, "http://[::1]:80/creds": True,
    "http://localhost/creds": True, "http://169.254.170.2/creds": True, "http://169.254.170.23/v1/credentials": True,
    "http://[fd00:ec2::23]/v1/credentials": True, "https://creds.example/path": True,
    "http://169.254.169.254/latest": False, "http://10.0.0.1/creds": False, "http://creds.example/path": False,
    "http://host.docker.internal/creds": False, "http://[fd00:ec2::254]/creds": False,
}


@pytest.mark.parametrize(("url", "allowed"), HOSTS.items(), ids=list(HOSTS))
def test_full_uri_hosts_are_allowed_as_botocore_allows_them(url: str, allowed: bool) -> None:
    fetcher = botocore.utils.ContainerMetadataFetcher()
    try:
        fetcher._validate_allowed_url(url)
        botocore_allows = True
    except ValueError:
        botocore_allows = False
    assert botocore_allows is allowed
    if allowed:
        ContainerCredentialsProvider(full_uri=url).close()  # built, nothing sent
    else:
        with pytest.raises(ConfigurationError, match="full_uri"):
            ContainerCredentialsProvider(full_uri=url)


@pytest.mark.parametrize("arguments", [
    {}, {"full_uri": "http://127.0.0.1/x", "relative_uri": "/y"}, {"relative_uri": "no-slash"},
    {"full_uri": "http://127.0.0.1/x", "authorization_token": "a", "authorization_token_file": "/f"},
    {"full_uri": "http://127.0.0.1/x", "authorization_token": "two words"},
    {"full_uri": "ftp://127.0.0.1/x"},
])
def test_bad_arguments_are_configuration_errors(arguments: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        ContainerCredentialsProvider(**arguments)


def test_a_wrong_token_fails_once_and_is_not_retried(server: FakeIdentityServer, fake: ContainerCredentialsEndpoint) -> None:
    sleep = FakeSleep()
    provider = server.provider("aws.container", authorization_token="eyJ.not-the-right-one", sleep=sleep)
    with provider, pytest.raises(TokenEndpointError, match="HTTP 401 InvalidToken: the service account token") as info:
        provider.resolve()
    assert fake.request_count == 1 and sleep.calls == []  # botocore retries it 3 times over 3 s
    assert info.value.retryable is False


def test_a_missing_token_is_refused_by_the_agent(server: FakeIdentityServer, fake: ContainerCredentialsEndpoint) -> None:
    provider = ContainerCredentialsProvider(full_uri=fake.full_uri, session=server.session())
    with provider, pytest.raises(TokenEndpointError, match="HTTP 400 MissingAuthorization"):
        provider.resolve()


def test_throttling_and_outages_are_retried_within_the_budget(
    server: FakeIdentityServer, fake: ContainerCredentialsEndpoint
) -> None:
    sleep = FakeSleep()
    fake.throttle(retry_after=1)
    fake.outage(503)
    with server.provider("aws.container", sleep=sleep) as provider:
        provider.resolve()
    assert fake.request_count == 3 and len(sleep.calls) == 2 and sleep.calls[0] == 1.0


def test_an_echoed_token_is_masked(server: FakeIdentityServer, fake: ContainerCredentialsEndpoint,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def echo(request: Any, form: Any) -> Reply:
        sent = request.header("Authorization")
        return fake.json(403, {"code": "AccessDenied", "message": f"token {sent} is not allowed here"})

    monkeypatch.setattr(fake, "respond", echo)
    with server.provider("aws.container") as provider, pytest.raises(TokenEndpointError) as info:
        provider.resolve()
    assert "AccessDenied" in str(info.value) and "**********" in str(info.value)
    assert_no_secret([str(info.value), repr(info.value.__dict__), repr(provider)], [fake.authorization_token.expose_secret()])


@pytest.mark.parametrize("body", [
    b"", b"[]", b'{"AccessKeyId": "ASIAX", "SecretAccessKey": "s", "Token": "t"}',
    b'{"AccessKeyId": "ASIAX", "SecretAccessKey": "s", "Token": "t", "Expiration": "soon"}',
    b'{"AccessKeyId": "AS IAX", "SecretAccessKey": "s", "Token": "t", "Expiration": "2030-01-01T00:00:00Z"}',
])
def test_unusable_answers_are_malformed(server: FakeIdentityServer, fake: ContainerCredentialsEndpoint, body: bytes) -> None:
    fake.enqueue(Fault(200, body))
    with server.provider("aws.container", background_refresh=False) as provider, pytest.raises(MalformedResponseError):
        provider.resolve()


def test_botocore_reads_the_same_endpoint_and_sends_the_same_request(
    server: FakeIdentityServer, fake: ContainerCredentialsEndpoint, tmp_path: pathlib.Path
) -> None:
    env = fake.environ(tmp_path)
    pathlib.Path(env["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]).write_text(fake.authorization_token.expose_secret())
    theirs = botocore.credentials.ContainerProvider(environ=env).load()  # botocore refuses the trailing newline
    with ContainerCredentialsProvider.from_env(env, session=server.session()) as provider:
        ours = provider.resolve()
    first, second = fake.issued_credentials
    frozen = theirs.get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key, frozen.token) == (
        first.access_key_id.expose_secret(), first.secret_access_key.expose_secret(),
        first.session_token.expose_secret() if first.session_token else None)
    assert theirs._expiry_time == first.expires_at
    _same_keys(ours, second)
    botocore_request, our_request = fake.requests
    assert (our_request.method, our_request.path) == (botocore_request.method, botocore_request.path)
    for header in ("Authorization", "Accept"):
        assert our_request.header(header) == botocore_request.header(header), header


def test_cache_identity_is_the_endpoint(fake: ContainerCredentialsEndpoint) -> None:
    one = ContainerCredentialsProvider(full_uri=fake.full_uri, authorization_token="tok1")
    other = ContainerCredentialsProvider(full_uri="http://169.254.170.23/v1/credentials", authorization_token="tok1")
    assert one._cache_identity() == ({"source": "container", "endpoint": fake.full_uri}, None)
    assert one._cache_identity()[0] != other._cache_identity()[0]


def test_success_body_is_what_the_provider_reads(fake: ContainerCredentialsEndpoint) -> None:
    fields = json.loads(fake.success_body())
    assert {"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "AccountId"} <= set(fields)
