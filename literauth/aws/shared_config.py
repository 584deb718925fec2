"""Credentials from an AWS shared-config profile, resolved the way botocore resolves them.

A profile yields, in botocore's order: a role to assume (``role_arn`` with ``source_profile``
or ``credential_source``), a web identity role (``web_identity_token_file``), an SSO role
(``sso_session`` or the legacy inline ``sso_start_url``...), static keys in the credentials
file, a ``credential_process``, static keys in the config file. Each is one chain source
(named by botocore's ``method``), so `describe()` says why the others were skipped. A
``source_profile`` is resolved recursively through the same sources (a profile may name
itself to use its own static keys); a loop, a missing profile, an incomplete profile or an
unknown ``credential_source`` is a `ConfigurationError` when the provider is built.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from .._env import environment, optional
from ..chain import ChainProvider, SourceOutcome
from ..credentials import AwsCredentials, Credential
from ..errors import ConfigurationError, SourceNotConfigured, TokenTextError
from ..provider import CredentialProvider, check_options
from ..secret import SecretString
from . import _profiles
from ._profiles import Section, SharedConfig

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..provider import ProviderOptions

__all__ = [
    "CREDENTIAL_SOURCES",
    "DEFAULT_REGION",
    "ProfileSources",
    "SharedConfigProvider",
    "StaticKeysProvider",
    "region_for",
]

DEFAULT_REGION = "us-east-1"
_NAME = "aws.shared_config"
#: ``credential_source`` values botocore knows (case-sensitive, as botocore checks them).
CREDENTIAL_SOURCES = ("Environment", "Ec2InstanceMetadata", "EcsContainer")

Source = Callable[[], CredentialProvider]


def region_for(environ: Mapping[str, str], profile: Section) -> str:
    """`AWS_REGION`, else `AWS_DEFAULT_REGION`, else the profile's ``region``, else ``us-east-1``."""
    return (
        optional(environ, "AWS_REGION")
        or optional(environ, "AWS_DEFAULT_REGION")
        or (profile.get("region") or "").strip()
        or DEFAULT_REGION
    )


class StaticKeysProvider(CredentialProvider):
    """Long-term keys written in a profile: served as they are, with no I/O and no refresh."""

    credential_type: ClassVar[type[AwsCredentials]] = AwsCredentials

    def __init__(self, credential: AwsCredentials, source: str) -> None:
        self._credential = credential
        self.source = source  #: where the keys were found, for messages (a file and a profile)

    def resolve(self, *, force_refresh: bool = False) -> AwsCredentials:
        """The keys; `force_refresh` changes nothing (a file's keys do not change by asking)."""
        return self._credential

    def __repr__(self) -> str:
        return f"StaticKeysProvider(source={self.source!r})"


def _static_keys(section: Section, where: str) -> StaticKeysProvider | None:
    """The profile's static keys (botocore: ``aws_security_token`` before ``aws_session_token``)."""
    if "aws_access_key_id" not in section:
        return None
    secret = section.get("aws_secret_access_key")
    if secret is None:
        raise ConfigurationError(f"{_NAME}: {where} has aws_access_key_id but no aws_secret_access_key")
    token = section.get("aws_security_token", section.get("aws_session_token"))
    problem = None
    try:
        credential = AwsCredentials(
            SecretString(section["aws_access_key_id"].strip()),
            SecretString(secret.strip()),
            None if token is None or not token.strip() else SecretString(token.strip()),
        )
    except TokenTextError as exc:  # names the field and the character class, never the value
        problem = str(exc)
    if problem is not None:
        raise ConfigurationError(f"{_NAME}: {where}: {problem}")
    return StaticKeysProvider(credential, where)


