"""EnvironmentCredentialsProvider: the variables botocore's EnvProvider reads, with its precedence."""

from __future__ import annotations

from datetime import datetime

import botocore.credentials
import pytest

import literauth
from literauth import ConfigurationError, CredentialSourceError, SourceNotConfigured
from literauth.aws import EnvironmentCredentialsProvider
from literauth.credentials import UTC, AwsCredentials

from ..conftest import START, FakeClock, assert_no_secret

KEY_ID = "AKIAENVIRONMENTTEST1"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYENVTESTKEY"
SESSION = "IQoJb3JpZ2luX2VjEnvSessionToken0123456789"
LEGACY = "FQoGZXIvYXdzEnvLegacySecurityToken98765"


def _stamp(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _keys(provider: EnvironmentCredentialsProvider) -> tuple[str, str, str | None]:
    credentials = provider.resolve()
    assert isinstance(credentials, AwsCredentials)
    token = credentials.session_token
    return (credentials.access_key_id.expose_secret(), credentials.secret_access_key.expose_secret(),
            None if token is None else token.expose_secret())


def test_static_keys_are_served_for_ever_without_another_read() -> None:
    env = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET}
    clock = FakeClock()
    provider = EnvironmentCredentialsProvider.from_env(env, clock=clock)
    env["AWS_ACCESS_KEY_ID"] = "AKIACHANGEDLATER0000"
    assert _keys(provider) == (KEY_ID, SECRET, None)  # read when built
    clock.advance(10 * 365 * 86400)
    assert provider.resolve().expires_at is None and _keys(provider)[0] == KEY_ID
    assert provider.stats().token_requests == 1
    assert literauth.EnvironmentCredentialsProvider is EnvironmentCredentialsProvider


PRECEDENCE = {
    "session token": {"AWS_SESSION_TOKEN": SESSION},
    "legacy security token": {"AWS_SECURITY_TOKEN": LEGACY},
    "both: the legacy one wins": {"AWS_SESSION_TOKEN": SESSION, "AWS_SECURITY_TOKEN": LEGACY},
    "empty legacy, session set": {"AWS_SECURITY_TOKEN": "", "AWS_SESSION_TOKEN": SESSION},
    "no token": {},
}


@pytest.mark.parametrize("extra", PRECEDENCE.values(), ids=PRECEDENCE)
def test_token_precedence_matches_botocore(extra: dict[str, str]) -> None:
    env = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET, **extra}
    theirs = botocore.credentials.EnvProvider(environ=env).load()
    assert theirs is not None
    assert _keys(EnvironmentCredentialsProvider(env)) == (theirs.access_key, theirs.secret_key, theirs.token)


@pytest.mark.parametrize("env", [{}, {"AWS_ACCESS_KEY_ID": ""}, {"AWS_SECRET_ACCESS_KEY": SECRET}])
def test_absent_key_id_is_not_configured_as_botocore_skips_it(env: dict[str, str]) -> None:
    assert botocore.credentials.EnvProvider(environ=env).load() is None
    with pytest.raises(SourceNotConfigured, match="AWS_ACCESS_KEY_ID is not set"):
        EnvironmentCredentialsProvider.from_env(env)


def test_a_blank_key_id_counts_as_unset() -> None:
    """botocore would sign with "  " as the key id; a stray blank value is never meant."""
    with pytest.raises(SourceNotConfigured, match=r"AWS_ACCESS_KEY_ID is not set \(AWS_SECRET_ACCESS_KEY alone"):
        EnvironmentCredentialsProvider.from_env({"AWS_ACCESS_KEY_ID": " \n", "AWS_SECRET_ACCESS_KEY": SECRET})


def test_a_key_id_without_its_secret_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not") as info:
        EnvironmentCredentialsProvider({"AWS_ACCESS_KEY_ID": KEY_ID})
    assert not isinstance(info.value, SourceNotConfigured)  # a chain stops here: a half-done setup
    with pytest.raises(botocore.exceptions.PartialCredentialsError):  # botocore refuses it too
        botocore.credentials.EnvProvider(environ={"AWS_ACCESS_KEY_ID": KEY_ID}).load()


