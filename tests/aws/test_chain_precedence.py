"""The default chain's choice, pinned against botocore itself.

For each environment (variables, config and credentials files in a temporary directory,
fakes running or not), `botocore.session.Session().get_credentials()` and
`literauth.aws.default_chain()` must pick the same source (botocore's ``method`` is the
chain's source name) and keys from the same place: the same static key, or keys the same
fake issued for the same role. Neither may reach a metadata address: instance metadata is
disabled or pointed at a refused loopback port in every case, the container endpoint is a
loopback fake, and the suite's network guard fails the test otherwise.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import pathlib
from collections.abc import Callable, Iterator

import pytest

from literauth import ConfigurationError, SourceNotConfigured
from literauth.aws import default_chain
from literauth.testing import FakeIdentityServer, refused_port
from literauth.testing.aws.sso import SsoPortalEndpoint

botocore_session = pytest.importorskip("botocore.session")
import botocore.credentials
import botocore.exceptions
import botocore.tokens

ROLE = "arn:aws:iam::123456789012:role/literauth-test"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYPRECEDENCE"
ENV = ("literauth.aws.environment",)  # a chain without an explicit profile asks the environment first
ALL = (*ENV, "literauth.aws.container", "literauth.aws.instance_metadata")  # ... and, finding nothing, the rest
PROCESS = ("literauth.aws.process", "literauth.testing.aws.credential_process")
ROLE_FAKES = ("literauth.aws.assume_role", "literauth.testing.aws.assume_role")
CONTAINER = ("literauth.aws.container", "literauth.testing.aws.container")
IMDS = ("literauth.testing.aws.instance_metadata",)



@dataclasses.dataclass
class World:
    """One environment: the variables, the files' directory, and the fakes behind them."""

    server: FakeIdentityServer
    home: pathlib.Path
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    profile: str | None = None  # passed explicitly: Session(profile=...) / default_chain(profile=...)

    def config(self, text: str) -> None:
        (self.home / ".aws" / "config").write_text(text)

    def credentials(self, text: str) -> None:
        (self.home / ".aws" / "credentials").write_text(text)

    @property
    def sso(self) -> SsoPortalEndpoint:
        endpoint = self.server.endpoint("aws.sso")
        assert isinstance(endpoint, SsoPortalEndpoint)
        return endpoint

    def static(self, key: str) -> str:
        return f"aws_access_key_id = {key}\naws_secret_access_key = {SECRET}\n"


Setup = Callable[[World], None]


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    setup: Setup
    method: str | None  # botocore's method name = literauth's source name; None: no credentials
    key: str | None = None  # the static access key both must return
    needs: tuple[str, ...] = ()  # modules of the sibling providers this case needs

    def __str__(self) -> str:
        return self.name


def _env_keys(w: World) -> None:
    w.env.update(AWS_ACCESS_KEY_ID="AKIAENVIRONMENT", AWS_SECRET_ACCESS_KEY=SECRET)


def _files_with_static(w: World) -> None:
    w.config("[profile dev]\n" + w.static("AKIACONFIGDEV") + "[default]\n" + w.static("AKIACONFIGDEFAULT"))
    w.credentials("[dev]\n" + w.static("AKIACREDENTIALSDEV"))


def _token_file(w: World) -> str:
    """A web identity token file without the trailing newline botocore would send along."""
    path = w.home / "token"
    path.write_text(w.server.sts.issue_web_identity_token())
    return str(path)


def _web_identity_env(w: World) -> None:
    token = _token_file(w)
    w.env.update(AWS_WEB_IDENTITY_TOKEN_FILE=token, AWS_ROLE_ARN=ROLE, AWS_ROLE_SESSION_NAME="precedence")


def _sso_profile(w: World, *, legacy: bool = False, profile: str = "default") -> None:
    w.sso.write_config(w.home / ".aws" / "config", profile=profile, legacy=legacy)
    w.sso.write_token_cache(w.home / ".aws" / "sso" / "cache", session_name=None if legacy else "literauth-sso")


def _process_profile(w: World) -> None:
    from literauth.testing.aws.credential_process import FakeCredentialProcess

    fake = FakeCredentialProcess(w.home / "process")
    w.config(f"[default]\ncredential_process = {fake.command_line}\n")
    w.credentials("")


def _source_keys(w: World) -> tuple[str, str]:
    """The long-term keys the fake STS AssumeRole accepts as a signer."""
    keys = w.server.endpoint("aws.assume_role").source_keys  # type: ignore[attr-defined]
    return keys.access_key_id.expose_secret(), keys.secret_access_key.expose_secret()


def _role_from_source_profile(w: World) -> None:
    from literauth.testing.aws.assume_role import DEFAULT_ASSUMED_ROLE_ARN

    key, secret = _source_keys(w)
    w.config(f"[default]\nrole_arn = {DEFAULT_ASSUMED_ROLE_ARN}\nsource_profile = base\nrole_session_name = prec\n")
    w.credentials(f"[base]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n")


