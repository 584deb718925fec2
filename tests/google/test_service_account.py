"""The Vertex AI service-account provider over real HTTP to the fake Google token endpoint."""

from __future__ import annotations

import base64
import datetime
import importlib.util
import json
import logging
import pathlib
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from google.auth import exceptions as google_exceptions
from google.auth import jwt as google_jwt

from literauth import (
    BearerToken,
    ConfigurationError,
    MalformedResponseError,
    SecretString,
    TokenEndpointError,
)
from literauth._http import TokenResponse
from literauth.credentials import UTC
from literauth.google import service_account
from literauth.google.service_account import (
    DEFAULT_SCOPE,
    DEFAULT_TOKEN_URI,
    VertexOAuthCredentialProvider,
)
from literauth.testing import FakeIdentityServer, SyncedClock
from literauth.testing.google.oauth import GoogleOAuthEndpoint

from ..conftest import FakeClock, FakeSleep, assert_no_secret

ROOT = pathlib.Path(__file__).resolve().parents[2]
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GEMINI_SCOPE = "https://www.googleapis.com/auth/generative-language"


# -- fixtures ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    """The service account's key: one 2048-bit key for the module keeps the tests fast."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    """A key nobody registered: what an attacker, or a stale key file, signs with."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def clock(server: FakeIdentityServer) -> SyncedClock:
    return SyncedClock(server)


@pytest.fixture
def google(server: FakeIdentityServer) -> GoogleOAuthEndpoint:
    return server.google


@pytest.fixture
def info(google: GoogleOAuthEndpoint, rsa_key: rsa.RSAPrivateKey) -> dict[str, str]:
    """Key-file content of a service account registered with the fake endpoint."""
    return google.register_service_account(private_key=rsa_key)


@pytest.fixture
def make(clock: SyncedClock) -> Callable[..., VertexOAuthCredentialProvider]:
    """Build a provider from info on the synced clock, refreshing inline, retrying without sleeping."""

    def build(info: Mapping[str, Any], **options: Any) -> VertexOAuthCredentialProvider:
        options.setdefault("clock", clock)
        options.setdefault("sleep", FakeSleep())
        options.setdefault("background_refresh", False)
        options.setdefault("cache", False)  # each provider fetches: the fake's answers are under test
        return VertexOAuthCredentialProvider.from_service_account_json(dict(info), **options)

    return build


def _pem_body(pem: str) -> str:
    """The base64 of a PEM without its armour lines: the part that must never leak."""
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


