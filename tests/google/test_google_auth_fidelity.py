"""Fidelity against google-auth: its metadata and user credentials get tokens from the same fakes, with
the same requests, and its `default()` chooses the source literauth's does for a table of environments.

google-auth reads ``GCE_METADATA_HOST`` when `google.auth.compute_engine` is imported, so
whatever touches the metadata server runs google-auth in a subprocess with the variables set.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from collections.abc import Callable, Mapping

import google.auth.transport.requests
import google.oauth2.credentials
import pytest

from literauth import (
    AuthorizedUserCredentialProvider,
    ConfigurationError,
    SourceNotConfigured,
)
from literauth.google import default
from literauth.testing import FakeIdentityServer, RecordedRequest
from literauth.testing.google.metadata import refused_port

CLOUD = "https://www.googleapis.com/auth/cloud-platform"
GEMINI = "https://www.googleapis.com/auth/generative-language"


def _run_google_auth(code: str, environ: Mapping[str, str]) -> dict[str, object]:
    """Run `code` (which prints one JSON line last) in a fresh interpreter with only `environ`."""
    env = {"PATH": os.environ.get("PATH", ""), "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
           "GCE_METADATA_DETECT_RETRIES": "1", **environ}  # one ping: the decision is the same, faster
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env, check=False)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _token_request(requests: list[RecordedRequest]) -> RecordedRequest:
    (found,) = [r for r in requests if r.path.endswith("/token")]
    return found


_COMPUTE = """
import json
import google.auth.transport.requests
from google.auth import compute_engine
creds = compute_engine.Credentials(scopes={scopes!r})
creds.refresh(google.auth.transport.requests.Request())
print(json.dumps({{"token": creds.token, "email": creds.service_account_email}}))
"""


@pytest.mark.parametrize("scopes", [None, [CLOUD, GEMINI]])
def test_compute_engine_requests_match(server: FakeIdentityServer, scopes: list[str] | None) -> None:
    metadata = server.google_metadata
    peer = _run_google_auth(_COMPUTE.format(scopes=scopes), metadata.environ())
    assert metadata.check_token(str(peer["token"])) is not None  # the fake's token, accepted by google-auth
    assert peer["email"] == metadata.default_account.email
    theirs = _token_request(metadata.requests)
    metadata.reset()
    with server.provider("google.compute_engine", scopes=scopes) as ours:
        token = ours.resolve()
        assert ours.service_account_email == peer["email"]
    mine = _token_request(metadata.requests)
    assert metadata.check_token(token.token.expose_secret()) is not None  # type: ignore[attr-defined]
    assert (mine.method, mine.path) == (theirs.method, theirs.path)
    assert mine.header("Metadata-Flavor") == theirs.header("Metadata-Flavor") == "Google"
    if scopes is None:  # google-auth reads the instance's scopes first and sends them; the server applies them anyway
        assert mine.query == {} and theirs.query == {"scopes": ",".join(metadata.default_account.scopes)}
    else:
        assert mine.query == theirs.query == {"scopes": ",".join(scopes)}
    # google-auth asks the account's info on every refresh; literauth asks only for the token
    assert len(metadata.requests) == 2 and metadata.requests[0].path.endswith("/token")


def test_authorized_user_requests_match(server: FakeIdentityServer) -> None:
    user = server.google_user
    info = user.login()
    theirs = google.oauth2.credentials.Credentials(
        token=None, refresh_token=info["refresh_token"], client_id=info["client_id"],
        client_secret=info["client_secret"], token_uri=user.token_uri,
    )
    session = server.session()
    theirs.refresh(google.auth.transport.requests.Request(session=session))
    assert theirs.token == user.issued_tokens[0]
    with AuthorizedUserCredentialProvider.from_info(info, session=session) as ours:
        token = ours.resolve()
    assert token.token.expose_secret() == user.issued_tokens[1]  # type: ignore[attr-defined]
    peer_request, our_request = user.requests

    def wire(request: RecordedRequest) -> dict[str, str]:
        return {k: v if isinstance(v, str) else v.expose_secret() for k, v in request.form.items()}

    assert wire(our_request) == wire(peer_request)
    assert (our_request.method, our_request.path) == (peer_request.method, peer_request.path)
    assert our_request.header("Content-Type") == peer_request.header("Content-Type")


# -- default(): the same choice ----------------------------------------------------------------------

_DEFAULT = """
import json
import google.auth
from google.auth import exceptions
try:
    creds, _ = google.auth.default()
    print(json.dumps({"chosen": type(creds).__module__ + "." + type(creds).__name__}))
except exceptions.DefaultCredentialsError as exc:
    print(json.dumps({"chosen": None, "error": str(exc)}))