class ProfileSources:
    """botocore's profile-based sources over one parsed `SharedConfig`, as chain sources.

    `environ` supplies the endpoint overrides, the home directory and the sources behind
    ``credential_source``; `region` is where STS is called; `options` go to every provider built.
    """

    #: The order of botocore's profile sources (its ``method`` names).
    NAMES = (
        "assume-role",
        "assume-role-with-web-identity",
        "sso",
        "shared-credentials-file",
        "custom-process",
        "config-file",
    )

    def __init__(
        self, config: SharedConfig, environ: Mapping[str, str], *, region: str, options: Mapping[str, Any]
    ) -> None:
        self._config = config
        self._environ = environ
        self._region = region
        self._options = dict(options)

    def sources(self, profile: str, *, env_web_identity: bool) -> list[tuple[str, Source]]:
        """The six sources of `profile`; `env_web_identity` lets `AWS_WEB_IDENTITY_TOKEN_FILE`... win over it."""
        return [
            ("assume-role", lambda: self._assume_role(profile, [profile])),
            ("assume-role-with-web-identity", lambda: self._web_identity(profile, use_env=env_web_identity)),
            *self._profile_sources(profile)[1:],
        ]

    def _profile_sources(self, profile: str) -> list[tuple[str, Source]]:
        """What botocore's `ProfileProviderBuilder` gives a source profile (no assume-role, no env)."""
        return [
            ("assume-role-with-web-identity", lambda: self._web_identity(profile, use_env=False)),
            ("sso", lambda: self._sso(profile)),
            ("shared-credentials-file", lambda: self._shared_credentials(profile)),
            ("custom-process", lambda: self._process(profile)),
            ("config-file", lambda: self._config_file(profile)),
        ]

    def _section(self, profile: str) -> Section:
        return self._config.profile(profile)

    # -- the sources -------------------------------------------------------------------

    def _assume_role(self, profile: str, visited: list[str]) -> CredentialProvider:
        section = self._section(profile)
        if "role_arn" not in section:
            raise SourceNotConfigured(f"profile {profile!r} has no role_arn")
        if "web_identity_token_file" in section:
            raise SourceNotConfigured(f"profile {profile!r} has web_identity_token_file: a web identity role")
        if "mfa_serial" in section:
            raise ConfigurationError(
                f"{_NAME}: profile {profile!r} sets mfa_serial, which needs an interactive MFA prompt; "
                "literauth does not prompt (use a profile without it, or credentials from another source)"
            )
        source_profile, credential_source = section.get("source_profile"), section.get("credential_source")
        if source_profile is not None and credential_source is not None:
            raise ConfigurationError(f"{_NAME}: profile {profile!r} sets both source_profile and credential_source")
        if credential_source is not None:
            source = self._credential_source(profile, credential_source.strip())
        elif source_profile is not None:
            source = self._source_profile(profile, source_profile.strip(), visited)
        else:
            raise ConfigurationError(
                f"{_NAME}: profile {profile!r} sets role_arn but neither source_profile nor credential_source"
            )
        from .assume_role import AssumeRoleProvider

        return AssumeRoleProvider(
            source,
            section["role_arn"].strip(),
            session_name=_text(section, "role_session_name"),
            external_id=_text(section, "external_id"),
            duration_seconds=_duration(profile, section),
            region=self._region,
            sts_endpoint=optional(self._environ, "AWS_ENDPOINT_URL_STS"),
            environ=self._environ,
            **self._options,
        )

    def _source_profile(self, parent: str, name: str, visited: list[str]) -> CredentialProvider:
        """The credentials of ``source_profile`` `name`, with botocore's loop rules."""
        if name not in self._config.profiles:
            raise ConfigurationError(
                f"{_NAME}: the source_profile {name!r} of profile {parent!r} is not in {self._config.files}"
            )
        section = self._config.profiles[name]
        has_static = "aws_access_key_id" in section or "aws_secret_access_key" in section
        if name in visited and (name != parent or not has_static):
            loop = " -> ".join([*visited, name])
            raise ConfigurationError(f"{_NAME}: source_profile loop: {loop}")
        visited = [*visited, name]
        has_role = "role_arn" in section and "web_identity_token_file" not in section
        if has_static or not has_role:
            chain = ChainProvider(self._profile_sources(name), name=f"source profile {name!r}")
            try:
                return chain.choose()
            except SourceNotConfigured:
                pass  # raised below with the reasons, outside the handler
            reasons = "; ".join(str(outcome) for outcome in chain.describe())
            raise ConfigurationError(f"{_NAME}: the source_profile {name!r} has no credentials ({reasons})")
        return self._assume_role(name, visited)

    def _credential_source(self, profile: str, name: str) -> CredentialProvider:
        """The provider behind ``credential_source``: it must be configured here."""
        if name not in CREDENTIAL_SOURCES:
            raise ConfigurationError(
                f"{_NAME}: profile {profile!r} has credential_source {name[:40]!r}; "
                f"botocore knows {', '.join(CREDENTIAL_SOURCES)}"
            )
        factory: Callable[..., CredentialProvider]
        if name == "Environment":
            from .environment import EnvironmentCredentialsProvider

            factory = EnvironmentCredentialsProvider.from_env
        elif name == "EcsContainer":
            from .container import ContainerCredentialsProvider

            factory = ContainerCredentialsProvider.from_env
        else:
            from .instance_metadata import InstanceMetadataCredentialsProvider

            factory = InstanceMetadataCredentialsProvider.from_env
        reason = None
        try:
            return factory(self._environ, **self._options)
        except SourceNotConfigured as exc:
            reason = str(exc)
        raise ConfigurationError(f"{_NAME}: profile {profile!r} has credential_source {name}, but {reason}")

    def _web_identity(self, profile: str, *, use_env: bool) -> CredentialProvider:
        """``web_identity_token_file``/``role_arn``/``role_session_name``: each from the environment first when `use_env`."""
        section = self._section(profile)
        variables = {
            "web_identity_token_file": "AWS_WEB_IDENTITY_TOKEN_FILE",
            "role_arn": "AWS_ROLE_ARN",
            "role_session_name": "AWS_ROLE_SESSION_NAME",
        }
        values = {
            key: (optional(self._environ, variable) if use_env else None) or _text(section, key)
            for key, variable in variables.items()
        }
        token_file = values["web_identity_token_file"]
        if token_file is None:
            where = "AWS_WEB_IDENTITY_TOKEN_FILE is not set and " if use_env else ""
            raise SourceNotConfigured(f"{where}profile {profile!r} has no web_identity_token_file")
        if values["role_arn"] is None:
            raise ConfigurationError(
                f"{_NAME}: a web identity token file is configured for profile {profile!r} but no role: "
                "set role_arn in the profile or AWS_ROLE_ARN"
            )
        from .web_identity import DEFAULT_SESSION_NAME, WebIdentityCredentialProvider

        return WebIdentityCredentialProvider(
            values["role_arn"],
            token_file,
            values["role_session_name"] or DEFAULT_SESSION_NAME,
            self._region,
            sts_endpoint=optional(self._environ, "AWS_ENDPOINT_URL_STS"),
            **self._options,
        )

    def _sso(self, profile: str) -> CredentialProvider:
        from .sso import SsoCredentialProvider, sso_settings

        settings = sso_settings(self._config, profile)
        if settings is None:
            raise SourceNotConfigured(f"profile {profile!r} has no sso_account_id or sso_role_name")
        return SsoCredentialProvider.from_settings(settings, self._environ, **self._options)

    def _shared_credentials(self, profile: str) -> CredentialProvider:
        return self._keys_in(self._config.credentials_profiles, self._config.credentials_file, profile)

    def _process(self, profile: str) -> CredentialProvider:
        command = _text(self._section(profile), "credential_process")
        if command is None:
            raise SourceNotConfigured(f"profile {profile!r} has no credential_process")
        from .process import ProcessCredentialsProvider

        # `timeout` is an HTTP timeout for the other sources; a process has its own (per run).
        options = {key: value for key, value in self._options.items() if key != "timeout"}
        return ProcessCredentialsProvider(command, **options)

    def _config_file(self, profile: str) -> CredentialProvider:
        return self._keys_in(self._config.config_profiles, self._config.config_file, profile)

    @staticmethod
    def _keys_in(sections: Mapping[str, Section], path: str, profile: str) -> CredentialProvider:
        """The static keys of `profile` in one file (`sections`, read from `path`)."""
        where = f"profile {profile!r} in {path}"
        keys = _static_keys(sections.get(profile, {}), where)
        if keys is not None:
            return keys
        if profile in sections:
            raise SourceNotConfigured(f"{where} has no aws_access_key_id")
        raise SourceNotConfigured(f"{path} has no profile {profile!r}" if os.path.isfile(path) else f"no file {path}")