def _certificate(key: rsa.RSAPrivateKey) -> str:
    """A self-signed X.509 certificate for the key, as Google publishes for each key id."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "literauth-test")])
    now = datetime.datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


def _assertion(google: GoogleOAuthEndpoint, index: int = -1) -> str:
    value = google.requests[index].form["assertion"]
    assert isinstance(value, SecretString)
    return value.expose_secret()


def _token(credential: object) -> str:
    assert isinstance(credential, BearerToken)
    return credential.token.expose_secret()


# -- imports and the optional extra -----------------------------------------------------------------


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def test_importing_the_module_loads_neither_cryptography_nor_jwt() -> None:
    result = _run(
        "import sys, literauth.google.service_account\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('cryptography', 'jwt')))"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_testing_package_imports_without_the_extra() -> None:
    result = _run(
        "import sys\n"
        "sys.modules['jwt'] = None; sys.modules['cryptography'] = None\n"
        "from literauth.testing import FakeIdentityServer\n"
        "with FakeIdentityServer() as server: print(server.google.name)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "google"


@pytest.mark.parametrize("package", ["jwt", "cryptography"])
def test_without_the_extra_construction_says_how_to_install(
    package: str, info: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, package, None)
    with pytest.raises(ConfigurationError) as caught:
        VertexOAuthCredentialProvider.from_service_account_json(info)
    assert 'pip install "literauth[vertex-auth]"' in str(caught.value)


# -- the token request ------------------------------------------------------------------------------


def test_assertion_carries_every_header_field_and_claim(
    make: Callable[..., VertexOAuthCredentialProvider], google: GoogleOAuthEndpoint,
    info: dict[str, str], clock: SyncedClock,
) -> None:
    token = make(info).resolve()
    assert _token(token) == google.issued_tokens[-1]
    [request] = google.requests
    assert request.path == "/token" and request.method == "POST"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert set(request.form) == {"grant_type", "assertion"}
    assert request.form["grant_type"] == GRANT
    assert isinstance(request.form["assertion"], SecretString)
    [accepted] = google.accepted
    assert dict(accepted.header) == {"alg": "RS256", "typ": "JWT", "kid": info["private_key_id"]}
    issued_at = int(clock.now) - 30
    assert dict(accepted.claims) == {
        "iss": info["client_email"],
        "scope": DEFAULT_SCOPE,
        "aud": info["token_uri"],
        "iat": issued_at,
        "exp": issued_at + 3600,
    }
    assert token.expires_at_epoch == pytest.approx(clock.now + 3600)


def test_same_assertion_verifies_with_google_auth(
    make: Callable[..., VertexOAuthCredentialProvider], google: GoogleOAuthEndpoint,
    info: dict[str, str], rsa_key: rsa.RSAPrivateKey, other_key: rsa.RSAPrivateKey,
) -> None:
    make(info).resolve()
    assertion = _assertion(google)
    certs = {info["private_key_id"]: _certificate(rsa_key)}
    claims = google_jwt.decode(assertion, certs=certs, audience=info["token_uri"])
    assert claims["iss"] == info["client_email"]
    assert claims["scope"] == DEFAULT_SCOPE
    assert claims["exp"] - claims["iat"] == 3600
    with pytest.raises(google_exceptions.GoogleAuthError):  # the oracle does reject
        google_jwt.decode(assertion, certs={info["private_key_id"]: _certificate(other_key)})
    with pytest.raises(google_exceptions.GoogleAuthError):
        google_jwt.decode(assertion, certs=certs, audience=DEFAULT_TOKEN_URI)


def test_token_is_cached_then_refreshed_before_expiry(
    make: Callable[..., VertexOAuthCredentialProvider], google: GoogleOAuthEndpoint,
    info: dict[str, str], clock: SyncedClock,
) -> None:
    provider = make(info)
    first = provider.resolve()
    assert provider.resolve() is first
    clock.advance(3600 - 300 - 10)  # just before the refresh window (margin 300 s, jitter <= 5 s)
    assert provider.resolve() is first
    assert google.request_count == 1
    clock.advance(20)  # inside it: refreshed, the old token still served meanwhile
    provider.resolve()
    assert google.request_count == 2
    second = provider.resolve()
    assert _token(second) == google.issued_tokens[-1] != _token(first)
    assert google.accepted[-1].claims["iat"] == int(clock.now) - 30
    assert second.expires_at_epoch == pytest.approx(clock.now + 3600)
    stats = provider.stats()
    assert stats.token_requests == 2 and stats.failures == 0


def test_expiry_follows_the_lifetime_the_server_grants(
    make: Callable[..., VertexOAuthCredentialProvider], google: GoogleOAuthEndpoint,
    info: dict[str, str], clock: SyncedClock,
) -> None:
    google.lifetime = 1200
    assert make(info).resolve().expires_at_epoch == pytest.approx(clock.now + 1200)


@pytest.mark.parametrize(("key_format", "armour"), [("pkcs8", "PRIVATE KEY"), ("pkcs1", "RSA PRIVATE KEY")])
def test_pkcs8_and_pkcs1_keys_both_work(
    key_format: str, armour: str, make: Callable[..., VertexOAuthCredentialProvider],
    google: GoogleOAuthEndpoint, rsa_key: rsa.RSAPrivateKey,
) -> None:
    info = google.register_service_account(private_key=rsa_key, key_format=key_format)
    assert info["private_key"].startswith(f"-----BEGIN {armour}-----")
    assert _token(make(info).resolve()) == google.issued_tokens[-1]


def test_key_file_token_uri_is_used_and_is_the_audience(
    make: Callable[..., VertexOAuthCredentialProvider], google: GoogleOAuthEndpoint, info: dict[str, str],
) -> None:
    provider = make(info)
    assert provider.token_uri == info["token_uri"] != DEFAULT_TOKEN_URI
    provider.resolve()
    assert google.request_count == 1
    assert google.accepted[0].claims["aud"] == info["token_uri"]


def test_google_token_uri_is_the_default(info: dict[str, str]) -> None:
    del info["token_uri"]
    assert VertexOAuthCredentialProvider.from_service_account_json(info).token_uri == DEFAULT_TOKEN_URI


def test_scopes_are_sent_space_separated(
    make: Callable[..., VertexOAuthCredentialProvider], google: GoogleOAuthEndpoint, info: dict[str, str],
) -> None:
    provider = make(info, scopes=[DEFAULT_SCOPE, GEMINI_SCOPE])
    provider.resolve()
    assert provider.scopes == (DEFAULT_SCOPE, GEMINI_SCOPE)
    assert google.accepted[0].claims["scope"] == f"{DEFAULT_SCOPE} {GEMINI_SCOPE}"


@pytest.mark.parametrize("scopes", ["", "   ", [], ["a b"], [""], [None]])
def test_unusable_scopes_are_refused(scopes: Any, info: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="scope"):
        VertexOAuthCredentialProvider.from_service_account_json(info, scopes=scopes)


def test_with_scope_gets_its_own_cache(
    make: Callable[..., VertexOAuthCredentialProvider], google: GoogleOAuthEndpoint,
    info: dict[str, str], clock: SyncedClock,
) -> None:
    base = make(info)
    base_token = _token(base.resolve())
    scoped = base.with_scope(GEMINI_SCOPE)
    assert scoped is not base and scoped.scopes == (GEMINI_SCOPE,) and base.scopes == (DEFAULT_SCOPE,)
    scoped_token = _token(scoped.resolve())
    assert google.request_count == 2
    assert google.accepted[1].claims["scope"] == GEMINI_SCOPE
    assert google.accepted[1].claims["iat"] == int(clock.now) - 30  # the options, clock included, carry over
    assert scoped_token != base_token
    scoped.invalidate()
    assert _token(base.resolve()) == base_token
    assert google.request_count == 2
    assert scoped.client_email == base.client_email and scoped.token_uri == base.token_uri


def test_many_threads_share_one_token_request(
    make: Callable[..., VertexOAuthCredentialProvider], google: GoogleOAuthEndpoint, info: dict[str, str],
) -> None:
    provider = make(info)
    google.latency = 0.05
    barrier = threading.Barrier(8)
    tokens: list[str] = []

    def worker() -> None:
        barrier.wait()
        tokens.append(_token(provider.resolve()))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(tokens) == 8 and len(set(tokens)) == 1
    assert google.request_count == 1


# -- from_env, from_key_file, from_service_account_json ------------------------------------------


def test_from_env_reads_the_key_file_and_scope(
    google: GoogleOAuthEndpoint, info: dict[str, str], tmp_path: pathlib.Path, clock: SyncedClock,
) -> None:
    path = google.write_key_file(tmp_path / "key.json", info)
    assert (path.stat().st_mode & 0o777) == 0o600
    environ = {"GOOGLE_APPLICATION_CREDENTIALS": str(path), "VERTEX_AI_SCOPE": GEMINI_SCOPE}
    provider = VertexOAuthCredentialProvider.from_env(environ, clock=clock)
    provider.resolve()
    assert google.accepted[0].claims["scope"] == GEMINI_SCOPE
    assert google.accepted[0].claims["iss"] == info["client_email"]


@pytest.mark.parametrize("scope", [None, "", "  "])
def test_from_env_default_scope(scope: str | None, google: GoogleOAuthEndpoint, tmp_path: pathlib.Path) -> None:
    environ = {"GOOGLE_APPLICATION_CREDENTIALS": str(google.write_key_file(tmp_path / "k.json"))}
    if scope is not None:
        environ["VERTEX_AI_SCOPE"] = scope
    assert VertexOAuthCredentialProvider.from_env(environ).scopes == (DEFAULT_SCOPE,)


@pytest.mark.parametrize("environ", [{}, {"GOOGLE_APPLICATION_CREDENTIALS": " "}])
def test_from_env_requires_the_credentials_variable(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigurationError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        VertexOAuthCredentialProvider.from_env(environ)


def test_from_env_defaults_to_os_environ(
    google: GoogleOAuthEndpoint, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = google.register_service_account()
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(google.write_key_file(tmp_path / "k.json", info)))
    monkeypatch.delenv("VERTEX_AI_SCOPE", raising=False)
    assert VertexOAuthCredentialProvider.from_env().client_email == info["client_email"]


def test_from_service_account_json_accepts_json_text(
    make: Callable[..., VertexOAuthCredentialProvider], google: GoogleOAuthEndpoint, info: dict[str, str],
) -> None:
    provider = VertexOAuthCredentialProvider.from_service_account_json(json.dumps(info))
    assert provider.client_email == info["client_email"]
    with pytest.raises(ConfigurationError, match="not JSON"):
        VertexOAuthCredentialProvider.from_service_account_json("{not json")


# -- every key-file fault ---------------------------------------------------------------------------


def _broken_file(tmp_path: pathlib.Path, content: object) -> pathlib.Path:
    path = tmp_path / "service-account.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def _refused(path: pathlib.Path) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        VertexOAuthCredentialProvider.from_key_file(path)
    error = caught.value
    assert str(path) in str(error)
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)  # no chained detail
    return error


def test_missing_key_file(tmp_path: pathlib.Path) -> None:
    assert "does not exist" in str(_refused(tmp_path / "nope.json"))


def test_key_file_that_is_a_directory(tmp_path: pathlib.Path) -> None:
    assert "cannot be read" in str(_refused(tmp_path))


@pytest.mark.parametrize(
    ("content", "says"), [("", "is not JSON"), ("not json {", "is not JSON"), ("\udcff", "is not valid UTF-8")]
)
def test_key_file_that_is_not_json(content: str, says: str, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "k.json"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    assert says in str(_refused(path))


def test_key_file_nested_too_deeply_says_so(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "k.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert "JSON nested too deeply" in str(_refused(path))


def test_key_file_that_is_not_an_object(tmp_path: pathlib.Path) -> None:
    assert "not a JSON object" in str(_refused(_broken_file(tmp_path, ["service_account"])))


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("authorized_user", "a user's login"),
        ("external_account", "workload identity federation"),
        ("impersonated_service_account", "impersonation"),
        ("something_else", "'something_else'"),
        (42, "'42'"),
    ],
)
def test_key_file_of_the_wrong_type(kind: object, expected: str, info: dict[str, str], tmp_path: pathlib.Path) -> None:
    message = str(_refused(_broken_file(tmp_path, {**info, "type": kind})))
    assert expected in message
    assert "needs a service-account key file" in message


def test_authorized_user_file_gets_a_clear_message(tmp_path: pathlib.Path) -> None:
    user = {"type": "authorized_user", "client_id": "x.apps.googleusercontent.com",
            "client_secret": "user-client-secret-value", "refresh_token": "1//user-refresh-token-value"}
    message = str(_refused(_broken_file(tmp_path, user)))
    assert "authorized_user" in message and "service-account key" in message
    assert_no_secret([message], [user["client_secret"], user["refresh_token"]])


def test_key_file_without_type(info: dict[str, str], tmp_path: pathlib.Path) -> None:
    del info["type"]
    assert "field 'type' is missing" in str(_refused(_broken_file(tmp_path, info)))


@pytest.mark.parametrize("field", ["client_email", "private_key", "private_key_id"])
@pytest.mark.parametrize("value", [None, "", "  "])
def test_key_file_missing_a_field(field: str, value: object, info: dict[str, str], tmp_path: pathlib.Path) -> None:
    broken: dict[str, object] = dict(info)
    if value is None:
        del broken[field]
    else:
        broken[field] = value
    error = _refused(_broken_file(tmp_path, broken))
    assert f"field {field!r} is missing or empty" in str(error)
    assert_no_secret([str(error)], [_pem_body(info["private_key"])])


@pytest.mark.parametrize("field", ["client_email", "private_key", "private_key_id"])
@pytest.mark.parametrize(("value", "kind"), [(12345, "a number"), (True, "a boolean"), ([], "an array")])
def test_key_file_field_of_the_wrong_type_says_so(
    field: str, value: object, kind: str, info: dict[str, str], tmp_path: pathlib.Path
) -> None:
    error = _refused(_broken_file(tmp_path, {**info, field: value}))
    assert f"field {field!r} must be a" in str(error) and f"not {kind}" in str(error)
    assert "missing" not in str(error)


def _corrupt(pem: str) -> dict[str, str]:
    body = _pem_body(pem)
    lines = pem.splitlines()
    middle = len(lines) // 2
    flipped = lines[middle][:10] + ("A" if lines[middle][10] != "A" else "B") + lines[middle][11:]
    return {
        "truncated": "\n".join(lines[: len(lines) // 2]),
        "flipped byte": "\n".join(lines[:middle] + [flipped] + lines[middle + 1:]),
        "newlines lost": pem.replace("\n", "\\n"),
        "no armour": body,
        # a PEM frame around "not a key" (the marker is split so no scanner takes it for a key)
        "garbage": "-----BEGIN " "PRIVATE KEY-----\nbm90IGEga2V5\n-----END " "PRIVATE KEY-----\n",
        "certificate": "-----BEGIN CERTIFICATE-----\n" + body[:64] + "\n-----END CERTIFICATE-----\n",
    }


@pytest.mark.parametrize("label", ["CERTIFICATE", "PUBLIC KEY"])
def test_key_file_holding_a_certificate_or_public_key_says_so(
    label: str, info: dict[str, str], tmp_path: pathlib.Path
) -> None:
    pem = f"-----BEGIN {label}-----\n" + _pem_body(info["private_key"])[:64] + f"\n-----END {label}-----\n"
    error = _refused(_broken_file(tmp_path, {**info, "private_key": pem}))
    assert f"holds a {label.lower()}, not a private key" in str(error)
    assert_no_secret([str(error), repr(error)], [_pem_body(info["private_key"])])


@pytest.mark.parametrize("how", ["truncated", "flipped byte", "newlines lost", "no armour", "garbage"])
def test_key_file_with_a_corrupt_pem(how: str, info: dict[str, str], tmp_path: pathlib.Path) -> None:
    pem = info["private_key"]
    error = _refused(_broken_file(tmp_path, {**info, "private_key": _corrupt(pem)[how]}))
    assert "field 'private_key' is not a readable PEM private key" in str(error)
    assert_no_secret([str(error), repr(error)], [_pem_body(pem)])


def test_key_file_with_an_ec_key(info: dict[str, str], tmp_path: pathlib.Path) -> None:
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    error = _refused(_broken_file(tmp_path, {**info, "private_key": ec_pem}))
    assert "'private_key' holds an EC key" in str(error) and "RSA" in str(error)
    assert_no_secret([str(error)], [_pem_body(ec_pem)])


def test_key_file_with_an_encrypted_key(info: dict[str, str], rsa_key: rsa.RSAPrivateKey, tmp_path: pathlib.Path) -> None:
    encrypted = rsa_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"passphrase"),
    ).decode()
    error = _refused(_broken_file(tmp_path, {**info, "private_key": encrypted}))
    assert "'private_key' is an encrypted PEM key" in str(error)


@pytest.mark.parametrize(
    ("token_uri", "expected"),
    [("http://oauth2.example.com/token", "https"), ("ftp://127.0.0.1/token", "https"), (5, "not a string")],
)
def test_key_file_with_an_unsafe_token_uri(
    token_uri: object, expected: str, info: dict[str, str], tmp_path: pathlib.Path
) -> None:
    message = str(_refused(_broken_file(tmp_path, {**info, "token_uri": token_uri})))
    assert "'token_uri'" in message and expected in message


def test_loaded_key_object_is_accepted(
    make: Callable[..., VertexOAuthCredentialProvider], google: GoogleOAuthEndpoint,
    info: dict[str, str], rsa_key: rsa.RSAPrivateKey,
) -> None:
    provider = make({**info, "private_key": rsa_key})
    assert _token(provider.resolve()) == google.issued_tokens[-1]


# -- error answers ------------------------------------------------------------------------------------


def _fails(provider: VertexOAuthCredentialProvider) -> TokenEndpointError:
    with pytest.raises(TokenEndpointError) as caught:
        provider.resolve()
    return caught.value


def test_wrong_key_is_invalid_jwt_signature_with_a_hint(
    make: Callable[..., VertexOAuthCredentialProvider], google: GoogleOAuthEndpoint,
    info: dict[str, str], other_key: rsa.RSAPrivateKey,
) -> None:
    error = _fails(make({**info, "private_key": other_key}))
    assert (error.status_code, error.error_code, error.description) == (400, "invalid_grant", "Invalid JWT Signature.")
    assert not error.retryable and error.provider == "google.service_account" and error.host == "127.0.0.1"
    assert "deleted" in str(error) and "private_key_id" in str(error)
    assert google.request_count == 1  # a 400 is not retried


def test_revoked_key_is_invalid_jwt_signature(
    make: Callable[..., VertexOAuthCredentialProvider], google: GoogleOAuthEndpoint, info: dict[str, str],
) -> None:
    provider = make(info)
    provider.resolve()
    google.revoke_key(info["client_email"], info["private_key_id"])
    error = _fails(make(info))
    assert error.description == "Invalid JWT Signature." and "deleted" in str(error)


def test_clock_far_ahead_gets_a_clock_hint(
    make: Callable[..., VertexOAuthCredentialProvider], google: GoogleOAuthEndpoint, info: dict[str, str],
    clock: SyncedClock,
) -> None:
    ahead = FakeClock(clock.now + 7200)  # this machine thinks it is two hours later than Google does
    error = _fails(make(info, clock=ahead))
    assert error.error_code == "invalid_grant" and "short-lived token" in (error.description or "")
    assert "clock" in str(error).lower() and "NTP" in str(error)


def test_clock_slightly_ahead_is_absorbed_by_backdating(
    make: Callable[..., VertexOAuthCredentialProvider], google: GoogleOAuthEndpoint, info: dict[str, str],
    clock: SyncedClock,
) -> None:
    google.clock_leeway = 0  # a strict server: only the 30 s back-dating saves the request
    provider = make(info, clock=FakeClock(clock.now + 20))
    assert _token(provider.resolve()) == google.issued_tokens[-1]


def test_deleted_account_is_account_not_found(
    make: Callable[..., VertexOAuthCredentialProvider], google: GoogleOAuthEndpoint, info: dict[str, str],
) -> None:
    google.delete_account(info["client_email"])
    error = _fails(make(info))
    assert error.description == "Invalid grant: account not found"
    assert "client_email" in str(error)


def test_unknown_scope_is_invalid_scope(
    make: Callable[..., VertexOAuthCredentialProvider], info: dict[str, str],
) -> None:
    error = _fails(make(info, scopes="https://example.com/not-a-google-scope"))
    assert error.error_code == "invalid_scope" and error.status_code == 400
    assert "VERTEX_AI_SCOPE" in str(error)


def test_server_trouble_is_retried(
    make: Callable[..., VertexOAuthCredentialProvider], google: GoogleOAuthEndpoint, info: dict[str, str],
) -> None:
    sleep = FakeSleep()
    google.fail(503, '{"error": "internal_failure"}')
    assert _token(make(info, sleep=sleep).resolve()) == google.issued_tokens[-1]
    assert google.request_count == 2 and len(sleep.calls) == 1


@pytest.mark.parametrize(
    "body", ["<html>oops</html>", '{"expires_in": 3600, "token_type": "Bearer"}',
             '{"access_token": "x", "expires_in": 3600, "token_type": "mac"}']
)
def test_unusable_success_body_is_malformed(
    body: str, make: Callable[..., VertexOAuthCredentialProvider], google: GoogleOAuthEndpoint, info: dict[str, str],
) -> None:
    google.fail(200, body)
    with pytest.raises(MalformedResponseError):
        make(info).resolve()


@pytest.mark.parametrize(
    ("code", "description", "expected"),
    [
        ("invalid_grant", "Invalid JWT Signature.", "private_key_id"),
        ("invalid_grant", (
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
            "timeframe. Check your iat and exp values in the JWT claim."
        ), "clock"),
        ("invalid_grant", "Token used too early", "clock"),
        ("invalid_grant", "Invalid grant: account not found", "client_email"),
        ("invalid_grant", "The account has been deleted", "client_email"),
        ("invalid_grant", "Invalid JWT: Failed audience check. The expected value was x.", "token_uri"),
        ("invalid_scope", "Invalid OAuth scope or ID token audience provided.", "VERTEX_AI_SCOPE"),
        ("invalid_grant", "Something new", None),
        ("unauthorized_client", "Client is unauthorized to retrieve access tokens", None),
        (None, None, None),
    ],
)
def test_error_hints(code: str | None, description: str | None, expected: str | None) -> None:
    body = json.dumps({"error": code, "error_description": description}).encode()
    parsed = service_account._parse_error(TokenResponse(400, {}, body, 0.0, 0.0))
    assert (parsed.error_code, parsed.description) == (code, description)
    if expected is None:
        assert parsed.hint is None
    else:
        assert parsed.hint is not None and expected in parsed.hint


# -- the fake endpoint checks assertions the way Google does -----------------------------------------


@pytest.fixture
def sign(google: GoogleOAuthEndpoint, info: dict[str, str], rsa_key: rsa.RSAPrivateKey) -> Callable[..., str]:
    """Sign a valid assertion for the registered account; keyword arguments change claims or header."""

    def build(*, key: Any = rsa_key, algorithm: str = "RS256", header: dict[str, Any] | None = None,
              drop: tuple[str, ...] = (), **changes: Any) -> str:
        now = int(google.now())
        claims: dict[str, Any] = {
            "iss": info["client_email"], "scope": DEFAULT_SCOPE, "aud": google.token_uri,
            "iat": now - 30, "exp": now + 3570, **changes,
        }
        for name in drop:
            claims.pop(name)
        merged = {"kid": info["private_key_id"], **(header or {})}
        headers = {name: value for name, value in merged.items() if value is not None}
        return jwt.encode(claims, key, algorithm=algorithm, headers=headers)

    return build


def _post(google: GoogleOAuthEndpoint, **form: str) -> requests.Response:
    return requests.post(google.token_uri, data=form, timeout=10)


def _google_error(response: requests.Response) -> tuple[str, str]:
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error", "error_description"}
    return body["error"], body["error_description"]


def test_fake_accepts_a_valid_assertion(sign: Callable[..., str], google: GoogleOAuthEndpoint) -> None:
    google.lifetime = 1800
    response = _post(google, grant_type=GRANT, assertion=sign())
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert body["expires_in"] == 1800 and body["token_type"] == "Bearer"
    assert body["access_token"] == google.issued_tokens[-1]


def _tamper(assertion: str) -> str:
    head, payload, signature = assertion.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["scope"] = "https://www.googleapis.com/auth/devstorage.full_control"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"


_SIGNATURE = ("invalid_grant", "Invalid JWT Signature.")
_TIME = ("invalid_grant", "short-lived token")
_SCOPE = ("invalid_scope", "Invalid OAuth scope or ID token audience provided.")


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("signed by another key", _SIGNATURE),
        ("payload tampered", _SIGNATURE),
        ("HS256", _SIGNATURE),
        ("no kid", _SIGNATURE),
        ("unknown kid", _SIGNATURE),
        ("typ JWS", ("invalid_grant", "typ")),
        ("unknown issuer", ("invalid_grant", "Invalid grant: account not found")),
        ("wrong audience", ("invalid_grant", "Invalid JWT: Failed audience check.")),
        ("lives 3601 s", _TIME),
        ("expired", _TIME),
        ("issued in the future", _TIME),
        ("no iat", _TIME),
        ("string exp", _TIME),
        ("no scope", _SCOPE),
        ("empty scope", _SCOPE),
        ("unknown scope", _SCOPE),
        ("double space in scope", _SCOPE),
    ],
)
def test_fake_refuses_like_google(
    case: str, expected: tuple[str, str], sign: Callable[..., str], google: GoogleOAuthEndpoint,
    other_key: rsa.RSAPrivateKey,
) -> None:
    now = int(google.now())
    assertion = {
        "signed by another key": lambda: sign(key=other_key),
        "payload tampered": lambda: _tamper(sign()),
        "HS256": lambda: sign(key="a-shared-secret-of-thirty-two-bytes!", algorithm="HS256"),
        "no kid": lambda: sign(header={"kid": None}),
        "unknown kid": lambda: sign(header={"kid": "0" * 40}),
        "typ JWS": lambda: sign(header={"typ": "JWS"}),
        "unknown issuer": lambda: sign(iss="nobody@elsewhere.iam.gserviceaccount.com"),
        "wrong audience": lambda: sign(aud="https://oauth2.example.com/token"),
        "lives 3601 s": lambda: sign(iat=now - 1, exp=now + 3600),
        "expired": lambda: sign(iat=now - 3600, exp=now - 1),
        "issued in the future": lambda: sign(iat=now + 120, exp=now + 3000),
        "no iat": lambda: sign(drop=("iat",)),
        "string exp": lambda: sign(exp=str(now + 60)),
        "no scope": lambda: sign(drop=("scope",)),
        "empty scope": lambda: sign(scope=""),
        "unknown scope": lambda: sign(scope="openid"),
        "double space in scope": lambda: sign(scope=f"{DEFAULT_SCOPE}  {GEMINI_SCOPE}"),
    }[case]()
    if case == "no kid":
        assert "kid" not in jwt.get_unverified_header(assertion)
    error, description = _google_error(_post(google, grant_type=GRANT, assertion=assertion))
    assert error == expected[0] and expected[1] in description
    assert google.issued_tokens == []


def test_fake_accepts_every_key_of_a_rotated_account(
    make: Callable[..., VertexOAuthCredentialProvider], google: GoogleOAuthEndpoint,
    info: dict[str, str], other_key: rsa.RSAPrivateKey,
) -> None:
    rotated = google.register_service_account(info["client_email"], private_key=other_key)
    assert rotated["private_key_id"] != info["private_key_id"]
    make(info).resolve()
    make(rotated).resolve()
    assert [a.header["kid"] for a in google.accepted] == [info["private_key_id"], rotated["private_key_id"]]
    google.revoke_key(info["client_email"], info["private_key_id"])
    assert _fails(make(info)).description == "Invalid JWT Signature."
    make(rotated).resolve()
    assert len(google.issued_tokens) == 3


def test_fake_accepts_a_missing_kid_when_not_strict(sign: Callable[..., str], google: GoogleOAuthEndpoint) -> None:
    google.require_kid = False
    assert _post(google, grant_type=GRANT, assertion=sign(header={"kid": None})).status_code == 200


@pytest.mark.parametrize(
    ("form", "expected"),
    [
        ({"grant_type": "client_credentials", "assertion": "x"},
         ("unsupported_grant_type", "Invalid grant_type: client_credentials")),
        ({"assertion": "x"}, ("unsupported_grant_type", "Invalid grant_type: ")),
        ({"grant_type": GRANT}, ("invalid_request", "Missing required parameter: assertion")),
        ({"grant_type": GRANT, "assertion": "not.a.jwt"}, ("invalid_grant", "Invalid JWT")),
    ],
)
def test_fake_refuses_bad_forms(form: dict[str, str], expected: tuple[str, str], google: GoogleOAuthEndpoint) -> None:
    error, description = _google_error(_post(google, **form))
    assert error == expected[0] and description.startswith(expected[1])
    assert google.issued_tokens == []


def test_fake_only_answers_post_to_token(google: GoogleOAuthEndpoint) -> None:
    assert requests.get(google.token_uri, timeout=10).status_code == 404
    assert google.request_count == 0


def test_fake_records_the_assertion_as_a_secret(
    make: Callable[..., VertexOAuthCredentialProvider], google: GoogleOAuthEndpoint, info: dict[str, str],
) -> None:
    make(info).resolve()
    assertion = _assertion(google)
    assert_no_secret([repr(google.requests)], [assertion])


def test_server_helper_builds_a_working_provider(server: FakeIdentityServer) -> None:
    provider = server.vertex_provider(scopes=GEMINI_SCOPE)
    assert isinstance(provider, VertexOAuthCredentialProvider)
    assert _token(provider.resolve()) == server.google.issued_tokens[-1]
    assert server.google.accepted[0].claims["iss"] == provider.client_email
    other = server.vertex_provider()
    assert other.client_email != provider.client_email


def test_reset_keeps_accounts_but_forgets_tokens(
    make: Callable[..., VertexOAuthCredentialProvider], google: GoogleOAuthEndpoint, info: dict[str, str],
) -> None:
    make(info).resolve()
    google.require_kid = False
    google.reset()
    assert google.issued_tokens == [] and google.accepted == [] and google.require_kid
    make(info).resolve()
    assert len(google.issued_tokens) == 1


# -- secrets never leak -------------------------------------------------------------------------------


def test_no_secret_in_repr_logs_or_errors(
    make: Callable[..., VertexOAuthCredentialProvider], google: GoogleOAuthEndpoint, info: dict[str, str],
    other_key: rsa.RSAPrivateKey, debug_logs: pytest.LogCaptureFixture, tmp_path: pathlib.Path,
) -> None:
    provider = make(info)
    token = provider.resolve()
    assertion = _assertion(google)
    texts = [repr(provider), str(provider), repr(token), str(token), repr(google.requests)]
    with pytest.raises(TypeError):
        pickle.dumps(provider)
    error = _fails(make({**info, "private_key": other_key}))
    texts += [str(error), repr(error)]
    google.fail(503, "{}", times=3)
    with pytest.raises(TokenEndpointError) as retried:
        make(info).resolve()
    texts += [str(retried.value)]
    broken = {**info, "private_key": info["private_key"][:-80]}
    with pytest.raises(ConfigurationError) as config:
        VertexOAuthCredentialProvider.from_key_file(_broken_file(tmp_path, broken))
    texts += [str(config.value)]
    texts += [record.getMessage() for record in debug_logs.records] + [debug_logs.text]
    assert any("google.service_account" in text for text in texts)
    assert any(record.levelno == logging.DEBUG for record in debug_logs.records)
    assert_no_secret(texts, [_pem_body(info["private_key"]), _token(token), assertion])
    assert info["client_email"] in repr(provider)


# -- the example --------------------------------------------------------------------------------------


def _load_example() -> Any:
    spec = importlib.util.spec_from_file_location("vertex_ai_example", ROOT / "examples" / "vertex_ai.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_example_imports_quietly_and_runs_its_demo(capsys: pytest.CaptureFixture[str]) -> None:
    before = threading.active_count()
    example = _load_example()
    assert capsys.readouterr().out == "" and threading.active_count() == before
    assert example.vertex_url("p", "europe-west4", "gemini-x") == (
        "https://europe-west4-aiplatform.googleapis.com/v1/projects/p/locations/europe-west4"
        "/publishers/google/models/gemini-x:generateContent"
    )
    assert example.main(["--demo"]) == 0
    out = capsys.readouterr().out
    assert "token requests:  1 for 3 resolve() calls" in out
    assert "ya29." not in out


@pytest.fixture(autouse=True)
def _no_credentials_from_the_host(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep a developer's own GOOGLE_APPLICATION_CREDENTIALS out of these tests."""
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "VERTEX_AI_SCOPE"):
        monkeypatch.delenv(name, raising=False)
    yield
