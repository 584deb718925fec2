"""`default_chain()`: AWS credentials from wherever botocore would find them, in botocore's order.

botocore's `create_credential_resolver` (1.44), source by source, each named by the
``method`` botocore gives its credentials:

1. ``env``: `AWS_ACCESS_KEY_ID`... (left out when a profile is passed explicitly;
   `AWS_PROFILE` does not remove it, so environment keys beat the profile named there);
2. ``assume-role``: the profile's ``role_arn`` with ``source_profile``/``credential_source``;
3. ``assume-role-with-web-identity``: `AWS_WEB_IDENTITY_TOKEN_FILE`/`AWS_ROLE_ARN` (each
   variable beating the profile's key, unless a profile is passed explicitly), else the profile's;
4. ``sso``; 5. ``shared-credentials-file``; 6. ``custom-process``; 7. ``config-file``;
8. ``container-role``: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`/`..._FULL_URI`;
9. ``iam-role``: EC2 instance metadata, unless `AWS_EC2_METADATA_DISABLED`; the one source
   that needs the network to know, asked once with one deadline (`IMDS_PROBE_TIMEOUT`).

Sources 1-8 decide from variables and files alone. A named profile that neither file has
fails the chain first, as botocore's `ProfileNotFound` does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._env import environment
from ..chain import ChainProvider
from ..credentials import AwsCredentials
from ..errors import ConfigurationError
from ..provider import CredentialProvider, check_options
from . import _profiles
from .shared_config import ProfileSources, region_for

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..provider import ProviderOptions

__all__ = ["IMDS_PROBE_TIMEOUT", "default_chain"]

#: Seconds, in all, the chain gives EC2 instance metadata to answer before deciding it is not
#: on EC2 (a refused port decides at once). botocore's default (1 s, one attempt, for the
#: token PUT and again for the GET) takes 2 s against an endpoint that never answers.
IMDS_PROBE_TIMEOUT = 1.0

Source = Callable[[], CredentialProvider]


class _AwsChain(ChainProvider):
    """The default chain, with the region and profile it was built for; it gives `AwsCredentials`."""

    def __init__(self, sources: list[tuple[str, Source]], settings: _Settings) -> None:
        super().__init__(sources, name="aws default chain", credential_type=AwsCredentials)
        self._aws = settings

    @property
    def profile(self) -> str:
        """The profile the profile-based sources read."""
        return self._aws.profile

    @property
    def region(self) -> str:
        """`AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's ``region``, else ``us-east-1``."""
        return self._aws.region()

    def choose(self) -> CredentialProvider:
        """Pick the source once; a broken config file or a missing named profile fails first."""
        if self.chosen is None:
            self._aws.profile_sources()
        return super().choose()


class _Settings:
    """What the sources share, read once and on first use: the parsed files and the region."""

    def __init__(self, profile: str, environ: Mapping[str, str], options: Mapping[str, Any]) -> None:
        self.profile = profile
        self.environ = environ
        self.options = options
        self._lock = threading.Lock()
        self._config: _profiles.SharedConfig | None = None
        self._sources: ProfileSources | None = None

    def config(self) -> _profiles.SharedConfig:
        with self._lock:
            if self._config is None:
                self._config = _profiles.load_shared_config(self.environ)
            return self._config

    def region(self) -> str:
        return region_for(self.environ, self.config().profile(self.profile))

    def profile_sources(self) -> ProfileSources:
        if self._sources is None:
            self._sources = ProfileSources(self.config(), self.environ, region=self.region(), options=self.options)
        return self._sources


def default_chain(
    *,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
    imds_timeout: float = IMDS_PROBE_TIMEOUT,
    **options: Unpack[ProviderOptions],
) -> _AwsChain:
    """The AWS default credential chain, botocore's order; its `region` attribute is the region to use.

    `profile` None means `AWS_DEFAULT_PROFILE`, `AWS_PROFILE`, else ``default``; passing one
    drops the environment keys and variables, as `botocore.session.Session(profile=...)`
    does. `environ` None means `os.environ`. `imds_timeout` bounds the instance metadata
    probe (seconds, all attempts). `options` go to the provider chosen.
    """
    if not isinstance(imds_timeout, (int, float)) or isinstance(imds_timeout, bool) or not 0 < imds_timeout <= 60:
        raise ConfigurationError(f"aws default chain: imds_timeout must be seconds in (0, 60], got {imds_timeout!r:.40}")
    check_options("default_chain", "aws default chain", options)  # a typo fails here, not at first use
    env = environment(environ)
    explicit = profile is not None
    settings = _Settings(_profiles.profile_name(profile, env), env, options)

    def profile_source(index: int) -> Source:
        def source() -> CredentialProvider:
            named = settings.profile_sources().sources(settings.profile, env_web_identity=not explicit)
            return named[index][1]()

        return source

    def environment_keys() -> CredentialProvider:
        from .environment import EnvironmentCredentialsProvider

        return EnvironmentCredentialsProvider.from_env(env, **options)

    def container() -> CredentialProvider:
        from .container import ContainerCredentialsProvider

        return ContainerCredentialsProvider.from_env(env, **options)

    def instance_metadata() -> CredentialProvider:
        from .instance_metadata import InstanceMetadataCredentialsProvider

        provider = InstanceMetadataCredentialsProvider.from_env(env, **options)
        try:
            provider.probe(imds_timeout)
        except BaseException:
            provider.close()
            raise
        return provider

    sources: list[tuple[str, Source]] = []
    if not explicit:
        sources.append(("env", environment_keys))
    sources += [(name, profile_source(index)) for index, name in enumerate(ProfileSources.NAMES)]
    sources += [("container-role", container), ("iam-role", instance_metadata)]
    return _AwsChain(sources, settings)