def _text(section: Section, key: str) -> str | None:
    value = section.get(key)
    return value.strip() or None if value is not None else None


def _duration(profile: str, section: Section) -> int:
    value = _text(section, "duration_seconds")
    if value is None:
        return 3600
    if not value.isdigit():
        raise ConfigurationError(f"{_NAME}: profile {profile!r} has duration_seconds {value[:20]!r}, not a whole number")
    return int(value)


class SharedConfigProvider(CredentialProvider):
    """The credentials of one shared-config profile (`AWS_PROFILE`, else ``default``).

    The files are read once, when built, and the source chosen then (`source`, `describe()`);
    `resolve()` goes to that source's provider, with its own cache and refresh. `region`:
    `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's ``region``, else ``us-east-1``.
    Web identity comes from the profile's keys only (the default chain adds the variables).
    """

    provider_name = "aws.shared_config"
    credential_type: ClassVar[type[Credential]] = AwsCredentials

    def __init__(
        self,
        profile: str | None = None,
        *,
        environ: Mapping[str, str] | None = None,
        **options: Unpack[ProviderOptions],
    ) -> None:
        check_options(type(self).__name__, _NAME, options)  # static keys build no provider that would
        env = environment(environ)
        self._profile = _profiles.profile_name(profile, env)
        config = _profiles.load_shared_config(env)
        self._region = region_for(env, config.profile(self._profile))
        sources = ProfileSources(config, env, region=self._region, options=options)
        self._chain = ChainProvider(
            sources.sources(self._profile, env_web_identity=False), name=f"{_NAME} profile {self._profile!r}"
        )
        self._provider = self._chain.choose()

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **options: Unpack[ProviderOptions]
    ) -> SharedConfigProvider:
        """The provider for the profile the environment names; `environ=None` means `os.environ`."""
        return cls(None, environ=environ, **options)

    @property
    def profile(self) -> str:
        """The profile's name."""
        return self._profile

    @property
    def region(self) -> str:
        """The AWS region for signing and for STS."""
        return self._region

    @property
    def source(self) -> str:
        """Which of the profile's sources was chosen (botocore's ``method`` name, e.g. ``sso``)."""
        return next(outcome.name for outcome in self._chain.describe() if outcome.status == "chosen")

    @property
    def provider(self) -> CredentialProvider:
        """The provider of the chosen source."""
        return self._provider

    def describe(self) -> Sequence[SourceOutcome]:
        """Each of the profile's sources: chosen, skipped (why) or not tried."""
        return self._chain.describe()

    def resolve(self, *, force_refresh: bool = False) -> Credential:
        """A credential from the chosen source."""
        return self._provider.resolve(force_refresh=force_refresh)

    def invalidate(self) -> None:
        """Drop the chosen source's cached credential."""
        self._provider.invalidate()

    def close(self) -> None:
        """Close the chosen source's provider."""
        self._provider.close()

    def _cache_identity(self) -> tuple[dict[str, str], bytes | None] | None:
        identity = getattr(self._provider, "_cache_identity", None)
        return identity() if callable(identity) else None

    def __repr__(self) -> str:
        return f"SharedConfigProvider(profile={self._profile!r}, source={self.source!r}, provider={self._provider!r})"
