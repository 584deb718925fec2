"""`UrlPolicy`: https anywhere, http on loopback, http to metadata hosts only when opted in."""

from __future__ import annotations

import dataclasses

import pytest

from literauth import ConfigurationError
from literauth._http import TokenFetcher
from literauth._url import (
    METADATA_HOSTS,
    UrlPolicy,
    check_endpoint_url,
    is_loopback_host,
    is_metadata_host,
)

METADATA_URLS = [
    "http://169.254.169.254/metadata/identity/oauth2/token",
    "http://169.254.170.2/v2/credentials/abc",
    "http://169.254.170.23/v1/credentials",
    "http://[fd00:ec2::254]/latest/api/token",
    "http://[fd00:ec2::23]/v1/credentials",
    "http://[FD00:EC2:0::23]/v1/credentials",
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token",
]


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "127.0.0.1", "127.9.8.7", "::1", "[::1]"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["attacker.localhost", "localhost.", "10.0.0.1", "169.254.169.254", "::2", ""])
def test_not_loopback_hosts(host: str) -> None:
    assert not is_loopback_host(host)


def test_star_localhost_is_refused_over_http() -> None:
    with pytest.raises(ConfigurationError, match="plain http"):
        check_endpoint_url("http://attacker.localhost/token", "endpoint")


@pytest.mark.parametrize("url", METADATA_URLS)
def test_metadata_hosts_need_the_metadata_policy(url: str) -> None:
    with pytest.raises(ConfigurationError, match="only allowed on loopback"):
        check_endpoint_url(url, "endpoint")
    with pytest.raises(ConfigurationError):
        TokenFetcher("p", url)
    assert check_endpoint_url(url, "endpoint", UrlPolicy.METADATA) == url
    assert TokenFetcher("p", url, url_policy=UrlPolicy.METADATA).url == url


@pytest.mark.parametrize("url", ["http://169.254.1.1/token", "http://10.0.0.1/token", "http://metadata.google.internal.evil/x",
                                 "http://example.com/token", "http://[fd00:ec2::1]/x", "ftp://169.254.169.254/x"])
def test_the_metadata_policy_is_no_general_http(url: str) -> None:
    with pytest.raises(ConfigurationError):
        check_endpoint_url(url, "endpoint", UrlPolicy.METADATA)


def test_https_and_loopback_http_pass_both_policies() -> None:
    for policy in (UrlPolicy.DEFAULT, UrlPolicy.METADATA):
        assert policy.check(" https://login.example.com/t ", "e") == "https://login.example.com/t"
        assert policy.check("http://127.0.0.1:8080/t", "e") == "http://127.0.0.1:8080/t"


def test_the_policy_is_a_frozen_value() -> None:
    assert METADATA_HOSTS >= {"169.254.169.254", "metadata.google.internal"}
    assert is_metadata_host("[fd00:ec2:0:0::254]") and not is_metadata_host("169.254.169.253")
    with pytest.raises(dataclasses.FrozenInstanceError):
        UrlPolicy.DEFAULT.metadata_http = True  # type: ignore[misc]


@pytest.mark.parametrize("policy", [UrlPolicy.DEFAULT, UrlPolicy.METADATA])
def test_errors_quote_scheme_host_and_path_only(policy: UrlPolicy) -> None:
    for url in ("http://user:hunter2@example.com/token", "http://example.com/token?key=hunter2#hunter2",
                "ftp://example.com/token?key=hunter2", "http://10.0.0.1/p?hunter2"):
        with pytest.raises(ConfigurationError) as info:
            policy.check(url, "endpoint")
        assert "hunter2" not in str(info.value)
    with pytest.raises(ConfigurationError) as info:
        policy.check("http://10.0.0.1/path?secret=hunter2", "endpoint")
    assert "'http://10.0.0.1/path'" in str(info.value)


def test_the_fetcher_settings_are_read_only() -> None:
    fetcher = TokenFetcher("p", "https://login.example.com/token")
    assert (fetcher.provider, fetcher.url, fetcher.host) == ("p", "https://login.example.com/token", "login.example.com")
    assert fetcher.config.url_policy is UrlPolicy.DEFAULT
    with pytest.raises(AttributeError):
        fetcher.url = "https://elsewhere.example/token"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        fetcher.config.url = "https://elsewhere.example/token"  # type: ignore[misc]
