"""Application Default Credentials: the order of sources, the file type dispatch, the metadata probe's deadline, the project id.

Every chain here points the metadata server at the fake, a refused loopback port or a
silent one, and HOME at a temporary directory (no real gcloud file is read).
"""

from __future__ import annotations

import json
import pathlib
import time

import pytest

import literauth.google
from literauth import (
    AuthorizedUserCredentialProvider,
    ComputeEngineCredentialProvider,
    ConfigurationError,
    SourceNotConfigured,
    VertexOAuthCredentialProvider,
)
from literauth.google import GoogleDefaultChain, default
from literauth.google._adc import DEFAULT_METADATA_TIMEOUT
from literauth.google._adc_file import (
    SUPPORTED_TYPES,
    provider_from_info,
    well_known_file,
)
from literauth.testing import FakeIdentityServer
from literauth.testing.google.metadata import BlackHole, refused_port

GEMINI = "https://www.googleapis.com/auth/generative-language"


@pytest.fixture
def off_google(tmp_path: pathlib.Path) -> dict[str, str]:
    """No credentials anywhere: metadata on a refused port, an empty home."""
    host = f"127.0.0.1:{refused_port()}"
    return {"GCE_METADATA_HOST": host, "GCE_METADATA_IP": host, "HOME": str(tmp_path / "home")}


def _service_account_file(server: FakeIdentityServer, tmp_path: pathlib.Path) -> str:
    return str(server.google.write_key_file(tmp_path / "sa.json"))


def _gcloud_dir(server: FakeIdentityServer, tmp_path: pathlib.Path) -> str:
    folder = tmp_path / "gcloud"
    server.google_user.write_adc_file(folder)
    return str(folder)


def _chosen(chain: GoogleDefaultChain) -> list[str]:
    return [outcome.status for outcome in chain.describe()]


# -- the order -------------------------------------------------------------------------------------


def test_nothing_is_read_or_probed_until_first_use(off_google: dict[str, str]) -> None:
    chain = default(environ={**off_google, "GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/file.json"})
    assert _chosen(chain) == ["not tried"] * 3
    with pytest.raises(ConfigurationError, match="does not exist"):
        chain.resolve()


