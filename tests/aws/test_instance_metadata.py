"""InstanceMetadataCredentialsProvider over real HTTP against the fake IMDSv2, and against botocore."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import botocore.session
import pytest

import literauth
from literauth import (
    ConfigurationError,
    MalformedResponseError,
    SourceNotConfigured,
    TokenEndpointError,
    TransportError,
)
from literauth.aws import InstanceMetadataCredentialsProvider
from literauth.aws.instance_metadata import (
    MAX_STALE,
    ROLE_PATH,
    TOKEN_HEADER,
    TOKEN_PATH,
    TTL_HEADER,
)
from literauth.credentials import AwsCredentials
from literauth.testing import FakeIdentityServer, Fault, SyncedClock, refused_port
from literauth.testing.aws import InstanceMetadataEndpoint
from literauth.testing.aws.instance_metadata import DEFAULT_ROLE

from ..conftest import FakeSleep, assert_no_secret

CREDS_PATH = ROLE_PATH + DEFAULT_ROLE


@pytest.fixture
def fake(server: FakeIdentityServer) -> InstanceMetadataEndpoint:
    return server.aws_imds


@pytest.fixture
def clock(server: FakeIdentityServer) -> SyncedClock:
    return SyncedClock(server)


@pytest.fixture
def provider(server: FakeIdentityServer, clock: SyncedClock) -> Iterator[InstanceMetadataCredentialsProvider]:
    with server.provider("aws.instance_metadata", open_session=False, clock=clock, sleep=FakeSleep(),
                         background_refresh=False) as made:
        yield made  # type: ignore[misc]


def _steps(fake: InstanceMetadataEndpoint) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in fake.requests]



def test_imdsv2_token_role_then_keys(provider: InstanceMetadataCredentialsProvider, fake: InstanceMetadataEndpoint) -> None:
    credentials = provider.resolve()
    assert _steps(fake) == [("PUT", TOKEN_PATH), ("GET", ROLE_PATH), ("GET", CREDS_PATH)]
    put, listing, keys = fake.requests
    assert put.header(TTL_HEADER) == "21600" and put.header(TOKEN_HEADER) is None
    (token,) = fake.issued_tokens
    assert listing.header(TOKEN_HEADER) == keys.header(TOKEN_HEADER) == token.expose_secret()
    issued = fake.issued_credentials[0]
    assert isinstance(credentials, AwsCredentials) and credentials.access_key_id == issued.access_key_id
    assert credentials.expires_at == issued.expires_at and provider.role_name == DEFAULT_ROLE
    assert literauth.InstanceMetadataCredentialsProvider is InstanceMetadataCredentialsProvider


def test_the_session_token_and_role_are_reused_until_shortly_before_the_ttl(
    provider: InstanceMetadataCredentialsProvider, fake: InstanceMetadataEndpoint, clock: SyncedClock
) -> None:
    provider.resolve()
    provider.resolve(force_refresh=True)
    assert _steps(fake)[3:] == [("GET", CREDS_PATH)]  # one request per refresh (botocore: three)
    clock.advance(21600 - 61)
    provider.resolve(force_refresh=True)
    assert _steps(fake)[4:] == [("GET", CREDS_PATH)]
    clock.advance(2)  # within a minute of the TTL: a new session first
    provider.resolve(force_refresh=True)
    assert _steps(fake)[5:] == [("PUT", TOKEN_PATH), ("GET", CREDS_PATH)]
    assert len(fake.issued_tokens) == 2


def test_a_short_ttl_is_renewed_half_way(server: FakeIdentityServer, fake: InstanceMetadataEndpoint,
                                         clock: SyncedClock) -> None:
    with server.provider("aws.instance_metadata", open_session=False, clock=clock, token_ttl=60,
                         background_refresh=False) as provider:
        provider.resolve()
        assert fake.requests[0].header(TTL_HEADER) == "60"
        clock.advance(31)
        provider.resolve(force_refresh=True)
    assert _steps(fake)[3:] == [("PUT", TOKEN_PATH), ("GET", CREDS_PATH)]


def test_a_401_renews_the_session_within_the_same_fetch(
    provider: InstanceMetadataCredentialsProvider, fake: InstanceMetadataEndpoint
) -> None:
    provider.resolve()
    fake.expire_session_tokens()  # IMDS restarted
    provider.resolve(force_refresh=True)
    assert _steps(fake)[3:] == [("GET", CREDS_PATH), ("PUT", TOKEN_PATH), ("GET", CREDS_PATH)]
    assert fake.requests[3].header(TOKEN_HEADER) != fake.requests[5].header(TOKEN_HEADER)


def test_a_new_role_is_looked_up_after_a_404(provider: InstanceMetadataCredentialsProvider,
                                            fake: InstanceMetadataEndpoint) -> None:
    provider.resolve()
    fake.role_name = "replaced-role"
    provider.resolve(force_refresh=True)
    assert _steps(fake)[3:] == [("GET", CREDS_PATH), ("GET", ROLE_PATH), ("GET", ROLE_PATH + "replaced-role")]
    assert provider.role_name == "replaced-role"


def test_no_role_attached_is_named(provider: InstanceMetadataCredentialsProvider, fake: InstanceMetadataEndpoint) -> None:
    fake.role_name = None
    with pytest.raises(TokenEndpointError, match="HTTP 404.*instance profile") as info:
        provider.resolve()
    assert info.value.retryable is False
    assert _steps(fake) == [("PUT", TOKEN_PATH), ("GET", ROLE_PATH)]  # not asked twice
    with pytest.raises(SourceNotConfigured, match="no IAM role is attached"):
        provider.probe(2.0)


def test_imdsv1_is_never_used_unless_allowed(server: FakeIdentityServer, fake: InstanceMetadataEndpoint,
                                           caplog: pytest.LogCaptureFixture) -> None:
    fake.token_status = 403
    fake.imdsv1_allowed = True
    strict = server.provider("aws.instance_metadata", open_session=False, background_refresh=False)
    with strict, pytest.raises(TokenEndpointError, match="HTTP 403.*allow_imdsv1=True"):
        strict.resolve()
    assert _steps(fake) == [("PUT", TOKEN_PATH)]  # no silent v1 GET
    with caplog.at_level(logging.WARNING, "literauth"), server.provider(
        "aws.instance_metadata", open_session=False, allow_imdsv1=True
    ) as lenient:
        assert isinstance(lenient.resolve(), AwsCredentials)
    assert [r.header(TOKEN_HEADER) for r in fake.requests[1:]] == [None, None, None]
    assert "using IMDSv1 as allow_imdsv1=True permits" in caplog.text


def test_server_errors_on_the_token_request_are_retried(
    provider: InstanceMetadataCredentialsProvider, fake: InstanceMetadataEndpoint
) -> None:
    fake.enqueue_session(Fault(500), Fault(500))
    provider.resolve()
    assert _steps(fake)[:3] == [("PUT", TOKEN_PATH)] * 3


def test_throttling_of_the_keys_is_retried_with_retry_after(server: FakeIdentityServer,
                                                           fake: InstanceMetadataEndpoint) -> None:
    sleep = FakeSleep()
    with server.provider("aws.instance_metadata", sleep=sleep) as provider:  # opened: token and role known
        fake.throttle(retry_after=2, times=2)
        provider.resolve()
    assert _steps(fake)[2:] == [("GET", CREDS_PATH)] * 3 and sleep.calls == [2.0, 2.0]


def test_a_200_error_code_is_malformed_with_its_message(provider: InstanceMetadataCredentialsProvider,
                                                       fake: InstanceMetadataEndpoint) -> None:
    provider.probe(2.0)
    fake.enqueue(Fault(200, b'{"Code": "AssumeRoleUnauthorizedAccess", "Message": "EC2 cannot assume the role"}'))
    with pytest.raises(MalformedResponseError, match="Code 'AssumeRoleUnauthorizedAccess'.*EC2 cannot assume"):
        provider.resolve()


# -- static stability -------------------------------------------------------------------------------


def test_expired_keys_are_served_a_while_longer_with_a_warning(
    provider: InstanceMetadataCredentialsProvider, fake: InstanceMetadataEndpoint, clock: SyncedClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake.serve_expired(ago=3600)
    with caplog.at_level(logging.WARNING, "literauth"):
        served = provider.resolve()
    stated = fake.issued_credentials[0].expires_at
    assert stated is not None and served.expires_at_epoch is not None
    assert served.access_key_id == fake.issued_credentials[0].access_key_id
    assert 1020 <= served.expires_at_epoch - clock.now <= 1500  # 15 minutes plus 2 to 10 of jitter
    assert provider.stats().expiry_extended_from == stated
    assert "static stability" in caplog.text and stated.isoformat() in caplog.text
    fake.lifetime = 3600  # the service is back
    clock.advance(served.expires_at_epoch - clock.now - 100)  # past the refresh point
    assert provider.resolve() is served  # refreshed inline, the cached keys returned this once
    fresh = provider.resolve()
    assert fresh is not served and provider.stats().expiry_extended_from is None


def test_the_extension_is_bounded(provider: InstanceMetadataCredentialsProvider, fake: InstanceMetadataEndpoint) -> None:
    fake.serve_expired(ago=MAX_STALE + 60)
    with pytest.raises(MalformedResponseError, match="expired at .* more than 6 h ago"):
        provider.resolve()


def test_botocore_extends_the_same_expired_keys(
    server: FakeIdentityServer, fake: InstanceMetadataEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake.serve_expired(ago=3600)
    theirs = _botocore_provider(server, monkeypatch).load()
    with server.provider("aws.instance_metadata") as provider:
        ours = provider.resolve()
    # botocore's session: its 15-minute refresh window plus 2 to 10 minutes, in whole seconds; ours the same
    assert 1000 < theirs._expiry_time.timestamp() - time.time() <= 1501
    assert ours.expires_at_epoch is not None and 1000 < ours.expires_at_epoch - time.time() <= 1501


# -- configuration ------------------------------------------------------------------------------------


def test_from_env_reads_botocore_variables() -> None:
    with InstanceMetadataCredentialsProvider.from_env({}) as default:
        assert default.endpoint == "http://169.254.169.254"  # built; nothing was sent
    with InstanceMetadataCredentialsProvider.from_env({"AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "ipv6"}) as six:
        assert six.endpoint == "http://[fd00:ec2::254]"
    both = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:9/", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": "IPv6"}
    with InstanceMetadataCredentialsProvider.from_env(both) as custom:
        assert custom.endpoint == "http://127.0.0.1:9"  # the endpoint wins, as in botocore
    with pytest.raises(SourceNotConfigured, match="AWS_EC2_METADATA_DISABLED is true"):
        InstanceMetadataCredentialsProvider.from_env({"AWS_EC2_METADATA_DISABLED": "True"})


@pytest.mark.parametrize("arguments", [
    {"endpoint_mode": "IPv5"}, {"endpoint": "http://10.0.0.1"}, {"endpoint": "http://127.0.0.1/?x=1"},
    {"token_ttl": 0}, {"token_ttl": 21601}, {"allow_imdsv1": "yes"},
])
def test_bad_arguments_are_configuration_errors(arguments: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        InstanceMetadataCredentialsProvider(**arguments)  # type: ignore[arg-type]


def test_cache_identity_is_the_endpoint(fake: InstanceMetadataEndpoint) -> None:
    one = InstanceMetadataCredentialsProvider(endpoint="http://127.0.0.1:1")
    other = InstanceMetadataCredentialsProvider()
    assert one._cache_identity() == ({"source": "instance_metadata", "endpoint": "http://127.0.0.1:1"}, None)
    assert one._cache_identity()[0] != other._cache_identity()[0]


# -- probing ---------------------------------------------------------------------------------------------


def test_probe_of_a_refused_port_is_quick_and_says_so() -> None:
    provider = InstanceMetadataCredentialsProvider(endpoint=f"http://127.0.0.1:{refused_port()}")
    with provider, pytest.raises(SourceNotConfigured, match=r"connection refused after \d+ ms"):
        provider.probe(5.0)


def test_probe_of_a_black_hole_gives_up_at_its_deadline(server: FakeIdentityServer,
                                                        fake: InstanceMetadataEndpoint) -> None:
    fake.black_hole(10.0, times=5)
    with server.provider("aws.instance_metadata", open_session=False) as provider:
        started = time.monotonic()
        with pytest.raises(SourceNotConfigured, match=r"no answer within 0.3 s"):
            provider.probe(0.3)
        assert time.monotonic() - started < 3.0  # one deadline, not a timeout per retry (loose: a loaded machine)
    assert fake.request_count == 1


def test_probe_keeps_what_it_learnt(provider: InstanceMetadataCredentialsProvider, fake: InstanceMetadataEndpoint) -> None:
    provider.probe(2.0)
    assert _steps(fake) == [("PUT", TOKEN_PATH), ("GET", ROLE_PATH)]
    provider.resolve()
    assert _steps(fake)[2:] == [("GET", CREDS_PATH)]
    provider.probe(2.0)  # known already: nothing sent
    assert len(fake.requests) == 3


def test_probe_timeout_must_be_positive(provider: InstanceMetadataCredentialsProvider) -> None:
    for bad in (0, -1, float("nan"), True):
        with pytest.raises(ConfigurationError, match="probe timeout"):
            provider.probe(bad)  # type: ignore[arg-type]


def test_a_transport_failure_of_a_fetch_stays_a_transport_error(server: FakeIdentityServer) -> None:
    provider = InstanceMetadataCredentialsProvider(endpoint=f"http://127.0.0.1:{refused_port()}", sleep=FakeSleep())
    with provider, pytest.raises(TransportError):
        provider.resolve()


# -- fidelity against botocore ---------------------------------------------------------------------------


def _botocore_provider(server: FakeIdentityServer, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", server.url + "/")
    session = botocore.session.Session()
    return session.get_component("credential_provider").get_provider("iam-role")


def test_botocore_gets_its_keys_from_the_same_fake_with_the_same_requests(
    server: FakeIdentityServer, fake: InstanceMetadataEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    theirs = _botocore_provider(server, monkeypatch).load()
    botocore_requests = fake.requests
    with server.provider("aws.instance_metadata", open_session=False) as provider:
        ours = provider.resolve()
    our_requests = fake.requests[len(botocore_requests):]
    first, second = fake.issued_credentials
    frozen = theirs.get_frozen_credentials()
    assert frozen.access_key == first.access_key_id.expose_secret() and theirs._expiry_time == first.expires_at
    assert ours.access_key_id == second.access_key_id and ours.expires_at == second.expires_at  # type: ignore[attr-defined]
    assert [(r.method, r.path) for r in our_requests] == [(r.method, r.path) for r in botocore_requests]
    for mine, boto in zip(our_requests, botocore_requests, strict=True):
        assert mine.header(TTL_HEADER) == boto.header(TTL_HEADER)
        assert (mine.header(TOKEN_HEADER) is None) == (boto.header(TOKEN_HEADER) is None)
    tokens = {t.expose_secret() for t in fake.issued_tokens}
    assert {r.header(TOKEN_HEADER) for r in fake.requests if r.method == "GET"} <= tokens


def test_the_session_token_never_shows(provider: InstanceMetadataCredentialsProvider, fake: InstanceMetadataEndpoint,
                                       caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        provider.resolve()
        fake.expire_session_tokens()
        fake.enqueue(Fault(401, b"401 - Unauthorized"), Fault(401, b"401 - Unauthorized"))
        with pytest.raises(TokenEndpointError) as info:
            provider.resolve(force_refresh=True)
    tokens = [t.expose_secret() for t in fake.issued_tokens]
    assert_no_secret([caplog.text, str(info.value), repr(provider), repr(provider.stats())], tokens)


def test_concurrent_callers_share_one_fetch_of_all_three_steps(
    server: FakeIdentityServer, fake: InstanceMetadataEndpoint
) -> None:
    fake.latency = 0.05  # every step is slow enough for the callers to pile up
    barrier = threading.Barrier(8)
    seen: list[object] = []
    with server.provider("aws.instance_metadata", open_session=False) as provider:
        def call() -> None:
            barrier.wait()
            seen.append(provider.resolve())

        threads = [threading.Thread(target=call) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert len(seen) == 8 and all(item is seen[0] for item in seen)
    assert _steps(fake) == [("PUT", TOKEN_PATH), ("GET", ROLE_PATH), ("GET", CREDS_PATH)]


def test_a_silent_token_request_names_the_hop_limit(server: FakeIdentityServer, fake: InstanceMetadataEndpoint) -> None:
    fake.black_hole(5.0, times=3)
    provider = server.provider("aws.instance_metadata", open_session=False, timeout=(1.0, 0.2), sleep=FakeSleep(),
                               background_refresh=False)
    with provider, pytest.raises(TransportError, match="hop limit is 2 or more") as info:
        provider.resolve()
    assert info.value.retryable and info.value.__context__ is None
