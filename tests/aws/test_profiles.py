"""Reading the shared config and credentials files: which files, which profile, which sections."""

from __future__ import annotations

import pathlib

import pytest

from literauth.aws._profiles import load_shared_config, profile_name
from literauth.errors import ConfigurationError

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYLEAKCHECKKEY"


def files(tmp_path: pathlib.Path, config: str = "", credentials: str | None = None) -> dict[str, str]:
    (tmp_path / "config").write_text(config)
    env = {"AWS_CONFIG_FILE": str(tmp_path / "config"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials")}
    if credentials is not None:
        (tmp_path / "credentials").write_text(credentials)
    return env


def test_the_profile_comes_from_aws_default_profile_before_aws_profile_as_in_botocore() -> None:
    assert profile_name(None, {}) == "default"
    assert profile_name(None, {"AWS_PROFILE": "dev"}) == "dev"
    assert profile_name(None, {"AWS_PROFILE": "dev", "AWS_DEFAULT_PROFILE": "ops"}) == "ops"
    assert profile_name("explicit", {"AWS_PROFILE": "dev"}) == "explicit"
    with pytest.raises(ConfigurationError, match="profile must be a non-empty"):
        profile_name("  ", {})


def test_config_sections_need_the_profile_prefix_but_credentials_sections_do_not(tmp_path: pathlib.Path) -> None:
    env = files(
        tmp_path,
        "[default]\nregion = eu-west-1\n[profile dev]\nregion = us-west-2\n[bare]\nregion = ap-south-1\n"
        '[profile "quoted name"]\nregion = eu-north-1\n[sso-session corp]\nsso_region = us-east-1\n',
        "[dev]\naws_access_key_id = AKIADEV\n[profile odd]\naws_access_key_id = AKIAODD\n",
    )
    config = load_shared_config(env)
    assert set(config.config_profiles) == {"default", "dev", "quoted name"}  # [bare] is no profile
    assert set(config.profiles) == {"default", "dev", "quoted name", "profile odd"}
    assert config.profiles["dev"] == {"region": "us-west-2", "aws_access_key_id": "AKIADEV"}  # merged
    assert config.sso_sessions == {"corp": {"sso_region": "us-east-1"}}
    assert config.profile("default")["region"] == "eu-west-1"


def test_missing_files_are_empty_and_a_missing_named_profile_is_an_error(tmp_path: pathlib.Path) -> None:
    env = {"AWS_CONFIG_FILE": str(tmp_path / "nope"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "nope2")}
    config = load_shared_config(env)
    assert config.profiles == {} and config.profile("default") == {}
    with pytest.raises(ConfigurationError, match=r"profile 'dev' is not in .*\[profile NAME\]"):
        config.profile("dev")


def test_the_home_directory_comes_from_the_environment_mapping(tmp_path: pathlib.Path) -> None:
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "config").write_text("[profile home]\nregion = eu-west-3\n")
    config = load_shared_config({"HOME": str(tmp_path)})
    assert config.config_file == str(tmp_path / ".aws" / "config")
    assert config.profile("home") == {"region": "eu-west-3"}


@pytest.mark.parametrize(
    "text, problem",
    [
        (f"aws_secret_access_key = {SECRET}\n", "line 1 comes before any"),
        (f"[default]\naws_secret_access_key = {SECRET}\naws_secret_access_key = {SECRET}\n", "appears twice"),
        (f"[default]\n{SECRET}\n", "cannot parse line 2"),
    ],
)
def test_a_broken_file_is_named_with_its_line_never_its_content(
    tmp_path: pathlib.Path, text: str, problem: str
) -> None:
    env = files(tmp_path, credentials=text)
    with pytest.raises(ConfigurationError, match=problem) as info:
        load_shared_config(env)
    assert "credentials file" in str(info.value) and SECRET not in str(info.value)
    assert info.value.__context__ is None and info.value.__cause__ is None


def test_a_non_utf8_file_is_an_error_and_an_impossible_path_no_file(tmp_path: pathlib.Path) -> None:
    (tmp_path / "config").write_bytes(b"[default]\nregion = \xff\n")
    with pytest.raises(ConfigurationError, match="not UTF-8"):
        load_shared_config({"AWS_CONFIG_FILE": str(tmp_path / "config")})
    unusable = {"AWS_CONFIG_FILE": "bad\x00path", "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path)}  # NUL, a directory
    assert load_shared_config(unusable).profiles == {}  # as botocore: only a regular file is read