def _role_from_environment(w: World) -> None:
    from literauth.testing.aws.assume_role import DEFAULT_ASSUMED_ROLE_ARN

    key, secret = _source_keys(w)
    w.config(f"[profile cross]\nrole_arn = {DEFAULT_ASSUMED_ROLE_ARN}\ncredential_source = Environment\n")
    w.env.update(AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret)
    w.profile = "cross"  # explicit: the environment keys are then only the role's source


def _container(w: World) -> None:
    # the token itself, not a token file: botocore refuses the file's trailing newline
    w.env.update(w.server.endpoint("aws.container").environ(None))


def _instance_metadata(w: World) -> None:
    w.env.update(w.server.endpoint("aws.instance_metadata").environ(w.home))


def _steps(*steps: Setup) -> Setup:
    def setup(w: World) -> None:
        for step in steps:
            step(w)

    return setup


def _set(**values: str) -> Setup:
    return lambda w: w.env.update(values)


def _explicit(profile: str) -> Setup:
    def setup(w: World) -> None:
        w.profile = profile

    return setup


CASES = [
    Case("nothing anywhere", lambda w: None, None, None, ALL),
    Case("environment keys", _env_keys, "env", "AKIAENVIRONMENT", ENV),
    Case("environment keys beat AWS_PROFILE", _steps(_files_with_static, _env_keys, _set(AWS_PROFILE="dev")),
         "env", "AKIAENVIRONMENT", ENV),
    Case("an explicit profile drops the environment keys", _steps(_files_with_static, _env_keys, _explicit("dev")),
         "shared-credentials-file", "AKIACREDENTIALSDEV"),
    Case("credentials file before config file", _steps(_files_with_static, _set(AWS_PROFILE="dev")),
         "shared-credentials-file", "AKIACREDENTIALSDEV", ENV),
    Case("config file of the default profile", _files_with_static, "config-file", "AKIACONFIGDEFAULT", ENV),
    Case("AWS_DEFAULT_PROFILE beats AWS_PROFILE",
         _steps(_files_with_static, _set(AWS_DEFAULT_PROFILE="dev", AWS_PROFILE="default")),
         "shared-credentials-file", "AKIACREDENTIALSDEV", ENV),
    Case("web identity variables before the shared files", _steps(_files_with_static, _web_identity_env),
         "assume-role-with-web-identity", None, ENV),
    Case("web identity in the profile",
         lambda w: w.config(f"[default]\nrole_arn = {ROLE}\nweb_identity_token_file = "
                            f"{_token_file(w)}\n"),
         "assume-role-with-web-identity", None, ENV),
    Case("an explicit profile ignores the web identity variables",
         _steps(_files_with_static, _web_identity_env, _explicit("dev")), "shared-credentials-file",
         "AKIACREDENTIALSDEV"),
    Case("SSO session profile before the credentials file",
         _steps(_sso_profile, lambda w: w.credentials("[default]\n" + w.static("AKIACREDENTIALSDEFAULT"))),
         "sso", None, ENV),
    Case("legacy SSO profile", lambda w: _sso_profile(w, legacy=True), "sso", None, ENV),
    Case("SSO named by AWS_PROFILE", _steps(lambda w: _sso_profile(w, profile="corp"), _set(AWS_PROFILE="corp")),
         "sso", None, ENV),
    Case("shared files before the container endpoint",
         _steps(_files_with_static, lambda w: w.env.update(
             AWS_CONTAINER_CREDENTIALS_FULL_URI=f"http://127.0.0.1:{refused_port()}/creds")),
         "config-file", "AKIACONFIGDEFAULT", ENV + ("literauth.aws.container",)),
    Case("credential_process in the profile", _process_profile, "custom-process", None, ENV + PROCESS),
    Case("a role assumed with a source profile's keys", _role_from_source_profile, "assume-role", None,
         ENV + ROLE_FAKES),
    Case("a role assumed with the environment's keys (credential_source)", _role_from_environment, "assume-role",
         None, ROLE_FAKES),
    Case("a role before web identity variables", _steps(_role_from_source_profile, _web_identity_env),
         "assume-role", None, ENV + ROLE_FAKES),
    Case("the container endpoint", _container, "container-role", None, ENV + CONTAINER),
    Case("the container endpoint before instance metadata", _steps(_container, _instance_metadata),
         "container-role", None, ENV + CONTAINER + IMDS),
    Case("instance metadata", _instance_metadata, "iam-role", None, ALL + IMDS),
    Case("instance metadata refused: no credentials",
         lambda w: w.env.update(AWS_EC2_METADATA_SERVICE_ENDPOINT=f"http://127.0.0.1:{refused_port()}/"),
         None, None, ALL),
]


