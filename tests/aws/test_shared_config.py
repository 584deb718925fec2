"""SharedConfigProvider: a profile resolved to its source in botocore's order, and its errors."""

from __future__ import annotations

import pathlib

import pytest

from literauth.aws import (
    SharedConfigProvider,
    SsoCredentialProvider,
    WebIdentityCredentialProvider,
)
from literauth.aws.shared_config import StaticKeysProvider
from literauth.errors import ConfigurationError, SourceNotConfigured
from literauth.testing import FakeIdentityServer

from ..conftest import assert_no_secret

ROLE = "arn:aws:iam::123456789012:role/literauth-test"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYLEAKCHECKKEY"


def env_for(tmp_path: pathlib.Path, config: str = "", credentials: str = "", **extra: str) -> dict[str, str]:
    (tmp_path / "config").write_text(config)
    (tmp_path / "credentials").write_text(credentials)
    return {"AWS_CONFIG_FILE": str(tmp_path / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
            "HOME": str(tmp_path), **extra}


def test_credentials_file_keys_win_over_config_file_keys(tmp_path: pathlib.Path) -> None:
    env = env_for(
        tmp_path,
        f"[profile dev]\naws_access_key_id = AKIACONFIG\naws_secret_access_key = {SECRET}\nregion = eu-west-1\n",
        f"[dev]\naws_access_key_id = AKIACREDENTIALS\naws_secret_access_key = {SECRET}\naws_session_token = tok\n",
    )
    provider = SharedConfigProvider("dev", environ=env)
    keys = provider.resolve()
    assert provider.source == "shared-credentials-file" and isinstance(provider.provider, StaticKeysProvider)
    assert keys.access_key_id.expose_secret() == "AKIACREDENTIALS"
    assert keys.session_token is not None and keys.session_token.expose_secret() == "tok"
    assert provider.region == "eu-west-1"
    assert [(o.name, o.status) for o in provider.describe()][:4] == [
        ("assume-role", "skipped"), ("assume-role-with-web-identity", "skipped"), ("sso", "skipped"),
        ("shared-credentials-file", "chosen"),
    ]
    assert_no_secret([repr(provider), str(provider.describe())], [SECRET])


def test_config_file_keys_and_the_legacy_security_token_first(tmp_path: pathlib.Path) -> None:
    env = env_for(tmp_path, f"[default]\naws_access_key_id = AKIACONFIG\naws_secret_access_key = {SECRET}\n"
                            "aws_session_token = new\naws_security_token = legacy\n", AWS_PROFILE="default")
    provider = SharedConfigProvider(environ=env)
    assert provider.source == "config-file"
    token = provider.resolve().session_token
    assert token is not None and token.expose_secret() == "legacy"


def test_the_region_order_is_environment_then_profile_then_us_east_1(tmp_path: pathlib.Path) -> None:
    config = f"[default]\naws_access_key_id = A\naws_secret_access_key = {SECRET}\nregion = eu-west-1\n"
    assert SharedConfigProvider(environ=env_for(tmp_path, config, AWS_DEFAULT_REGION="ap-south-1")).region == "ap-south-1"
    assert SharedConfigProvider(environ=env_for(tmp_path, config, AWS_REGION="us-west-2",
                                                AWS_DEFAULT_REGION="ap-south-1")).region == "us-west-2"
    bare = f"[default]\naws_access_key_id = A\naws_secret_access_key = {SECRET}\n"
    assert SharedConfigProvider(environ=env_for(tmp_path, bare)).region == "us-east-1"


def test_a_web_identity_profile(server: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    token_file = server.sts.write_web_identity_token(tmp_path / "token")
    env = env_for(tmp_path, f"[profile eks]\nrole_arn = {ROLE}\nweb_identity_token_file = {token_file}\n"
                            "role_session_name = from-profile\n", AWS_ENDPOINT_URL_STS=server.url,
                  AWS_ROLE_ARN="arn:aws:iam::123456789012:role/from-env")
    provider = SharedConfigProvider("eks", environ=env, session=server.session())
    assert provider.source == "assume-role-with-web-identity"
    inner = provider.provider
    assert isinstance(inner, WebIdentityCredentialProvider)
    assert inner.role_arn == ROLE and inner.session_name == "from-profile"  # the profile's, not AWS_ROLE_ARN
    provider.resolve()
    assert server.sts.issued_credentials[-1].role_arn == ROLE


def test_an_sso_profile(server: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    env = server.endpoint("aws.sso").environ(tmp_path)
    provider = SharedConfigProvider(environ=env, session=server.session())
    assert provider.source == "sso" and isinstance(provider.provider, SsoCredentialProvider)
    assert provider.resolve().session_token is not None
    assert provider._cache_identity() == provider.provider._cache_identity()  # type: ignore[attr-defined]


def test_a_profile_without_credentials_lists_every_source(tmp_path: pathlib.Path) -> None:
    with pytest.raises(SourceNotConfigured) as info:
        SharedConfigProvider(environ=env_for(tmp_path, "[default]\nregion = us-east-1\n"))
    for name in ("assume-role", "assume-role-with-web-identity", "sso", "shared-credentials-file",
                 "custom-process", "config-file"):
        assert f"{name}: skipped" in str(info.value)


@pytest.mark.parametrize(
    "config, problem",
    [
        ("[profile a]\nrole_arn = " + ROLE + "\nsource_profile = b\n[profile b]\nrole_arn = " + ROLE
         + "\nsource_profile = a\n", "source_profile loop: a -> b -> a"),
        ("[profile a]\nrole_arn = " + ROLE + "\nsource_profile = a\n", "source_profile loop: a -> a"),
        ("[profile a]\nrole_arn = " + ROLE + "\nsource_profile = ghost\n", "source_profile 'ghost' of profile 'a' is not in"),
        ("[profile a]\nrole_arn = " + ROLE + "\nsource_profile = b\ncredential_source = Environment\n[profile b]\n",
         "both source_profile and credential_source"),
        ("[profile a]\nrole_arn = " + ROLE + "\n", "neither source_profile nor credential_source"),
        ("[profile a]\nrole_arn = " + ROLE + "\ncredential_source = Ec2\n", "credential_source 'Ec2'.*Environment, Ec2InstanceMetadata, EcsContainer"),
        ("[profile a]\nrole_arn = " + ROLE + "\nsource_profile = b\n[profile b]\nregion = us-east-1\n",
         "the source_profile 'b' has no credentials"),
        ("[profile a]\nrole_arn = " + ROLE + "\nmfa_serial = arn:aws:iam::1:mfa/u\nsource_profile = a\n", "mfa_serial"),
        ("[profile a]\naws_access_key_id = AKIA\n", "has aws_access_key_id but no aws_secret_access_key"),
        ("[profile a]\nweb_identity_token_file = /t\n", "web identity token file is configured .* but no role"),
        ("[profile a]\nsso_role_name = R\n", "lacks sso_account_id"),
        ("[profile b]\nregion = us-east-1\n", "profile 'a' is not in"),
    ],
)
def test_configuration_mistakes_are_clear_errors(tmp_path: pathlib.Path, config: str, problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem) as info:
        SharedConfigProvider("a", environ=env_for(tmp_path, config))
    assert not isinstance(info.value, SourceNotConfigured)


def test_a_profile_may_name_itself_to_use_its_own_static_keys_for_the_role(tmp_path: pathlib.Path) -> None:
    """botocore allows ``source_profile`` = the profile itself when it holds static keys."""
    pytest.importorskip("literauth.aws.assume_role")
    env = env_for(tmp_path, f"[profile a]\nrole_arn = {ROLE}\nsource_profile = a\n"
                            f"aws_access_key_id = AKIASELF\naws_secret_access_key = {SECRET}\n")
    provider = SharedConfigProvider("a", environ=env)
    assert provider.source == "assume-role"
