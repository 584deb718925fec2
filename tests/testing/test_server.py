"""The fake-server frame: routing on method, path, query and headers, every method, one error path."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping

import pytest
import requests

from literauth.testing import (
    Endpoint,
    FakeIdentityServer,
    RecordedRequest,
    Refusal,
    Reply,
    Route,
    ServerCore,
)


class MetadataEndpoint(Endpoint):
    """Shaped like Azure IMDS and EC2 IMDSv2: routes that need query parameters, headers and PUT."""

    name = "metadata"
    routes = (
        Route(frozenset({"GET"}), "/metadata/identity/oauth2/token",
              query={"api-version": None, "resource": None}, headers={"Metadata": "true"}),
        Route(frozenset({"PUT"}), "/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": None}),
        Route(frozenset({"GET", "HEAD", "DELETE"}), re.compile(r"/items/\d+")),
    )

    def respond(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        if request.path == "/items/0":
            raise Refusal("not_found", "no item 0", status=404)
        if request.path == "/latest/api/token":
            return Reply(200, b"imds-session-token", content_type="text/plain")
        return Reply(200, json.dumps({"method": request.method, "expires_in": int(self.lifetime)}).encode())


@pytest.fixture
def core() -> Iterator[ServerCore]:
    server = ServerCore([MetadataEndpoint])
    server.start()
    yield server
    server.stop()


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.trust_env = False
        yield session


def _endpoint(core: ServerCore) -> MetadataEndpoint:
    endpoint = core.endpoints["metadata"]
    assert isinstance(endpoint, MetadataEndpoint)
    return endpoint


def test_routes_need_the_query_parameters_and_headers(core: ServerCore, session: requests.Session) -> None:
    url = f"{core.url}/metadata/identity/oauth2/token"
    query = {"api-version": "2018-02-01", "resource": "https://management.azure.com/"}
    assert session.get(url, params=query, headers={"metadata": "true"}).status_code == 200  # any header case
    assert session.get(url, params=query).status_code == 404  # no Metadata header
    assert session.get(url, params=query, headers={"Metadata": "false"}).status_code == 404
    assert session.get(url, params={"api-version": "2018-02-01"}, headers={"Metadata": "true"}).status_code == 404
    assert session.post(url, params=query, headers={"Metadata": "true"}).status_code == 404  # wrong method
    recorded = _endpoint(core).requests
    assert len(recorded) == 1
    assert recorded[0].query == query
    assert recorded[0].header("METADATA") == "true" and recorded[0].header("X-Missing") is None


def test_put_is_served_and_its_body_recorded(core: ServerCore, session: requests.Session) -> None:
    answer = session.put(f"{core.url}/latest/api/token", headers={"X-aws-ec2-metadata-token-ttl-seconds": "21600"})
    assert answer.status_code == 200 and answer.text == "imds-session-token"
    assert session.put(f"{core.url}/latest/api/token").status_code == 404  # the TTL header is required
    (recorded,) = _endpoint(core).requests
    assert recorded.method == "PUT" and recorded.header("x-aws-ec2-metadata-token-ttl-seconds") == "21600"


def test_delete_and_head_are_answered_harmlessly(core: ServerCore, session: requests.Session) -> None:
    deleted = session.delete(f"{core.url}/items/7")
    assert deleted.status_code == 200 and deleted.json()["method"] == "DELETE"
    head = session.head(f"{core.url}/items/7")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["Content-Length"]) > 0  # what GET would send, without sending it
    assert session.get(f"{core.url}/items/7").json()["method"] == "GET"  # the connection is still in step
    assert [r.method for r in _endpoint(core).requests] == ["DELETE", "HEAD", "GET"]


def test_a_refusal_becomes_the_endpoints_error_answer(core: ServerCore, session: requests.Session) -> None:
    answer = session.get(f"{core.url}/items/0")
    assert answer.status_code == 404
    assert answer.json() == {"error": "not_found", "error_description": "no item 0"}


def test_lifetime_is_a_base_property_that_reset_restores(core: ServerCore, session: requests.Session) -> None:
    endpoint = _endpoint(core)
    assert endpoint.lifetime == 3600.0 and endpoint.lifetime_override is None
    endpoint.lifetime = 120
    assert session.get(f"{core.url}/items/1").json()["expires_in"] == 120
    assert endpoint.lifetime_override == 120
    endpoint.reset()
    assert endpoint.lifetime == 3600.0 and endpoint.lifetime_override is None


def test_sts_lifetime_follows_the_duration_unless_set(server: FakeIdentityServer) -> None:
    """F-T4: the STS fake's "unset" lifetime is the base's, with no property fighting the constructor."""
    sts = server.sts
    assert sts.lifetime == 3600.0 and sts.lifetime_override is None
    with server.sts_provider(duration_seconds=900) as provider:
        first = provider.resolve()
        sts.lifetime = 1800
        second = provider.resolve(force_refresh=True)
    issued = sts.issued_credentials
    lifetimes = [i.expiration.timestamp() - r.received_at for i, r in zip(issued, sts.requests)]
    assert lifetimes == [pytest.approx(900, abs=1), pytest.approx(1800, abs=1)]
    assert first.expires_at_epoch is not None and second.expires_at_epoch is not None
    sts.reset()
    assert sts.lifetime_override is None


def test_endpoints_are_a_mapping_by_name_with_positions_for_older_code(core: ServerCore) -> None:
    endpoint = _endpoint(core)
    assert list(core.endpoints) == ["metadata"] and len(core.endpoints) == 1
    assert core.endpoints[0] is endpoint
    assert dict(core.endpoints.items()) == {"metadata": endpoint}
    with pytest.raises(KeyError):
        core.endpoints["azure"]


def test_unrouted_requests_get_404_and_are_not_recorded(core: ServerCore, session: requests.Session) -> None:
    assert session.get(f"{core.url}/nothing/here").status_code == 404
    assert _endpoint(core).request_count == 0