"""

_PEER_CLASSES = {
    "google.oauth2.service_account.Credentials": "VertexOAuthCredentialProvider",
    "google.oauth2.credentials.Credentials": "AuthorizedUserCredentialProvider",
    "google.auth.compute_engine.credentials.Credentials": "ComputeEngineCredentialProvider",
    "google.auth.identity_pool.Credentials": "ExternalAccountCredentialProvider",
    "google.auth.impersonated_credentials.Credentials": "ImpersonatedCredentialProvider",
}

Setup = Callable[[FakeIdentityServer, pathlib.Path], dict[str, str]]


def _refused(server: FakeIdentityServer, tmp: pathlib.Path) -> dict[str, str]:
    host = f"127.0.0.1:{refused_port()}"
    home = tmp / "home"
    home.mkdir(exist_ok=True)
    return {"GCE_METADATA_HOST": host, "GCE_METADATA_IP": host, "HOME": str(home), "GOOGLE_CLOUD_PROJECT": "p"}


def _live_metadata(server: FakeIdentityServer, tmp: pathlib.Path) -> dict[str, str]:
    return {**_refused(server, tmp), **server.google_metadata.environ()}


def _key_file(server: FakeIdentityServer, tmp: pathlib.Path) -> dict[str, str]:
    return {"GOOGLE_APPLICATION_CREDENTIALS": str(server.google.write_key_file(tmp / "sa.json"))}


def _user_file(server: FakeIdentityServer, tmp: pathlib.Path) -> dict[str, str]:
    return {"GOOGLE_APPLICATION_CREDENTIALS": server.google_user.write_adc_file(tmp / "user")}


def _gcloud(server: FakeIdentityServer, tmp: pathlib.Path) -> dict[str, str]:
    server.google_user.write_adc_file(tmp / "gcloud")
    return {"CLOUDSDK_CONFIG": str(tmp / "gcloud")}


def _gcloud_at_home(server: FakeIdentityServer, tmp: pathlib.Path) -> dict[str, str]:
    server.google_user.write_adc_file(tmp / "home" / ".config" / "gcloud")
    return {}


def _weird_type(server: FakeIdentityServer, tmp: pathlib.Path) -> dict[str, str]:
    (tmp / "weird.json").write_text(json.dumps({"type": "weird"}))
    return {"GOOGLE_APPLICATION_CREDENTIALS": str(tmp / "weird.json")}


def _missing_file(server: FakeIdentityServer, tmp: pathlib.Path) -> dict[str, str]:
    return {"GOOGLE_APPLICATION_CREDENTIALS": str(tmp / "absent.json")}


def _external_account(server: FakeIdentityServer, tmp: pathlib.Path) -> dict[str, str]:
    return server.endpoint("google.external_account").environ(tmp)


def _impersonated(server: FakeIdentityServer, tmp: pathlib.Path) -> dict[str, str]:
    """A user login as the source: google-auth refuses an external_account source, literauth does not."""
    info = server.endpoint("google.impersonated").impersonation_info(server.google_user.login())  # type: ignore[attr-defined]
    (tmp / "impersonated.json").write_text(json.dumps(info))
    return {"GOOGLE_APPLICATION_CREDENTIALS": str(tmp / "impersonated.json")}


def _no_gce_check(server: FakeIdentityServer, tmp: pathlib.Path) -> dict[str, str]:
    return {"NO_GCE_CHECK": "true"}


ENVIRONMENTS: dict[str, tuple[Setup, tuple[Setup, ...]]] = {
    "nothing (metadata refused)": (_refused, ()),
    "metadata server": (_live_metadata, ()),
    "key file": (_refused, (_key_file,)),
    "user file named": (_refused, (_user_file,)),
    "gcloud file (CLOUDSDK_CONFIG)": (_refused, (_gcloud,)),
    "gcloud file in HOME": (_refused, (_gcloud_at_home,)),
    "key file beats gcloud and metadata": (_live_metadata, (_gcloud, _key_file)),
    "gcloud beats metadata": (_live_metadata, (_gcloud,)),
    "unknown type is an error": (_live_metadata, (_weird_type, _gcloud)),
    "missing named file is an error": (_live_metadata, (_missing_file, _gcloud)),
    "NO_GCE_CHECK": (_live_metadata, (_no_gce_check,)),
    "external account file": (_live_metadata, (_external_account, _gcloud)),
    "impersonation file": (_live_metadata, (_impersonated,)),
}


def _ours(environ: Mapping[str, str], session: object) -> str | None:
    try:
        return type(default(environ=environ, session=session).choose()).__name__
    except SourceNotConfigured:
        return None
    except ConfigurationError:
        return "error"


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_default_chooses_the_source_google_auth_chooses(
    server: FakeIdentityServer, tmp_path: pathlib.Path, name: str
) -> None:
    base, extras = ENVIRONMENTS[name]
    environ = base(server, tmp_path)
    for extra in extras:
        environ.update(extra(server, tmp_path))
    peer = _run_google_auth(_DEFAULT, environ)
    if peer["chosen"] is None:
        refused = any(words in str(peer["error"]) for words in ("was not found", "does not have a valid type"))
        expected = "error" if refused else None  # a named file that is unusable stops both chains
    else:
        expected = _PEER_CLASSES[str(peer["chosen"])]
    assert _ours(environ, server.session()) == expected, peer
