"""`ClientConfig` and `Client`: call an LLM or cloud API with credentials from a provider.

`Client` is a thin wrapper around a `requests.Session`: it joins paths to the base URL and
signs every request, with `BearerAuth` for token providers and `SigV4Auth` for AWS ones.
The provider's `credential_type` says which; a provider that declares none is judged by the
host (an AWS API host means SigV4). `DefaultClient` is a deprecated alias of `Client`.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

import requests
import requests.adapters

from ._http import Timeout
from ._url import check_endpoint_url
from .aws._sigv4 import check_name
from .aws._sts import PARTITION_DNS_SUFFIXES, is_region
from .credentials import AwsCredentials, BearerToken, Credential
from .errors import ConfigurationError
from .integrations.requests import BearerAuth, SigV4Auth, check_provider
from .provider import SupportsResolve

if TYPE_CHECKING:
    from typing_extensions import Self  # noqa: UP035 - Python 3.10 has no typing.Self

__all__ = ["Client", "ClientConfig", "DefaultClient", "infer_aws_region_and_service"]

_log = logging.getLogger("literauth.client")

DEFAULT_TIMEOUT = 60.0  # seconds: LLM answers can take a while to generate
_POOL_SIZE = 32  # connections kept per host: worker threads share one client (requests keeps 10)
# AWS API host suffixes: every partition's DNS suffix, and the dual-stack and Lambda URL domains.
_AWS_SUFFIXES = (*(f".{suffix}" for suffix in PARTITION_DNS_SUFFIXES), ".api.aws", ".on.aws")
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://|https?:|//", re.IGNORECASE)
_SIGNING_NAMES = {  # host label -> the service name requests are signed for
    "bedrock-runtime": "bedrock",
    "bedrock-agent": "bedrock",
    "bedrock-agent-runtime": "bedrock",
    "lambda-url": "lambda",
    "s3-accesspoint": "s3",
    "s3-control": "s3",
}
_GLOBAL_SERVICES = frozenset({"sts", "s3", "iam"})  # aws-partition hosts without a region sign for us-east-1
_NOT_SERVICES = frozenset({"dualstack", "vpce"})


def infer_aws_region_and_service(host: str) -> tuple[str | None, str | None]:
    """Region and signing service from an AWS host name; `None` for what cannot be told.

    ``bedrock-runtime.us-east-1.amazonaws.com`` -> ``("us-east-1", "bedrock")``,
    ``sts.amazonaws.com`` -> ``("us-east-1", "sts")``, ``example.com`` -> ``(None, None)``.
    """
    host = host.lower().rstrip(".")
    for suffix in _AWS_SUFFIXES:
        if host.endswith(suffix):
            labels = host[: -len(suffix)].split(".")
            break
    else:
        return None, None
    for index, label in enumerate(labels):
        if is_region(label):
            after = [name for name in labels[index + 1 :] if name not in _NOT_SERVICES]
            before = [name for name in labels[:index] if name not in _NOT_SERVICES]
            if after:  # <domain>.<region>.es.amazonaws.com
                return label, _service(after[0])
            return label, _service(before[-1]) if before else None
        if label.startswith("s3-") and is_region(label[3:]):  # legacy s3-us-west-2
            return label[3:], "s3"
    service = _service(labels[-1]) if labels and labels[-1] else None
    if service in _GLOBAL_SERVICES and suffix == ".amazonaws.com":  # other partitions: no such default
        return "us-east-1", service
    return None, service


def _service(label: str) -> str:
    label = label.removesuffix("-fips")
    return _SIGNING_NAMES.get(label, label)


def _check_timeout(timeout: object) -> Timeout:
    values = timeout if isinstance(timeout, tuple) else (timeout,)
    if len(values) not in (1, 2) or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values
    ):
        raise ConfigurationError(
            f"ClientConfig timeout must be seconds > 0 or a (connect, read) pair, got {timeout!r}"
        )
    return timeout  # type: ignore[return-value]


def _check_headers(headers: object) -> Mapping[str, str]:
    if headers is None:
        return MappingProxyType({})
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ConfigurationError("ClientConfig headers must map str names to str values")
    if any(k.strip().lower() == "authorization" for k in headers):
        raise ConfigurationError("ClientConfig headers must not set Authorization: the provider does")
    return MappingProxyType(dict(headers))


def _check_aws_name(what: str, value: object) -> str | None:
    """`None` (infer it from the host), or a name `SigV4Auth` accepts."""
    return None if value is None else check_name(what, value, owner="ClientConfig")


def _shown_url(url: str) -> str:
    """Scheme, host and path only: a query, fragment or user info may carry a key."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "an unreadable URL"
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


