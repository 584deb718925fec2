"""Reading OAuth 2.0 JSON token answers (RFC 6749 §5), shared by the Azure and Google providers."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from ._http import EndpointError, TokenResponse
from .credentials import UTC, BearerToken
from .errors import MalformedResponseError
from .secret import SecretString

__all__ = ["parse_bearer_token", "parse_json_object", "parse_oauth_error"]

_NOT_JSON = object()  # marks a body json.loads refused


def parse_json_object(response: TokenResponse, provider: str, host: str) -> dict[str, Any]:
    """The body as a JSON object, or `MalformedResponseError` naming provider and host."""
    try:
        data = json.loads(response.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deeply
        data = _NOT_JSON  # raised below, outside the handler: the decoding error holds the body
    if data is _NOT_JSON:
        raise MalformedResponseError(
            f"{provider}: token endpoint {host} answered HTTP {response.status_code} with a body "
            "that is not JSON",
            provider=provider, host=host,
        )
    if not isinstance(data, dict):
        raise MalformedResponseError(
            f"{provider}: token endpoint {host} answered with JSON that is not an object",
            provider=provider, host=host,
        )
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


def parse_bearer_token(response: TokenResponse, provider: str, host: str) -> BearerToken:
    """A `BearerToken` from `access_token` and `expires_in`, timed from when the request was sent."""
    data = parse_json_object(response, provider, host)
    token = data.get("access_token")
    if not isinstance(token, str) or not token.strip():
        raise MalformedResponseError(
            f"{provider}: token endpoint {host} answered without an access_token",
            provider=provider, host=host,
        )
    token_type = data.get("token_type", "Bearer")
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise MalformedResponseError(
            f"{provider}: token endpoint {host} answered with token_type {str(token_type)[:40]!r}, "
            "not Bearer",
            provider=provider, host=host,
        )
    expires_in = _seconds(data.get("expires_in"))
    if expires_in is None:
        raise MalformedResponseError(
            f"{provider}: token endpoint {host} answered without a numeric expires_in",
            provider=provider, host=host,
        )
    try:
        expires_at = datetime.fromtimestamp(response.sent_at + expires_in, UTC)
    except (OverflowError, OSError, ValueError):
        raise MalformedResponseError(
            f"{provider}: token endpoint {host} answered with an out-of-range expires_in",
            provider=provider, host=host,
        ) from None
    return BearerToken(SecretString(token), expires_at)


def parse_oauth_error(response: TokenResponse) -> EndpointError:
    """`error` and `error_description` of an RFC 6749 error body; empty when unreadable."""
    try:
        data = json.loads(response.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return EndpointError(None)
    if not isinstance(data, dict):
        return EndpointError(None)
    error = data.get("error")
    description = data.get("error_description")
    return EndpointError(
        error_code=error if isinstance(error, str) and error else None,
        description=description if isinstance(description, str) else None,
    )
