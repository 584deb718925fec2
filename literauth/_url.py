"""Which endpoint URLs literauth sends credentials to: the URL rule as a value (`UrlPolicy`).

https anywhere; plain http only on loopback (a test server); and plain http to the
link-local cloud metadata services only for the providers that talk to them. Messages quote
scheme, host and path, never user information or a query, which may carry a secret.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import ClassVar
from urllib.parse import urlsplit, urlunsplit

from .errors import ConfigurationError

__all__ = ["METADATA_HOSTS", "UrlPolicy", "check_endpoint_url", "is_loopback_host", "is_metadata_host"]

#: Link-local metadata services that answer only over plain http: Azure IMDS and EC2 IMDS
#: (IPv4 and IPv6), ECS task metadata, EKS Pod Identity (IPv4 and IPv6), Google's metadata server.
METADATA_HOSTS = frozenset(
    {"169.254.169.254", "169.254.170.2", "169.254.170.23", "fd00:ec2::254", "fd00:ec2::23",
     "metadata.google.internal"}
)
_METADATA_IPS = frozenset(ipaddress.ip_address(h) for h in METADATA_HOSTS if h[0].isdigit() or ":" in h)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_loopback_host(host: str) -> bool:
    """Whether `host` names this machine: exactly ``localhost``, 127.0.0.0/8 or ::1.

    ``*.localhost`` is refused: whether such a name resolves to loopback is up to the resolver.
    """
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    address = _ip(host)
    return address is not None and address.is_loopback


def is_metadata_host(host: str) -> bool:
    """Whether `host` is one of `METADATA_HOSTS` (IPv6 in any spelling)."""
    host = host.strip("[]").lower()
    return host in METADATA_HOSTS or _ip(host) in _METADATA_IPS


def _shown_url(scheme: str, host: str, path: str) -> str:
    """A URL for a message: scheme, host and path, never user information or a query."""
    return urlunsplit((scheme, f"[{host}]" if ":" in host else host, path, "", ""))


@dataclasses.dataclass(frozen=True)
class UrlPolicy:
    """Which endpoint URLs are acceptable: https anywhere, plain http on loopback only.

    `metadata_http=True` also allows plain http to the link-local `METADATA_HOSTS`; only
    providers talking to a metadata service use it (`UrlPolicy.METADATA`). There is no
    general http: a token sent in the clear to an arbitrary host is never what was meant.
    """

    metadata_http: bool = False

    DEFAULT: ClassVar[UrlPolicy]
    METADATA: ClassVar[UrlPolicy]

    def allows(self, scheme: str, host: str) -> bool:
        """Whether a URL with this scheme and host may be used."""
        if scheme == "https":
            return bool(host)
        if scheme != "http":
            return False
        return is_loopback_host(host) or (self.metadata_http and is_metadata_host(host))

    def check(self, url: str, what: str) -> str:
        """`url` stripped if acceptable, else `ConfigurationError`.

        Messages quote only scheme, host and path: user information or a query string could
        carry a secret.
        """
        if not isinstance(url, str) or not url.strip():
            raise ConfigurationError(f"{what} must be a non-empty URL")
        try:
            parts = urlsplit(url.strip())
            host = parts.hostname or ""
            has_user = bool(parts.username or parts.password)
            parts.port  # noqa: B018 - a malformed port raises here, not at the first request
        except ValueError:
            raise ConfigurationError(f"{what} is not a valid URL") from None
        if has_user:
            raise ConfigurationError(f"{what} must not carry user information")
        shown = _shown_url(parts.scheme, host, parts.path)
        if parts.scheme not in ("https", "http") or not host:
            raise ConfigurationError(f"{what} must be an absolute https:// URL, got {shown!r}")
        if not self.allows(parts.scheme, host):
            where = "loopback or a cloud metadata service" if self.metadata_http else "loopback"
            raise ConfigurationError(
                f"{what} must use https:// (plain http is only allowed on {where}), got {shown!r}"
            )
        return url.strip()


UrlPolicy.DEFAULT = UrlPolicy()
UrlPolicy.METADATA = UrlPolicy(metadata_http=True)


def check_endpoint_url(url: str, what: str, policy: UrlPolicy = UrlPolicy.DEFAULT) -> str:
    """`policy.check(url, what)`: the URL if acceptable, else `ConfigurationError`."""
    return policy.check(url, what)
