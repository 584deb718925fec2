"""Shared by the Azure providers: the authority and tenant checks, scopes, and reading AADSTS errors."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .. import _safejson
from .._http import ErrorDetails, TokenResponse
from .._url import check_endpoint_url
from ..errors import ConfigurationError

__all__ = [
    "DEFAULT_AUTHORITY_HOST",
    "DEFAULT_SCOPE",
    "check_authority",
    "check_client_id",
    "check_scope",
    "check_tenant",
    "parse_error",
]

DEFAULT_SCOPE = "https://cognitiveservices.azure.com/.default"  # Azure OpenAI and other AI services
DEFAULT_AUTHORITY_HOST = "https://login.microsoftonline.com"  # the public cloud

_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DNS_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def check_tenant(provider: str, tenant_id: object) -> str:
    """A tenant GUID or a domain name: it becomes a URL path segment, so nothing else passes."""
    if not isinstance(tenant_id, str) or not tenant_id:
        raise ConfigurationError(f"{provider}: tenant_id must be a non-empty string")
    if _GUID.fullmatch(tenant_id) or _is_domain(tenant_id):
        return tenant_id
    if tenant_id.lower() in ("common", "organizations", "consumers"):
        raise ConfigurationError(
            f"{provider}: tenant_id {tenant_id!r} cannot issue client-credentials tokens; "
            "use the directory (tenant) ID GUID or a verified domain"
        )
    raise ConfigurationError(
        f"{provider}: tenant_id {tenant_id[:80]!r} is neither a GUID nor a domain name "
        "like contoso.onmicrosoft.com"
    )


def _is_domain(name: str) -> bool:
    labels = name.split(".")
    return (
        len(name) <= 253
        and len(labels) >= 2
        and all(_DNS_LABEL.fullmatch(label) for label in labels)
        and not labels[-1].isdigit()
    )


def check_client_id(provider: str, client_id: object) -> str:
    if not isinstance(client_id, str) or not client_id.strip():
        raise ConfigurationError(f"{provider}: client_id must be a non-empty string")
    if client_id != client_id.strip() or any(ch.isspace() for ch in client_id):
        raise ConfigurationError(f"{provider}: client_id {client_id[:80]!r} contains whitespace")
    return client_id


def check_scope(provider: str, scope: object) -> str:
    """One resource with the `/.default` suffix: the only form the client-credentials grant takes."""
    if not isinstance(scope, str) or not scope.strip():
        raise ConfigurationError(f"{provider}: scope must be a non-empty string")
    if any(ch.isspace() for ch in scope):
        raise ConfigurationError(
            f"{provider}: scope {scope[:120]!r} holds more than one value; the client-credentials "
            "grant takes a single '<resource>/.default' scope (use with_scope() for another resource)"
        )
    if not scope.endswith("/.default") or scope == "/.default":
        raise ConfigurationError(
            f"{provider}: scope {scope[:120]!r} must be a resource followed by '/.default', "
            f"e.g. {DEFAULT_SCOPE!r}"
        )
    return scope


def check_authority(provider: str, authority_host: object) -> str:
    """https (or http on loopback) with no path, query or fragment; a bare host means https."""
    if not isinstance(authority_host, str) or not authority_host.strip():
        raise ConfigurationError(f"{provider}: authority_host must be a non-empty URL")
    url = authority_host.strip()
    if "://" not in url:  # azure-identity accepts "login.microsoftonline.us"
        url = "https://" + url
    url = check_endpoint_url(url, f"{provider} authority_host").rstrip("/")
    parts = urlsplit(url)
    if parts.path or parts.query or parts.fragment:
        shown = f"{parts.scheme}://{parts.netloc}{parts.path}"  # a query or fragment may carry a secret
        raise ConfigurationError(
            f"{provider}: authority_host must be a bare URL such as {DEFAULT_AUTHORITY_HOST!r}, "
            f"without a path, query or fragment; got {shown!r}{' with a query or fragment' if shown != url else ''}"
        )
    return url


# -- reading error answers --------------------------------------------------------------


def parse_error(response: TokenResponse) -> ErrorDetails:
    """The AADSTS code, the first line of the description and the ids Azure support asks for."""
    data = _safejson.loads(response.body)
    if not isinstance(data, dict):
        return ErrorDetails(None)
    error = _text(data.get("error"))
    codes = data.get("error_codes")
    first = codes[0] if isinstance(codes, list) and codes else None
    code = f"AADSTS{first}" if isinstance(first, int) and not isinstance(first, bool) else error
    ids = [f"{name}={value}" for name in ("correlation_id", "trace_id") if (value := _text(data.get(name)))]
    return ErrorDetails(
        error_code=code,
        description=_description_line(_text(data.get("error_description")), code),
        retryable=True if error == "temporarily_unavailable" else None,
        reference=", ".join(ids) or None,
    )


def _text(value: object) -> str | None:
    """A non-empty string field of the body, stripped, else None."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def _description_line(text: str | None, code: str | None) -> str | None:
    """The description's first line, without the `AADSTSnnn:` prefix `code` already shows."""
    if text is None:
        return None
    line = text.splitlines()[0].strip()
    if code and line.startswith(f"{code}:"):
        line = line[len(code) + 1 :].strip()
    return line or None
