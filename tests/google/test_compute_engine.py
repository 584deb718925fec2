"""The metadata-server provider over real HTTP to the fake metadata server; its probe against refused and silent ports."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests

from literauth import (
    ComputeEngineCredentialProvider,
    ConfigurationError,
    MalformedResponseError,
    SourceNotConfigured,
    TokenEndpointError,
)
from literauth.testing import FakeIdentityServer, Fault
from literauth.testing.google.metadata import (
    BlackHole,
    GoogleMetadataEndpoint,
    refused_port,
)

from ..conftest import FakeSleep

TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
CLOUD = "https://www.googleapis.com/auth/cloud-platform"
GEMINI = "https://www.googleapis.com/auth/generative-language"


@pytest.fixture
def metadata(server: FakeIdentityServer) -> GoogleMetadataEndpoint:
    return server.google_metadata


@pytest.fixture
def provider(server: FakeIdentityServer) -> Iterator[ComputeEngineCredentialProvider]:
    with server.provider("google.compute_engine", sleep=FakeSleep()) as built:
        assert isinstance(built, ComputeEngineCredentialProvider)
        yield built


# -- configuration (no request is made) -------------------------------------------------------------


def test_defaults_name_metadata_google_internal_without_contacting_it() -> None:
    built = ComputeEngineCredentialProvider(environ={})
    assert built.token_url == "http://metadata.google.internal" + TOKEN_PATH
    assert built.scopes == () and built.service_account == "default"
    assert built._target.probe_base == "http://169.254.169.254"  # the probe needs no name lookup


@pytest.mark.parametrize(("environ", "token_base", "probe_base"), [
    ({"GCE_METADATA_HOST": "127.0.0.1:8080"}, "http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ({"GCE_METADATA_ROOT": "127.0.0.1:8081"}, "http://127.0.0.1:8081", "http://127.0.0.1:8081"),
    ({"GCE_METADATA_HOST": "127.0.0.1:1", "GCE_METADATA_IP": "127.0.0.2:2"}, "http://127.0.0.1:1", "http://127.0.0.2:2"),
    ({"GCE_METADATA_IP": "127.0.0.2:2"}, "http://metadata.google.internal", "http://127.0.0.2:2"),
    ({"GCE_METADATA_HOST": "https://127.0.0.1:8443"}, "https://127.0.0.1:8443", "https://127.0.0.1:8443"),
    ({"GCE_METADATA_HOST": " 169.254.169.254 "}, "http://169.254.169.254", "http://169.254.169.254"),
])
def test_metadata_variables_as_google_auth_reads_them(environ: dict[str, str], token_base: str, probe_base: str) -> None:
    built = ComputeEngineCredentialProvider.from_env(environ)
    assert built.token_url == token_base + TOKEN_PATH
    assert built._target.probe_base == probe_base


def test_the_environment_is_read_when_built_not_later() -> None:
    environ = {"GCE_METADATA_HOST": "127.0.0.1:8080"}
    built = ComputeEngineCredentialProvider.from_env(environ)
    environ["GCE_METADATA_HOST"] = "127.0.0.1:9090"
    assert built.token_url.startswith("http://127.0.0.1:8080/")
    assert ComputeEngineCredentialProvider.from_env(environ).token_url.startswith("http://127.0.0.1:9090/")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"environ": {"GCE_METADATA_HOST": "example.com:80"}}, "plain http is only allowed on loopback or a cloud metadata"),
    ({"environ": {"GCE_METADATA_HOST": "127.0.0.1:8080/path"}}, "host\\[:port\\]"),
    ({"environ": {"GCE_METADATA_IP": "127.0.0.1:99999"}}, "not a valid URL"),
    ({"endpoint": "http://127.0.0.1:1/computeMetadata"}, "base URL"),
    ({"endpoint": "ftp://127.0.0.1"}, "https://"),
    ({"service_account": ""}, "service_account"),
    ({"service_account": "a/b"}, "service_account"),
    ({"service_account": "x y"}, "service_account"),
    ({"scopes": ""}, "scopes"),
    ({"scopes": ["a b"]}, "whitespace"),
])
def test_bad_configuration_is_named(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        ComputeEngineCredentialProvider(**kwargs)  # type: ignore[arg-type]


def test_the_metadata_hosts_are_allowed_over_http_only_here() -> None:
    from literauth import AuthorizedUserCredentialProvider

    ComputeEngineCredentialProvider(endpoint="http://metadata.google.internal")
    ComputeEngineCredentialProvider(endpoint="http://169.254.169.254")
    with pytest.raises(ConfigurationError, match="loopback"):
        AuthorizedUserCredentialProvider("c", "s", "r", token_uri="http://169.254.169.254/token")


def test_cache_identities_differ_by_account_and_scope_and_hold_no_secret() -> None:
    first = ComputeEngineCredentialProvider(endpoint="http://127.0.0.1:1")._cache_identity()
    second = ComputeEngineCredentialProvider(endpoint="http://127.0.0.1:1", service_account="a@p.iam.gserviceaccount.com",
                                             scopes=GEMINI)._cache_identity()
    assert first is not None and second is not None
    assert first[1] is None and second[1] is None
    assert first[0] != second[0] and second[0]["scope"] == GEMINI


# -- the wire ------------------------------------------------------------------------------------------


def test_token_request_wire_format(provider: ComputeEngineCredentialProvider, metadata: GoogleMetadataEndpoint) -> None:
    token = provider.resolve()
    (request,) = metadata.requests
    assert (request.method, request.path, request.query) == ("GET", TOKEN_PATH, {})
    assert request.header("Metadata-Flavor") == "Google"
    issued = metadata.check_token(token.token.expose_secret())  # type: ignore[attr-defined]
    assert issued is not None and issued.email == metadata.default_account.email and issued.scopes is None
    assert token.expires_at_epoch == pytest.approx(time.time() + 3600, abs=5)


def test_scopes_are_joined_with_commas_and_named_accounts_have_their_path(
    server: FakeIdentityServer, metadata: GoogleMetadataEndpoint
) -> None:
    email = metadata.other_account.email
    with server.provider("google.compute_engine", service_account=email, scopes=f"{CLOUD} {GEMINI}") as named:
        token = named.resolve()
    (request,) = metadata.requests
    assert request.path == f"/computeMetadata/v1/instance/service-accounts/{email}/token"
    assert request.query == {"scopes": f"{CLOUD},{GEMINI}"}
    issued = metadata.check_token(token.token.expose_secret())  # type: ignore[attr-defined]
    assert issued is not None and issued.email == email and issued.scopes == (CLOUD, GEMINI)


def test_an_answer_without_the_metadata_flavor_header_is_not_googles(
    provider: ComputeEngineCredentialProvider, metadata: GoogleMetadataEndpoint
) -> None:
    metadata.enqueue(Fault(200, metadata.success_body(), {"Content-Type": "application/json"}))
    with pytest.raises(MalformedResponseError, match="Metadata-Flavor: Google") as caught:
        provider.resolve()
    assert "GCE_METADATA_HOST" in str(caught.value)
    assert metadata.request_count == 1  # not retried: the same server would answer the same


def test_the_fake_refuses_requests_without_the_header_or_through_a_proxy(server: FakeIdentityServer) -> None:
    url = server.url + TOKEN_PATH
    bare = requests.get(url, timeout=5)
    assert bare.status_code == 403 and "Missing Metadata-Flavor:Google header" in bare.text
    assert bare.headers["Metadata-Flavor"] == "Google"  # the answer says who it is, even when refusing
    proxied = requests.get(url, headers={"Metadata-Flavor": "Google", "X-Forwarded-For": "10.0.0.1"}, timeout=5)
    assert proxied.status_code == 403


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_errors_and_throttling_are_retried(
    provider: ComputeEngineCredentialProvider, metadata: GoogleMetadataEndpoint, status: int
) -> None:
    metadata.fail(status, times=2)
    provider.resolve()
    assert metadata.request_count == 3


def test_retries_stop_at_the_budget(server: FakeIdentityServer, metadata: GoogleMetadataEndpoint) -> None:
    from literauth import RetryPolicy

    metadata.outage(503, times=10)
    sleep = FakeSleep()
    with server.provider("google.compute_engine", sleep=sleep, retry=RetryPolicy(max_attempts=5)) as built, \
            pytest.raises(TokenEndpointError, match="HTTP 503"):
        built.resolve()
    assert metadata.request_count == 5 and len(sleep.calls) == 4


def test_an_unknown_account_says_what_to_attach(server: FakeIdentityServer, metadata: GoogleMetadataEndpoint) -> None:
    with server.provider("google.compute_engine", service_account="nobody@p.iam.gserviceaccount.com") as built, \
            pytest.raises(TokenEndpointError, match="HTTP 404") as caught:
        built.resolve()
    assert "attach one" in str(caught.value) and not caught.value.retryable
    assert metadata.request_count == 1


# -- e-mail and project id ---------------------------------------------------------------------------


def test_email_and_project_id_are_asked_once_each(
    provider: ComputeEngineCredentialProvider, metadata: GoogleMetadataEndpoint
) -> None:
    assert provider.service_account_email == metadata.default_account.email
    assert provider.project_id == metadata.project_id
    assert provider.service_account_email == metadata.default_account.email
    assert provider.project_id == metadata.project_id
    assert [r.path for r in metadata.requests] == [
        "/computeMetadata/v1/instance/service-accounts/default/email",
        "/computeMetadata/v1/project/project-id",
    ]
    assert all(r.header("Metadata-Flavor") == "Google" for r in metadata.requests)


def test_concurrent_lookups_make_one_request(
    provider: ComputeEngineCredentialProvider, metadata: GoogleMetadataEndpoint
) -> None:
    metadata.latency = 0.05
    barrier = threading.Barrier(8)
    seen: list[str] = []

    def ask() -> None:
        barrier.wait()
        seen.append(provider.service_account_email)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == [metadata.default_account.email] * 8
    assert metadata.request_count == 1


def test_a_failed_lookup_is_not_remembered(provider: ComputeEngineCredentialProvider, metadata: GoogleMetadataEndpoint) -> None:
    metadata.enqueue(*[Fault(404, b"Not Found", {"Metadata-Flavor": "Google"})])
    with pytest.raises(TokenEndpointError):
        _ = provider.project_id
    assert provider.project_id == metadata.project_id


def test_a_lookup_answer_without_the_header_is_refused(
    provider: ComputeEngineCredentialProvider, metadata: GoogleMetadataEndpoint
) -> None:
    metadata.enqueue(Fault(200, b"my-project"))
    with pytest.raises(MalformedResponseError, match="Metadata-Flavor"):
        _ = provider.project_id


# -- probe ---------------------------------------------------------------------------------------------


def test_probe_finds_the_fake(provider: ComputeEngineCredentialProvider, metadata: GoogleMetadataEndpoint) -> None:
    provider.probe(1.0)
    (request,) = metadata.requests
    assert (request.path, request.header("Metadata-Flavor")) == ("/", "Google")


def test_probe_of_a_refused_port_skips_at_once() -> None:
    built = ComputeEngineCredentialProvider(endpoint=f"http://127.0.0.1:{refused_port()}")
    started = time.monotonic()
    with pytest.raises(SourceNotConfigured, match="connection refused after"):
        built.probe(5.0)
    assert time.monotonic() - started < 1.0


def test_probe_of_a_black_hole_ends_at_its_timeout() -> None:
    with BlackHole() as hole:
        built = ComputeEngineCredentialProvider(endpoint=hole.url)
        started = time.monotonic()
        with pytest.raises(SourceNotConfigured, match="no answer within 0.3 s"):
            built.probe(0.3)
        elapsed = time.monotonic() - started
    assert 0.25 < elapsed < 1.3  # the deadline, plus scheduling on a loaded machine


def test_probe_of_a_hanging_fake_ends_at_its_timeout(
    provider: ComputeEngineCredentialProvider, metadata: GoogleMetadataEndpoint
) -> None:
    metadata.black_hole(5.0)
    started = time.monotonic()
    with pytest.raises(SourceNotConfigured, match="no answer within"):
        provider.probe(0.3)
    assert time.monotonic() - started < 1.3


def test_probe_asks_a_starting_server_again(
    provider: ComputeEngineCredentialProvider, metadata: GoogleMetadataEndpoint
) -> None:
    metadata.outage(503, times=2)
    provider.probe(2.0)
    assert metadata.request_count == 3


def test_probe_of_a_server_failing_throughout_ends_at_its_timeout(
    provider: ComputeEngineCredentialProvider, metadata: GoogleMetadataEndpoint
) -> None:
    metadata.outage(503, times=100)
    started = time.monotonic()
    with pytest.raises(SourceNotConfigured, match="answered HTTP 503"):
        provider.probe(0.5)
    assert time.monotonic() - started < 1.3
    assert 2 <= metadata.request_count < 10


@pytest.mark.parametrize(("fault", "match"), [
    (Fault(200, b"hello"), "without Metadata-Flavor: Google"),
    (Fault(404, b"nope"), "answered HTTP 404"),
])
def test_probe_of_something_else_skips(
    provider: ComputeEngineCredentialProvider, metadata: GoogleMetadataEndpoint, fault: Fault, match: str
) -> None:
    metadata.enqueue(fault)
    with pytest.raises(SourceNotConfigured, match=match):
        provider.probe(1.0)


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), True, "1"])
def test_probe_timeout_must_be_positive(timeout: object) -> None:
    with pytest.raises(ConfigurationError, match="probe timeout"):
        ComputeEngineCredentialProvider(endpoint="http://127.0.0.1:1").probe(timeout)  # type: ignore[arg-type]


# -- scope and representation ------------------------------------------------------------------------


def test_with_scope_keeps_server_and_account(server: FakeIdentityServer, metadata: GoogleMetadataEndpoint) -> None:
    email = metadata.other_account.email
    with server.provider("google.compute_engine", service_account=email) as base, base.with_scope(GEMINI) as scoped:
        assert isinstance(scoped, ComputeEngineCredentialProvider)
        assert scoped.token_url == base.token_url and scoped.scopes == (GEMINI,)
        assert scoped.resolve() is not base.resolve()
    assert [r.query for r in metadata.requests] == [{"scopes": GEMINI}, {}]


def test_with_scope_keeps_separate_token_and_probe_hosts() -> None:
    built = ComputeEngineCredentialProvider(environ={"GCE_METADATA_HOST": "127.0.0.1:1", "GCE_METADATA_IP": "127.0.0.2:2"})
    scoped = built.with_scope(GEMINI)
    assert (scoped.token_url, scoped._target.probe_base) == (built.token_url, built._target.probe_base)


def test_repr_names_account_and_host_never_the_token(provider: ComputeEngineCredentialProvider) -> None:
    token = provider.resolve().token.expose_secret()  # type: ignore[attr-defined]
    shown = repr(provider)
    assert "service_account='default'" in shown and "127.0.0.1" in shown and token not in shown