@dataclasses.dataclass(frozen=True)
class ClientConfig:
    """What a `Client` calls and with which credentials; validated once, immutable.

    - base_url: https, or http on loopback; paths are joined below it (an Azure OpenAI
      deployment path is kept) and a query string in it is sent with every request.
    - credential_provider: anything with `resolve()`; bearer tokens or AWS keys.
    - timeout: seconds, or a (connect, read) pair, for each request.
    - headers: sent with every request (values are not shown by `repr`).
    - aws_region, aws_service: SigV4 scope; `None` infers them from an AWS host name.
    """

    base_url: str
    credential_provider: SupportsResolve
    _: dataclasses.KW_ONLY
    timeout: Timeout = DEFAULT_TIMEOUT
    headers: Mapping[str, str] | None = None
    aws_region: str | None = None
    aws_service: str | None = None

    def __post_init__(self) -> None:
        base_url = check_endpoint_url(self.base_url, "ClientConfig base_url")
        if urlsplit(base_url).fragment:
            raise ConfigurationError("ClientConfig base_url must not have a #fragment")
        check_provider(self.credential_provider, "ClientConfig")
        object.__setattr__(self, "base_url", base_url)
        object.__setattr__(self, "timeout", _check_timeout(self.timeout))
        object.__setattr__(self, "headers", _check_headers(self.headers))
        object.__setattr__(self, "aws_region", _check_aws_name("aws_region", self.aws_region))
        object.__setattr__(self, "aws_service", _check_aws_name("aws_service", self.aws_service))

    def __repr__(self) -> str:
        names = sorted(self.headers or {})
        return (
            f"ClientConfig(base_url={_shown_url(self.base_url)!r}, "
            f"credential_provider={self.credential_provider!r}, "
            f"timeout={self.timeout!r}, headers={names!r}, aws_region={self.aws_region!r}, "
            f"aws_service={self.aws_service!r})"
        )


def _declared_credential(provider: object) -> type[Credential] | None:
    """The credential type `provider`'s class declares (`credential_type`); `None` when unknown.

    Providers declare it as a public class attribute; the base `Credential` (the default)
    says nothing, and then the host and the config decide.
    """
    declared = getattr(type(provider), "credential_type", Credential)
    if isinstance(declared, type) and issubclass(declared, Credential) and declared is not Credential:
        return declared
    return None


def _make_auth(config: ClientConfig) -> BearerAuth | SigV4Auth:
    """`BearerAuth` or `SigV4Auth`, from what the provider declares, the config and the host."""
    provider = config.credential_provider
    host = urlsplit(config.base_url).hostname or ""
    region, service = infer_aws_region_and_service(host)
    region = config.aws_region or region
    service = config.aws_service or service
    declared = _declared_credential(provider)
    explicit_aws = config.aws_region is not None or config.aws_service is not None
    if declared is not None and issubclass(declared, BearerToken):
        if explicit_aws:
            raise ConfigurationError(
                f"ClientConfig: aws_region/aws_service are set but {type(provider).__name__} "
                "gives bearer tokens, which are not signed with SigV4"
            )
        return BearerAuth(provider)
    if declared is None and not explicit_aws and not host.endswith(_AWS_SUFFIXES):
        return BearerAuth(provider)
    if declared is not None and not issubclass(declared, AwsCredentials):
        raise ConfigurationError(
            f"ClientConfig: {type(provider).__name__} gives {declared.__name__}, which neither "
            "BearerAuth nor SigV4Auth can put on a request"
        )
    if region is None or service is None:
        missing = " and ".join(n for n, v in (("aws_region", region), ("aws_service", service)) if v is None)
        raise ConfigurationError(
            f"ClientConfig: cannot tell the SigV4 {missing} from host {host!r}; pass {missing}="
        )
    return SigV4Auth(provider, region=region, service=service)


