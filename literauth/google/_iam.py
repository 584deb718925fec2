"""IAM Credentials `generateAccessToken`: a service account's token, paid for with another token.

Shared by impersonation (`impersonated.py`) and workload identity federation with
`service_account_impersonation_url` (`external_account.py`): one request, one answer
parser, one error reader. The answer's `expireTime` is an absolute RFC 3339 time; it is
read with or without fractional seconds (google-auth refuses fractions).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from typing import Any

from .. import _safejson
from .._http import ErrorDetails, TokenFetcher, TokenRequest, TokenResponse
from .._oauth import parse_bearer_token
from ..credentials import BearerToken, parse_rfc3339
from ..errors import ConfigurationError
from ..secret import SecretString

__all__ = [
    "DEFAULT_IAM_ENDPOINT",
    "DEFAULT_LIFETIME",
    "IAM_SCOPE",
    "MAX_LIFETIME",
    "check_lifetime",
    "check_principal",
    "generate_access_token",
    "generate_url",
    "parse_google_error",
    "principal_from_url",
]

#: The scope a token must carry to call IAM Credentials (google-auth's `iam._IAM_SCOPE`).
IAM_SCOPE = "https://www.googleapis.com/auth/iam"
DEFAULT_IAM_ENDPOINT = "https://iamcredentials.googleapis.com"
DEFAULT_LIFETIME = 3600
#: generateAccessToken's ceiling; up to 12 h only where an org policy allows it.
MAX_LIFETIME = 43200
_GENERATE = re.compile(r"/projects/[^/]+/serviceAccounts/(?P<principal>[^/:]+):generateAccessToken$")
_PRINCIPAL = re.compile(r"[A-Za-z0-9._%+@-]{1,254}")


def check_principal(provider: str, principal: object, what: str = "target_principal") -> str:
    """A service-account e-mail (or unique id) that can stand in an IAM resource name."""
    if not isinstance(principal, str) or not _PRINCIPAL.fullmatch(principal.strip()):
        shown = repr(principal)[:80] if isinstance(principal, str) else type(principal).__name__
        raise ConfigurationError(
            f"{provider}: {what} must be a service-account e-mail such as "
            f"'name@project.iam.gserviceaccount.com', got {shown}"
        )
    return principal.strip()


def check_lifetime(provider: str, lifetime: object, what: str = "lifetime") -> int:
    """Seconds the impersonated token should live: a whole number in 1..43200."""
    if isinstance(lifetime, bool) or not isinstance(lifetime, int) or not 0 < lifetime <= MAX_LIFETIME:
        raise ConfigurationError(
            f"{provider}: {what} must be a whole number of seconds from 1 to {MAX_LIFETIME}, got {lifetime!r:.40}"
        )
    return lifetime


def generate_url(endpoint: str, principal: str) -> str:
    """``{endpoint}/v1/projects/-/serviceAccounts/{principal}:generateAccessToken``."""
    return f"{endpoint.rstrip('/')}/v1/projects/-/serviceAccounts/{principal}:generateAccessToken"


def principal_from_url(provider: str, url: str, what: str) -> str:
    """The service account a ``…/serviceAccounts/{sa}:generateAccessToken`` URL names."""
    path = url.split("?", 1)[0]
    match = _GENERATE.search(path)
    if match is None:
        raise ConfigurationError(
            f"{provider}: {what} must end in /projects/-/serviceAccounts/<email>:generateAccessToken"
        )
    return check_principal(provider, match.group("principal"), what)


def _delegate(name: str) -> str:
    return name if name.startswith("projects/") else f"projects/-/serviceAccounts/{name}"


def generate_access_token(
    fetcher: TokenFetcher,
    source_token: SecretString,
    *,
    scopes: Iterable[str],
    delegates: Iterable[str] = (),
    lifetime: int = DEFAULT_LIFETIME,
    url: str | None = None,
) -> BearerToken:
    """POST generateAccessToken with `source_token` as the bearer; the impersonated token.

    `url` None means the fetcher's own URL (the full ``…:generateAccessToken`` URL).
    Delegates given as e-mails become ``projects/-/serviceAccounts/<email>``.
    """
    body: dict[str, Any] = {"scope": list(scopes), "lifetime": f"{lifetime}s"}
    chain = [_delegate(name) for name in delegates]
    if chain:
        body["delegates"] = chain
    bearer = SecretString(f"Bearer {source_token.expose_secret()}")
    request = TokenRequest(url=url, headers={"Authorization": bearer}, json=body, extra_secrets=(source_token,))
    return parse_generated_token(fetcher.send(request, parse_google_error))


def parse_generated_token(response: TokenResponse) -> BearerToken:
    """`accessToken` and `expireTime` of a generateAccessToken answer."""
    return parse_bearer_token(response, expiry=_expire_time, expiry_field="expireTime", token_field="accessToken")


def _expire_time(data: dict[str, Any], sent_at: float) -> float | None:
    """`expireTime` (absolute RFC 3339) as epoch seconds; None when absent or unreadable."""
    stamp = data.get("expireTime")
    expires = parse_rfc3339(stamp.strip()) if isinstance(stamp, str) else None
    return None if expires is None else expires.timestamp()


_HINTS = {
    "PERMISSION_DENIED": (
        "The caller needs roles/iam.serviceAccountTokenCreator (iam.serviceAccounts.getAccessToken) "
        "on the target service account, and the IAM Credentials API enabled in its project"
    ),
    "NOT_FOUND": "Check the target service account's e-mail: it does not exist or was deleted",
    "UNAUTHENTICATED": "The source credential was refused: check that it is valid and carries the iam or cloud-platform scope",
}


def parse_google_error(response: TokenResponse) -> ErrorDetails:
    """Google's API error ``{"error": {"code", "message", "status"}}``, with a hint when one helps.

    An OAuth-style ``{"error": "...", "error_description": "..."}`` body is read too.
    """
    data = _safejson.loads(response.body)
    if not isinstance(data, dict):
        return ErrorDetails(None)
    error = data.get("error")
    if isinstance(error, str):
        description = data.get("error_description")
        return ErrorDetails(error or None, description if isinstance(description, str) else None)
    if not isinstance(error, dict):
        return ErrorDetails(None)
    status, message = error.get("status"), error.get("message")
    code = status if isinstance(status, str) and status else None
    details = ErrorDetails(code, message if isinstance(message, str) else None)
    hint = _HINTS.get(code or "")
    return dataclasses.replace(details, hint=hint) if hint else details