def test_a_key_with_a_space_is_refused_without_quoting_it() -> None:
    with pytest.raises(ConfigurationError, match="secret_access_key contains whitespace") as info:
        EnvironmentCredentialsProvider({"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET[:10] + " x"})
    assert_no_secret([str(info.value)], [SECRET[:10]])


def test_expiring_keys_are_read_again_from_the_mapping_once_expired() -> None:
    clock = FakeClock()
    env = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_SESSION_TOKEN": SESSION,
           "AWS_CREDENTIAL_EXPIRATION": _stamp(START + 3600)}
    provider = EnvironmentCredentialsProvider(env, clock=clock, background_refresh=False)
    first = provider.resolve()
    assert first.expires_at_epoch == START + 3600
    env.update({"AWS_ACCESS_KEY_ID": "AKIAROTATEDKEYS00001", "AWS_CREDENTIAL_EXPIRATION": _stamp(START + 7200)})
    clock.advance(1000)
    assert provider.resolve() is first  # still valid: the mapping is not read
    clock.advance(2700)  # past the refresh point: read again
    second = provider.resolve()
    assert second is not first and _keys(provider)[0] == "AKIAROTATEDKEYS00001"
    assert second.expires_at_epoch == START + 7200


def test_keys_still_expired_after_the_re_read_are_a_source_error() -> None:
    clock = FakeClock()
    env = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_CREDENTIAL_EXPIRATION": _stamp(START + 600)}
    provider = EnvironmentCredentialsProvider(env, clock=clock, background_refresh=False)
    provider.resolve()
    clock.advance(601)
    with pytest.raises(CredentialSourceError, match="expired at .*AWS_CREDENTIAL_EXPIRATION") as info:
        provider.resolve()
    assert_no_secret([str(info.value), repr(provider)], [KEY_ID, SECRET])
    env["AWS_CREDENTIAL_EXPIRATION"] = _stamp(clock.now + 3600)  # someone put fresh keys in
    clock.advance(10)  # past the short cool-down
    assert provider.resolve().expires_at_epoch == clock.now - 10 + 3600


def test_keys_removed_from_the_mapping_are_a_source_error_at_the_next_read() -> None:
    clock = FakeClock()
    env = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET,
           "AWS_CREDENTIAL_EXPIRATION": _stamp(START + 600)}
    provider = EnvironmentCredentialsProvider(env, clock=clock, background_refresh=False)
    provider.resolve()
    del env["AWS_SECRET_ACCESS_KEY"]
    clock.advance(601)
    with pytest.raises(CredentialSourceError, match="AWS_SECRET_ACCESS_KEY is not"):
        provider.resolve()


def test_an_unreadable_expiration_is_named() -> None:
    env = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_CREDENTIAL_EXPIRATION": "2030-13-01T00:00Z"}
    with pytest.raises(ConfigurationError, match="AWS_CREDENTIAL_EXPIRATION is not an ISO-8601 time.*'2030-13-01T00:00Z'"):
        EnvironmentCredentialsProvider(env)
    with pytest.raises(ConfigurationError, match=r"AWS_CREDENTIAL_EXPIRATION .*\(40 characters\)"):  # maybe a pasted key
        EnvironmentCredentialsProvider(dict(env, AWS_CREDENTIAL_EXPIRATION=SECRET))


def test_botocore_reads_the_same_expiry() -> None:
    env = {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_SESSION_TOKEN": SESSION,
           "AWS_CREDENTIAL_EXPIRATION": "2030-01-01T00:00:00Z"}
    theirs = botocore.credentials.EnvProvider(environ=env).load()
    ours = EnvironmentCredentialsProvider(env, clock=FakeClock()).resolve()
    assert ours.expires_at == theirs._expiry_time  # type: ignore[union-attr]


def test_cache_identity_is_the_keys() -> None:
    one = EnvironmentCredentialsProvider({"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET})
    other = EnvironmentCredentialsProvider({"AWS_ACCESS_KEY_ID": "AKIAOTHERIDENTITY000", "AWS_SECRET_ACCESS_KEY": SECRET})
    fields, secret = one._cache_identity()
    assert fields == other._cache_identity()[0] == {"source": "environment"}  # no key id in the clear
    assert secret is not None and secret != other._cache_identity()[1]
    assert KEY_ID not in str(fields)