def _new_session() -> requests.Session:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=_POOL_SIZE)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class Client:
    """Sends requests to `config.base_url` with credentials from `config.credential_provider`.

    Thread-safe: worker threads may share one client. Redirects are not followed unless a
    call passes ``allow_redirects=True``, so a credential never travels to another host.
    `session` lets you bring proxies, a CA bundle or adapters; a client closes only the
    session it created.

    `close()` (or leaving a ``with`` block) ends the client, not the credential provider:
    the provider may be shared, and has its own `close()` for its background refresh and its
    connections. A closed client refuses requests with `ConfigurationError`.
    """

    def __init__(self, config: ClientConfig, session: requests.Session | None = None) -> None:
        if not isinstance(config, ClientConfig):
            raise ConfigurationError(f"Client needs a ClientConfig, got {type(config).__name__}")
        self.config = config
        self.auth = _make_auth(config)
        self._owns_session = session is None
        self._session = session if session is not None else _new_session()
        self._base = urlsplit(config.base_url)
        self._closed = threading.Event()

    @property
    def session(self) -> requests.Session:
        """The `requests.Session` requests go through."""
        return self._session

    def url_for(self, path: str) -> str:
        """`path` joined below the base URL; absolute URLs and ``.``/``..`` segments are refused."""
        if not isinstance(path, str):
            raise ConfigurationError(f"Client path must be a str, got {type(path).__name__}")
        if _ABSOLUTE.match(path.lstrip()):
            raise ConfigurationError(
                f"Client takes a path below {_shown_url(self.config.base_url)!r}, not an absolute URL: "
                f"{_shown_url(path)!r}"
            )
        path, _, query = path.split("#", 1)[0].partition("?")
        if any(unquote(segment) in (".", "..") for segment in path.split("/")):
            raise ConfigurationError(f"Client path must not contain '.' or '..' segments: {path!r}")
        base_path = self._base.path
        if path.lstrip("/"):
            base_path = base_path.rstrip("/") + "/" + path.lstrip("/")
        elif path and not base_path.endswith("/"):
            base_path += "/"
        queries = "&".join(q for q in (self._base.query, query) if q)
        return urlunsplit((self._base.scheme, self._base.netloc, base_path, queries, ""))

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Send `method` to `path` below the base URL; `kwargs` are those of `requests`."""
        if self._closed.is_set():
            raise ConfigurationError("Client is closed")
        if "auth" in kwargs:
            raise ConfigurationError("Client signs requests itself; do not pass auth=")
        url = self.url_for(path)
        headers = dict(self.config.headers or {})
        headers.update(kwargs.pop("headers", None) or {})
        kwargs.setdefault("timeout", self.config.timeout)
        kwargs.setdefault("allow_redirects", False)
        response = self._session.request(method, url, headers=headers, auth=self.auth, **kwargs)
        _log.debug("%s %s%s -> %d", method.upper(), self._base.hostname, urlsplit(url).path, response.status_code)
        return response

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        """GET `path`."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        """POST to `path`."""
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        """PUT to `path`."""
        return self.request("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        """DELETE `path`."""
        return self.request("DELETE", path, **kwargs)

    def close(self) -> None:
        """Refuse later requests and close the session if this client created it.

        The provider is left open (others may share it): close it yourself when done.
        """
        self._closed.set()
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client(base_url={_shown_url(self.config.base_url)!r}, auth={self.auth!r})"


#: Deprecated: the name the original API used, kept so old code runs; write `Client`.
#: It is the same class and will be dropped before 1.0.
DefaultClient = Client
