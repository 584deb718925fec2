"""OAuth 2.0 on top of the fetcher: the grants (RFC 6749, 7523, 8693) and reading their answers.

A provider's `_fetch` becomes one call: ``return client_credentials(fetcher, client_id=…, …)``.
Answers are read by pure functions of the `TokenResponse`, which names provider and host.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from . import _safejson
from ._http import (
    ErrorDetails,
    ErrorParser,
    FormValue,
    TokenFetcher,
    TokenRequest,
    TokenResponse,
)
from .credentials import UTC, BearerToken
from .errors import ConfigurationError, TokenTextError
from .secret import SecretString

__all__ = [
    "JWT_BEARER_ASSERTION_TYPE",
    "JWT_BEARER_GRANT",
    "TOKEN_EXCHANGE_GRANT",
    "basic_client_auth",
    "client_credentials",
    "jwt_bearer",
    "parse_bearer_token",
    "parse_json_object",
    "parse_oauth_error",
    "refresh_token",
    "token_exchange",
]

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"  # RFC 7523 §2.1
JWT_BEARER_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"  # RFC 7523 §2.2
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"  # RFC 8693 §2.1

Scope = str | Iterable[str]


# -- reading answers ------------------------------------------------------------------------


def parse_json_object(response: TokenResponse, provider: str = "", host: str = "") -> dict[str, Any]:
    """The body as a JSON object, or the response's `MalformedResponseError`.

    `provider` and `host` are for a response that does not carry them (a response built by hand, as tests do).
    """
    response = response.with_context(provider, host)
    data = _safejson.loads(response.body)
    if isinstance(data, _safejson.Invalid):
        raise response.malformed(f"answered HTTP {response.status_code} with a body that is {data.reason}")
    if not isinstance(data, dict):
        raise response.malformed("answered with JSON that is not an object")
    return data


def _seconds(value: object) -> float | None:
    """`expires_in` as a number: providers send an int, a float or a numeric string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # JSON integers have no size limit; 1e309 and up do not fit a float
            return None
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def parse_bearer_token(
    response: TokenResponse,
    provider: str = "",
    host: str = "",
    *,
    expiry: Callable[[dict[str, Any], float], float | None] | None = None,
    expiry_field: str = "expires_in",
    token_field: str = "access_token",
) -> BearerToken:
    """A `BearerToken` from `access_token` and its expiry, timed from when the request was sent.

    By default the expiry is `expires_in` seconds after sending; `expiry(data, sent_at)` reads
    another form (Azure managed identity's `expires_on`, IAM's `expireTime`), named
    `expiry_field` in messages; `token_field` names the token (IAM's `accessToken`).
    `provider` and `host` are for a response that does not carry them (a response built by hand, as tests do).
    """
    response = response.with_context(provider, host)
    data = parse_json_object(response)
    token = data.get(token_field)
    if not isinstance(token, str) or not token.strip():
        raise response.malformed(f"answered without an {token_field}")
    token_type = data.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise response.malformed(f"answered with token_type {str(token_type)[:40]!r}, not Bearer")
    if expiry is None:
        seconds = _seconds(data.get("expires_in"))
        expires = None if seconds is None else response.sent_at + seconds
    else:
        expires = expiry(data, response.sent_at)
    if expires is None:
        raise response.malformed(f"answered without a {'numeric' if expiry is None else 'usable'} {expiry_field}")
    try:
        expires_at: datetime | None = datetime.fromtimestamp(expires, UTC)
    except (OverflowError, OSError, ValueError):
        expires_at = None  # raised below, outside the handler
    if expires_at is None:
        raise response.malformed(f"answered with an out-of-range {expiry_field}")
    problem = None
    try:
        return BearerToken(SecretString(token), expires_at)
    except TokenTextError as exc:  # names the character and its position, never the token
        problem = str(exc)
    raise response.malformed(f"answered with an unusable {token_field} ({problem})")


def parse_oauth_error(response: TokenResponse, *_context: str) -> ErrorDetails:
    """`error` and `error_description` of an RFC 6749 §5.2 error body; empty when unreadable."""
    data = _safejson.loads(response.body)
    if not isinstance(data, dict):
        return ErrorDetails(None)
    error = data.get("error")
    description = data.get("error_description")
    return ErrorDetails(
        error_code=error if isinstance(error, str) and error else None,
        description=description if isinstance(description, str) else None,
    )


# -- the grants -----------------------------------------------------------------------------


def _secret(value: SecretString | str) -> SecretString:
    return value if isinstance(value, SecretString) else SecretString(value)


def _scope(scope: Scope | None) -> str | None:
    """A scope parameter: space-separated (RFC 6749 §3.3); None or empty leaves it out."""
    if scope is None:
        return None
    text = scope if isinstance(scope, str) else " ".join(scope)
    return text or None


