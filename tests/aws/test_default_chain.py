"""`literauth.aws.default_chain()`: its sources and order, `describe()`, the region, the IMDS probe deadline.

Which source wins in which environment is pinned against botocore in
`test_chain_precedence.py`; this file checks what the chain itself promises.
"""

from __future__ import annotations

import pathlib

import pytest

from literauth import AwsCredentials, ConfigurationError, SourceNotConfigured
from literauth.aws import default_chain
from literauth.aws._chain import IMDS_PROBE_TIMEOUT
from literauth.testing import FakeIdentityServer, refused_port

pytest.importorskip("literauth.aws.environment")
pytest.importorskip("literauth.aws.container")
instance_metadata = pytest.importorskip("literauth.aws.instance_metadata")

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYCHAINTESTKEY"
BOTOCORE_ORDER = [
    "env", "assume-role", "assume-role-with-web-identity", "sso", "shared-credentials-file", "custom-process",
    "config-file", "container-role", "iam-role",
]



def bare(tmp_path: pathlib.Path, **extra: str) -> dict[str, str]:
    """No credentials anywhere; instance metadata at a refused loopback port."""
    return {
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_EC2_METADATA_SERVICE_ENDPOINT": f"http://127.0.0.1:{refused_port()}/",
        **extra,
    }


def test_the_sources_are_botocores_in_botocores_order(tmp_path: pathlib.Path) -> None:
    chain = default_chain(environ=bare(tmp_path))
    assert [outcome.name for outcome in chain.describe()] == BOTOCORE_ORDER
    assert all(outcome.status == "not tried" for outcome in chain.describe())
    assert chain.credential_type is AwsCredentials
    explicit = default_chain(profile="default", environ=bare(tmp_path))
    assert [outcome.name for outcome in explicit.describe()] == BOTOCORE_ORDER[1:]  # as Session(profile=...)


def test_no_credentials_is_one_error_listing_every_source_and_why(tmp_path: pathlib.Path) -> None:
    chain = default_chain(environ=bare(tmp_path))
    with pytest.raises(SourceNotConfigured) as info:
        chain.resolve()
    message = str(info.value)
    for outcome in chain.describe():
        assert outcome.status == "skipped" and outcome.reason
        assert f"{outcome.name}: skipped ({outcome.reason})" in message
    assert "aws_access_key_id" in message or "AWS_ACCESS_KEY_ID" in message


def test_the_first_configured_source_is_chosen_and_the_rest_not_tried(tmp_path: pathlib.Path) -> None:
    (tmp_path / "credentials").write_text(f"[default]\naws_access_key_id = AKIACHAIN\naws_secret_access_key = {SECRET}\n")
    chain = default_chain(environ=bare(tmp_path))
    keys = chain.resolve()
    assert isinstance(keys, AwsCredentials) and keys.access_key_id.expose_secret() == "AKIACHAIN"
    statuses = {outcome.name: outcome.status for outcome in chain.describe()}
    assert statuses["shared-credentials-file"] == "chosen"
    assert [statuses[name] for name in BOTOCORE_ORDER[5:]] == ["not tried"] * 4
    assert [statuses[name] for name in BOTOCORE_ORDER[:4]] == ["skipped"] * 4
    assert SECRET not in repr(chain) and SECRET not in str(chain.describe())


@pytest.mark.parametrize(
    "extra, config, region",
    [
        ({"AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "ap-south-1"}, "[default]\nregion = us-west-2\n", "eu-west-1"),
        ({"AWS_DEFAULT_REGION": "ap-south-1"}, "[default]\nregion = us-west-2\n", "ap-south-1"),
        ({}, "[default]\nregion = us-west-2\n", "us-west-2"),
        ({"AWS_PROFILE": "dev"}, "[default]\nregion = us-west-2\n[profile dev]\nregion = ca-central-1\n", "ca-central-1"),
        ({}, "", "us-east-1"),
    ],
)
def test_the_region(tmp_path: pathlib.Path, extra: dict[str, str], config: str, region: str) -> None:
    (tmp_path / "config").write_text(config)
    assert default_chain(environ=bare(tmp_path, **extra)).region == region


def test_a_broken_config_file_fails_the_chain_before_any_source(tmp_path: pathlib.Path) -> None:
    (tmp_path / "config").write_text("no section here\n")
    chain = default_chain(environ=bare(tmp_path, AWS_ACCESS_KEY_ID="AKIAENV", AWS_SECRET_ACCESS_KEY=SECRET))
    with pytest.raises(ConfigurationError, match="not valid INI") as info:
        chain.resolve()
    assert not isinstance(info.value, SourceNotConfigured)


def test_the_instance_metadata_probe_gets_the_chains_one_deadline(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[float] = []
    original = instance_metadata.InstanceMetadataCredentialsProvider.probe

    def spy(self: object, timeout: float) -> None:
        asked.append(timeout)
        original(self, timeout)

    monkeypatch.setattr(instance_metadata.InstanceMetadataCredentialsProvider, "probe", spy)
    with pytest.raises(SourceNotConfigured):
        default_chain(environ=bare(tmp_path)).resolve()
    with pytest.raises(SourceNotConfigured):
        default_chain(environ=bare(tmp_path), imds_timeout=0.25).resolve()
    assert asked == [IMDS_PROBE_TIMEOUT, 0.25]


def test_disabled_instance_metadata_is_skipped_without_a_probe(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(self: object, timeout: float) -> None:
        raise AssertionError("probed although AWS_EC2_METADATA_DISABLED is set")

    monkeypatch.setattr(instance_metadata.InstanceMetadataCredentialsProvider, "probe", never)
    chain = default_chain(environ=bare(tmp_path, AWS_EC2_METADATA_DISABLED="true"))
    with pytest.raises(SourceNotConfigured):
        chain.resolve()
    assert chain.describe()[-1].status == "skipped"


def test_options_reach_the_chosen_provider(server: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    env = {**bare(tmp_path), **server.endpoint("aws.sso").environ(tmp_path)}
    session = server.session()
    chain = default_chain(environ=env, session=session, background_refresh=False)
    chain.resolve()
    assert chain.chosen is not None and chain.chosen._settings.http.session is session  # type: ignore[attr-defined]
    assert chain.chosen._settings.background is False  # type: ignore[attr-defined]
