"""Fixtures of the Google tests: the federation fakes of the test's `FakeIdentityServer`."""

from __future__ import annotations

import pytest

from literauth.testing import FakeIdentityServer
from literauth.testing.google.iam import GoogleIamEndpoint
from literauth.testing.google.sts import GoogleStsEndpoint


@pytest.fixture
def sts(server: FakeIdentityServer) -> GoogleStsEndpoint:
    """The fake Google STS (and its OIDC issuer and trusted AWS keys)."""
    endpoint = server.endpoint("google.external_account")
    assert isinstance(endpoint, GoogleStsEndpoint)
    return endpoint


@pytest.fixture
def iam(server: FakeIdentityServer) -> GoogleIamEndpoint:
    """The fake IAM Credentials `generateAccessToken`."""
    endpoint = server.endpoint("google.impersonated")
    assert isinstance(endpoint, GoogleIamEndpoint)
    return endpoint