def _grant(
    fetcher: TokenFetcher,
    form: Mapping[str, FormValue | None],
    parse_error: ErrorParser | None,
    headers: Mapping[str, FormValue] | None = None,
) -> BearerToken:
    """POST a grant form (parameters set to None are left out) and read the bearer token.

    `parse_error` reads the endpoint's error answers (Azure's AADSTS codes, Google's hints);
    None means plain RFC 6749 §5.2 errors. `headers` are added (client authentication).
    """
    request = TokenRequest(form={k: v for k, v in form.items() if v is not None}, headers=headers or {})
    return parse_bearer_token(fetcher.send(request, parse_error or parse_oauth_error))


def client_credentials(
    fetcher: TokenFetcher,
    *,
    client_id: str,
    scope: Scope | None,
    client_secret: SecretString | str | None = None,
    client_assertion: SecretString | str | None = None,
    assertion_type: str = JWT_BEARER_ASSERTION_TYPE,
    extra: Mapping[str, FormValue] | None = None,
    parse_error: ErrorParser | None = None,
) -> BearerToken:
    """RFC 6749 §4.4: a token for the client itself, authenticated by a secret or an assertion.

    Exactly one of `client_secret` (sent in the body, §2.3.1) and `client_assertion` (RFC
    7521 §4.2, a signed JWT or a federated token) is required. `extra` adds parameters
    (Azure's ``client_info``, a ``resource``).
    """
    if (client_secret is None) == (client_assertion is None):
        raise ConfigurationError("client_credentials needs exactly one of client_secret and client_assertion")
    form: dict[str, FormValue | None] = {"grant_type": "client_credentials", "client_id": client_id,
                                         "scope": _scope(scope), **(extra or {})}
    if client_secret is not None:
        form["client_secret"] = _secret(client_secret)
    else:
        assert client_assertion is not None  # checked above; for the type checker
        form["client_assertion_type"] = assertion_type
        form["client_assertion"] = _secret(client_assertion)
    return _grant(fetcher, form, parse_error)


def jwt_bearer(
    fetcher: TokenFetcher,
    assertion: SecretString | str,
    *,
    scope: Scope | None = None,
    parse_error: ErrorParser | None = None,
) -> BearerToken:
    """RFC 7523 §2.1: a token for a signed JWT assertion (Google service accounts)."""
    form: dict[str, FormValue | None] = {
        "grant_type": JWT_BEARER_GRANT, "assertion": _secret(assertion), "scope": _scope(scope),
    }
    return _grant(fetcher, form, parse_error)


def refresh_token(
    fetcher: TokenFetcher,
    refresh_token: SecretString | str,
    *,
    client_id: str,
    client_secret: SecretString | str | None = None,
    scope: Scope | None = None,
    parse_error: ErrorParser | None = None,
) -> BearerToken:
    """RFC 6749 §6: a new access token for a refresh token (Google authorized_user).

    A rotated refresh token in the answer is not returned: the providers using this grant
    keep theirs.
    """
    return _grant(fetcher, {
        "grant_type": "refresh_token",
        "refresh_token": _secret(refresh_token),
        "client_id": client_id,
        "client_secret": None if client_secret is None else _secret(client_secret),
        "scope": _scope(scope),
    }, parse_error)


def basic_client_auth(client_id: str, client_secret: SecretString | str | None) -> SecretString:
    """RFC 6749 §2.3.1 HTTP Basic client authentication: the ``Authorization`` header value.

    The id and secret are not form-encoded first, as Google's clients send them.
    """
    secret = "" if client_secret is None else _secret(client_secret).expose_secret()
    pair = f"{client_id}:{secret}".encode()
    return SecretString("Basic " + base64.b64encode(pair).decode("ascii"))


def token_exchange(
    fetcher: TokenFetcher,
    subject_token: SecretString | str,
    subject_token_type: str,
    *,
    audience: str | None = None,
    scope: Scope | None = None,
    requested_token_type: str | None = None,
    options: Mapping[str, object] | None = None,
    client_id: str | None = None,
    client_secret: SecretString | str | None = None,
    parse_error: ErrorParser | None = None,
) -> BearerToken:
    """RFC 8693 §2.1: trade a token from one issuer for an access token (Google external_account).

    `options` (Google STS's non-standard features, e.g. ``{"userProject": ...}``) is sent as
    a JSON object in the ``options`` parameter; `client_id` adds HTTP Basic client
    authentication (§2.3.1) with `client_secret`.
    """
    headers = None if client_id is None else {"Authorization": basic_client_auth(client_id, client_secret)}
    return _grant(fetcher, {
        "grant_type": TOKEN_EXCHANGE_GRANT,
        "audience": audience,
        "scope": _scope(scope),
        "requested_token_type": requested_token_type,
        "subject_token": _secret(subject_token),
        "subject_token_type": subject_token_type,
        "options": json.dumps(dict(options), separators=(",", ":")) if options else None,
    }, parse_error, headers)