@pytest.fixture
def world(server: FakeIdentityServer, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """Nothing of the machine's own AWS setup: a fresh HOME, no AWS_* variable, botocore's SSO cache there."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    (tmp_path / ".aws" / "sso" / "cache").mkdir(parents=True)
    cache = str(tmp_path / ".aws" / "sso" / "cache")
    # botocore computes its SSO cache directory when it is imported, from the HOME of then.
    monkeypatch.setattr(botocore.credentials.SSOProvider, "_SSO_TOKEN_CACHE_DIR", cache)
    monkeypatch.setattr(botocore.tokens.SSOTokenProvider, "_SSO_TOKEN_CACHE_DIR", cache)
    w = World(server, tmp_path)
    w.env.update(
        HOME=str(tmp_path),
        AWS_CONFIG_FILE=str(tmp_path / ".aws" / "config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / ".aws" / "credentials"),
        AWS_ENDPOINT_URL_STS=server.url,
        AWS_ENDPOINT_URL_SSO=server.url,
        AWS_DEFAULT_REGION="us-east-1",
    )
    yield w


def _botocore(w: World, monkeypatch: pytest.MonkeyPatch) -> tuple[str | None, str | None]:
    """(method, access key) as botocore finds them, with `w.env` as the whole AWS environment."""
    env = dict(w.env)
    if "AWS_EC2_METADATA_SERVICE_ENDPOINT" not in env:
        env["AWS_EC2_METADATA_DISABLED"] = "true"
    with monkeypatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        session = botocore_session.Session(profile=w.profile)
        credentials = session.get_credentials()
        if credentials is None:
            return None, None
        return credentials.method, credentials.get_frozen_credentials().access_key


def _literauth(w: World) -> tuple[str | None, str | None]:
    env = dict(w.env)
    if "AWS_EC2_METADATA_SERVICE_ENDPOINT" not in env:
        env["AWS_EC2_METADATA_DISABLED"] = "true"
    chain = default_chain(profile=w.profile, environ=env, session=w.server.session(), imds_timeout=0.5)
    try:
        keys = chain.resolve()
    except SourceNotConfigured as exc:
        for outcome in chain.describe():  # every source says why it was skipped
            assert outcome.status == "skipped" and outcome.reason, str(exc)
        return None, None
    chosen = [outcome.name for outcome in chain.describe() if outcome.status == "chosen"]
    chain.close()
    return chosen[0], keys.access_key_id.expose_secret()  # type: ignore[attr-defined]


def _issued_by_fakes(w: World) -> dict[str, str]:
    """Access key -> which fake issued it (and for which role), for keys no file holds."""
    issued = {c.access_key_id.expose_secret(): f"sts {c.role_arn}" for c in w.server.sts.issued_credentials}
    issued.update({c.access_key_id.expose_secret(): f"sso {c.account_id}/{c.role_name}" for c in w.sso.issued_credentials})
    for name in ("aws.assume_role", "aws.container", "aws.instance_metadata"):
        if name in w.server.endpoints:
            for item in w.server.endpoint(name).issued_credentials:  # type: ignore[attr-defined]
                issued[item.access_key_id.expose_secret()] = f"{name} {getattr(item, 'role_arn', '')}"
    helper = w.home / "process" / "credential-process.json"
    if helper.exists():  # the credential_process helper answers the same keys on every run
        key = json.loads(helper.read_text())["document"]["AccessKeyId"]
        issued[key] = "credential_process"
    return issued


@pytest.mark.parametrize("case", CASES, ids=str)
def test_literauth_and_botocore_choose_the_same_source(
    world: World, case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in case.needs:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not merged yet")
    case.setup(world)
    boto_method, boto_key = _botocore(world, monkeypatch)
    ours_method, ours_key = _literauth(world)
    assert boto_method == case.method, f"botocore chose {boto_method}: the case's expectation is wrong"
    assert ours_method == case.method
    if case.key is not None:
        assert boto_key == ours_key == case.key
    elif case.method is not None:
        issued = _issued_by_fakes(world)
        assert boto_key in issued and ours_key in issued
        assert issued[boto_key] == issued[ours_key]  # the same role of the same fake


def test_a_named_profile_no_file_has_fails_both(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.env.update(AWS_PROFILE="ghost", AWS_ACCESS_KEY_ID="AKIAENVIRONMENT", AWS_SECRET_ACCESS_KEY=SECRET)
    with pytest.raises(botocore.exceptions.ProfileNotFound):
        _botocore(world, monkeypatch)
    with pytest.raises(ConfigurationError, match="profile 'ghost' is not in") as info:
        _literauth(world)
    assert not isinstance(info.value, SourceNotConfigured)