def test_google_application_credentials_wins(server: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    environ = {**server.environ(tmp_path), "GOOGLE_APPLICATION_CREDENTIALS": _service_account_file(server, tmp_path)}
    chain = default(environ=environ, session=server.session())
    chain.resolve()
    assert isinstance(chain.chosen, VertexOAuthCredentialProvider)
    assert _chosen(chain) == ["chosen", "not tried", "not tried"]
    assert server.google_metadata.request_count == 0  # never probed


def test_the_gcloud_file_comes_next(server: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    environ = {**server.environ(tmp_path), "CLOUDSDK_CONFIG": _gcloud_dir(server, tmp_path)}
    del environ["GOOGLE_APPLICATION_CREDENTIALS"]
    chain = default(environ=environ, session=server.session())
    chain.resolve()
    assert isinstance(chain.chosen, AuthorizedUserCredentialProvider)
    assert chain.describe()[0].reason == "GOOGLE_APPLICATION_CREDENTIALS is not set"
    assert _chosen(chain) == ["skipped", "chosen", "not tried"]
    assert server.google_metadata.request_count == 0


def test_the_metadata_server_comes_last(server: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    metadata = server.google_metadata
    environ = {**metadata.environ(), "HOME": str(tmp_path)}
    chain = default(environ=environ, scopes=GEMINI, session=server.session())
    token = chain.resolve()
    assert isinstance(chain.chosen, ComputeEngineCredentialProvider)
    assert _chosen(chain) == ["skipped", "skipped", "chosen"]
    assert "no file at" in str(chain.describe()[1].reason)
    probe, fetch = metadata.requests
    assert probe.path == "/" and fetch.query == {"scopes": GEMINI}
    assert metadata.check_token(token.token.expose_secret()) is not None  # type: ignore[attr-defined]


def test_no_credentials_lists_every_source(off_google: dict[str, str]) -> None:
    chain = default(environ=off_google)
    started = time.monotonic()
    with pytest.raises(SourceNotConfigured) as caught:
        chain.resolve()
    assert time.monotonic() - started < 0.5  # a refused port ends the probe at once
    message = str(caught.value)
    for part in ("GOOGLE_APPLICATION_CREDENTIALS: skipped (GOOGLE_APPLICATION_CREDENTIALS is not set)",
                 "gcloud ADC file: skipped (no file at", "metadata server: skipped (no Google metadata server at 127.0.0.1:",
                 "connection refused after"):
        assert part in message
    assert _chosen(chain) == ["skipped"] * 3


def test_a_silent_metadata_address_costs_one_deadline(off_google: dict[str, str]) -> None:
    with BlackHole() as hole:
        chain = default(environ={**off_google, "GCE_METADATA_HOST": hole.host, "GCE_METADATA_IP": hole.host},
                        metadata_timeout=0.4)
        started = time.monotonic()
        with pytest.raises(SourceNotConfigured, match="no answer within 0.4 s"):
            chain.choose()
        elapsed = time.monotonic() - started
    assert 0.35 < elapsed < 1.5


def test_the_default_deadline_is_one_second() -> None:
    assert DEFAULT_METADATA_TIMEOUT == 1.0


def test_no_gce_check_skips_the_metadata_server(server: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    environ = {**server.google_metadata.environ(), "HOME": str(tmp_path), "NO_GCE_CHECK": "true"}
    with pytest.raises(SourceNotConfigured, match=r"metadata server: skipped \(NO_GCE_CHECK=true\)"):
        default(environ=environ).choose()
    assert server.google_metadata.request_count == 0


# -- files -----------------------------------------------------------------------------------------


def test_a_named_file_that_is_unusable_fails_the_chain(off_google: dict[str, str], tmp_path: pathlib.Path,
                                                       server: FakeIdentityServer) -> None:
    path = tmp_path / "weird.json"
    path.write_text(json.dumps({"type": "weird"}))
    environ = {**off_google, "GOOGLE_APPLICATION_CREDENTIALS": str(path), "CLOUDSDK_CONFIG": _gcloud_dir(server, tmp_path)}
    chain = default(environ=environ)
    with pytest.raises(ConfigurationError) as caught:
        chain.resolve()
    assert not isinstance(caught.value, SourceNotConfigured)  # a mistake is never skipped
    assert "type 'weird'" in str(caught.value)
    assert ", ".join(SUPPORTED_TYPES) in str(caught.value)
    assert _chosen(chain) == ["failed", "not tried", "not tried"]


@pytest.mark.parametrize(("info", "match"), [
    ({}, "type missing"),
    ({"type": "gdch_service_account"}, "type 'gdch_service_account'"),
    ([], "not a JSON object"),
])
def test_provider_from_info_names_the_type(info: object, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        provider_from_info(info)  # type: ignore[arg-type]


def test_provider_from_info_dispatches_and_applies_scopes(server: FakeIdentityServer) -> None:
    account = provider_from_info(server.google.register_service_account(), scopes=GEMINI)
    assert isinstance(account, VertexOAuthCredentialProvider) and account.scopes == (GEMINI,)
    assert provider_from_info(server.google.register_service_account()).scopes == (  # type: ignore[attr-defined]
        "https://www.googleapis.com/auth/cloud-platform",)
    user = provider_from_info(server.google_user.login(), scopes=GEMINI)
    assert isinstance(user, AuthorizedUserCredentialProvider) and user.scopes == (GEMINI,)


@pytest.mark.parametrize(("environ", "windows", "expected"), [
    ({"CLOUDSDK_CONFIG": "/etc/gc", "HOME": "/h"}, False, "/etc/gc/application_default_credentials.json"),
    ({"HOME": "/h"}, False, "/h/.config/gcloud/application_default_credentials.json"),
    ({"APPDATA": "/appdata", "HOME": "/h"}, True, "/appdata/gcloud/application_default_credentials.json"),
    ({}, False, None),
    ({"HOME": "/h"}, True, None),
])
def test_the_well_known_file(environ: dict[str, str], windows: bool, expected: str | None) -> None:
    found = well_known_file(environ, windows=windows)
    assert (None if found is None else found.replace("\\", "/")) == expected


def test_without_a_home_the_gcloud_file_is_skipped(off_google: dict[str, str]) -> None:
    environ = {k: v for k, v in off_google.items() if k != "HOME"}
    chain = default(environ=environ)
    with pytest.raises(SourceNotConfigured, match=r"gcloud ADC file: skipped \(neither CLOUDSDK_CONFIG nor HOME is set\)"):
        chain.choose()


# -- project id -----------------------------------------------------------------------------------


def test_the_project_variable_wins_without_any_lookup(off_google: dict[str, str]) -> None:
    chain = default(environ={**off_google, "GOOGLE_CLOUD_PROJECT": "from-env", "GCLOUD_PROJECT": "older"})
    assert chain.project_id == "from-env"
    assert _chosen(chain) == ["not tried"] * 3
    assert default(environ={**off_google, "GCLOUD_PROJECT": "older"}).project_id == "older"


def test_the_project_of_a_key_file(server: FakeIdentityServer, tmp_path: pathlib.Path, off_google: dict[str, str]) -> None:
    environ = {**off_google, "GOOGLE_APPLICATION_CREDENTIALS": _service_account_file(server, tmp_path)}
    assert default(environ=environ).project_id == "literauth-test"
    assert server.google.request_count == 0  # no token was needed for it


def test_a_user_login_gives_its_quota_project(server: FakeIdentityServer, tmp_path: pathlib.Path,
                                              off_google: dict[str, str]) -> None:
    chain = default(environ={**off_google, "CLOUDSDK_CONFIG": _gcloud_dir(server, tmp_path)})
    assert chain.project_id == chain.quota_project_id == "literauth-quota"
    assert default(environ={**off_google, "CLOUDSDK_CONFIG": _gcloud_dir(server, tmp_path),
                            "GOOGLE_CLOUD_QUOTA_PROJECT": "billing"}).quota_project_id == "billing"


def test_the_metadata_servers_project_is_asked_once(server: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    metadata = server.google_metadata
    chain = default(environ={**metadata.environ(), "HOME": str(tmp_path)})
    assert chain.project_id == metadata.project_id
    assert chain.project_id == metadata.project_id
    assert [r.path for r in metadata.requests] == ["/", "/computeMetadata/v1/project/project-id"]
    assert chain.quota_project_id is None


def test_no_project_anywhere_is_none(server: FakeIdentityServer, tmp_path: pathlib.Path, off_google: dict[str, str]) -> None:
    info = server.google.register_service_account()
    del info["project_id"]
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(info))
    assert default(environ={**off_google, "GOOGLE_APPLICATION_CREDENTIALS": str(path)}).project_id is None


def test_bad_metadata_timeout_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="metadata_timeout"):
        default(environ={}, metadata_timeout=0)


def test_default_is_exported() -> None:
    assert literauth.google.default is default


# -- the federation file types, through the same dispatch ------------------------------------------


@pytest.mark.parametrize(("spec", "class_name"), [
    ("google.external_account", "ExternalAccountCredentialProvider"),
    ("google.impersonated", "ImpersonatedCredentialProvider"),
])
def test_federation_files_are_dispatched_by_type(
    server: FakeIdentityServer, tmp_path: pathlib.Path, off_google: dict[str, str], spec: str, class_name: str
) -> None:
    environ = {**off_google, **server.endpoint(spec).environ(tmp_path)}
    chain = default(environ=environ, session=server.session())
    token = chain.resolve()
    assert type(chain.chosen).__name__ == class_name
    assert token.expires_at_epoch is not None
    assert _chosen(chain) == ["chosen", "not tried", "not tried"]
