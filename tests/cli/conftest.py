"""Fixtures of the CLI tests: a process environment pointed at the fake server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from literauth.testing import FakeIdentityServer

CLEARED = ("AZURE_", "AWS_", "GOOGLE_", "VERTEX_", "LITERAUTH_", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def clean_environ() -> dict[str, str]:
    """This process's environment without any cloud, literauth or CA-bundle variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith(CLEARED)}


@pytest.fixture
def env(server: FakeIdentityServer, tmp_path: Path) -> dict[str, str]:
    """A process environment whose from_env() setups all point at the fake server."""
    environ = clean_environ()
    environ.update(server.environ(tmp_path))
    return environ
