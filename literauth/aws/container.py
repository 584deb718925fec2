"""AWS container credentials: ECS task roles and EKS Pod Identity, from a local HTTP endpoint.

ECS sets ``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI``, a path on the task metadata address
169.254.170.2. EKS Pod Identity (and ECS Anywhere, Greengrass, local emulators) set
``AWS_CONTAINER_CREDENTIALS_FULL_URI`` plus an authorization token, literal in
``AWS_CONTAINER_AUTHORIZATION_TOKEN`` or in the file ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE``
(rotated by the kubelet, so read again for every fetch). Plain http is accepted only where
botocore accepts it: loopback, 169.254.170.2, 169.254.170.23 and fd00:ec2::23.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

from .._env import environment, optional
from .._files import check_path, read_token_file
from .._http import TokenRequest
from .._url import UrlPolicy, check_endpoint_url, is_loopback_host
from ..credentials import AwsCredentials, check_token_text
from ..errors import ConfigurationError, SourceNotConfigured
from ..provider import RefreshingCredentialProvider
from ..secret import SecretString
from ._metadata import parse_json_credentials, parse_metadata_error

if TYPE_CHECKING:
    import os

    from typing_extensions import Unpack

    from ..provider import ProviderOptions

__all__ = ["ECS_HOST", "FULL_URI_HOSTS", "ContainerCredentialsProvider"]

_PROVIDER = "aws.container"
ECS_HOST = "http://169.254.170.2"  #: where a RELATIVE_URI points; botocore cannot redirect it
#: Hosts a plain-http FULL_URI may name besides loopback (botocore's allow-list).
FULL_URI_HOSTS = frozenset({"169.254.170.2", "169.254.170.23", "fd00:ec2::23"})
RELATIVE_URI = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"
FULL_URI = "AWS_CONTAINER_CREDENTIALS_FULL_URI"
TOKEN = "AWS_CONTAINER_AUTHORIZATION_TOKEN"
TOKEN_FILE = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"
_TIMEOUT = (2.0, 5.0)  # a local agent: connect fast; botocore allows 2 s for everything


class ContainerCredentialsProvider(RefreshingCredentialProvider):
    """Temporary `AwsCredentials` from the ECS / EKS Pod Identity credentials endpoint.

    Give `relative_uri` (ECS: a path on `ecs_host`, 169.254.170.2 unless a test moves it)
    or `full_uri`, not both. `authorization_token` or `authorization_token_file` (at most
    one) is sent as the ``Authorization`` header; the file is read, stripped, for every
    fetch. No request is made here. The default timeout is (2, 5) seconds.
    """

    provider_name = _PROVIDER
    credential_type: ClassVar[type[AwsCredentials]] = AwsCredentials
    REQUIRED_ENV: ClassVar[tuple[str, ...]] = ()  # one of RELATIVE_URI and FULL_URI

    def __init__(
        self,
        *,
        full_uri: str | None = None,
        relative_uri: str | None = None,
        authorization_token: str | SecretString | None = None,
        authorization_token_file: str | os.PathLike[str] | None = None,
        ecs_host: str = ECS_HOST,
        **options: Unpack[ProviderOptions],
    ) -> None:
        options.setdefault("timeout", _TIMEOUT)
        super().__init__(**options)
        url = _container_url(full_uri, relative_uri, ecs_host)
        if authorization_token is not None and authorization_token_file is not None:
            raise ConfigurationError(
                f"{_PROVIDER}: give authorization_token or authorization_token_file, not both"
            )
        self._token = None if authorization_token is None else _check_token(authorization_token)
        self._token_file = (None if authorization_token_file is None
                            else check_path(_PROVIDER, "authorization_token_file", authorization_token_file))
        self._fetcher = self._make_fetcher(url, url_policy=UrlPolicy.METADATA, endpoint="container credentials endpoint")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **options: Unpack[ProviderOptions]
    ) -> ContainerCredentialsProvider:
        """From the variables ECS and EKS Pod Identity set; `SourceNotConfigured` without either URI.

        As in botocore, ``RELATIVE_URI`` wins over ``FULL_URI`` and the token file over the
        literal token. No request is made here.
        """
        env = environment(environ)
        relative, full = optional(env, RELATIVE_URI), optional(env, FULL_URI)
        if relative is None and full is None:
            raise SourceNotConfigured(f"{_PROVIDER}: neither {RELATIVE_URI} nor {FULL_URI} is set")
        token_file = optional(env, TOKEN_FILE)
        return cls(
            relative_uri=relative,
            full_uri=None if relative is not None else full,
            authorization_token=None if token_file is not None else optional(env, TOKEN),
            authorization_token_file=token_file,
            **options,
        )

    @property
    def endpoint(self) -> str:
        """The URL credentials are fetched from."""
        return self._fetcher.url

    def _fetch(self) -> AwsCredentials:
        """One GET with the current authorization token; the JSON answer read by `parse_json_credentials`."""
        headers: dict[str, str | SecretString] = {"Accept": "application/json"}
        token = self._token
        if self._token_file is not None:
            token = read_token_file(self._token_file, provider=_PROVIDER, what="authorization token file")
        if token is not None:
            headers["Authorization"] = token
        response = self._fetcher.send(TokenRequest(method="GET", headers=headers), parse_metadata_error)
        return parse_json_credentials(response)

    def _cache_identity(self) -> tuple[dict[str, str], bytes | None]:
        """The endpoint names the identity; its token is no stable secret (the agent rotates it)."""
        return {"source": "container", "endpoint": self._fetcher.url}, None

    def _repr_fields(self) -> dict[str, object]:
        return {"endpoint": _shown(self._fetcher.url)}


def _container_url(full_uri: str | None, relative_uri: str | None, ecs_host: str) -> str:
    """The credentials URL, checked against botocore's rule for plain http."""
    if (full_uri is None) == (relative_uri is None):
        raise ConfigurationError(
            f"{_PROVIDER}: give exactly one of relative_uri (ECS, {RELATIVE_URI}) and full_uri ({FULL_URI})"
        )
    if relative_uri is not None:
        if not isinstance(relative_uri, str) or not relative_uri.strip().startswith("/"):
            raise ConfigurationError(f"{_PROVIDER}: relative_uri must be a path starting with '/'")
        base = check_endpoint_url(ecs_host, f"{_PROVIDER} ecs_host", UrlPolicy.METADATA).rstrip("/")
        return check_endpoint_url(base + relative_uri.strip(), f"{_PROVIDER} relative_uri", UrlPolicy.METADATA)
    url = check_endpoint_url(str(full_uri), f"{_PROVIDER} full_uri", UrlPolicy.METADATA)
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "http" and not is_loopback_host(host) and host not in FULL_URI_HOSTS:
        raise ConfigurationError(
            f"{_PROVIDER}: full_uri host {host!r} is not allowed over plain http; use https, loopback, "
            f"or one of {', '.join(sorted(FULL_URI_HOSTS))} (as botocore requires)"
        )
    return url


def _check_token(token: str | SecretString) -> SecretString:
    secret = token if isinstance(token, SecretString) else SecretString(str(token).strip())
    check_token_text(f"{_PROVIDER}: authorization_token", secret)
    return secret


def _shown(url: str) -> str:
    """The URL without its query (which may carry a secret), for a repr."""
    parts = urlsplit(url)
    return parts._replace(query="", fragment="").geturl()
