"""AWS Signature Version 4, pure: `sign()` and `strict_url()`, with no HTTP library.

`sign()` follows the published algorithm: canonical request, string to sign with the
credential scope, derived signing key, hex signature. Providers (STS AssumeRole) and the
SDK integrations share it; `literauth.sigv4` is its public face.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterable, Mapping, MutableMapping
from datetime import datetime
from urllib.parse import quote, unquote_to_bytes, urlsplit, urlunsplit

from ..credentials import UTC, AwsCredentials
from ..errors import ConfigurationError

__all__ = ["ALGORITHM", "check_name", "sign", "sign_in_place", "strict_url"]

ALGORITHM = "AWS4-HMAC-SHA256"
_SINGLE_ENCODED = frozenset({"s3"})  # S3 signs the path as sent: not re-encoded, not normalised
_OWN_HEADERS = frozenset({"authorization", "x-amz-date"})  # sign() makes these itself
_TIMESTAMP = "%Y%m%dT%H%M%SZ"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")


# -- encoding -----------------------------------------------------------------------


def _encode(raw: bytes | str) -> str:
    """RFC 3986 percent-encoding: everything but ``A-Z a-z 0-9 - _ . ~``."""
    return quote(raw, safe="")


def _path_segments(path: str) -> list[bytes]:
    return [unquote_to_bytes(segment) for segment in path.split("/")]


def _query_pairs(query: str) -> list[tuple[bytes, bytes]]:
    """Decoded (key, value) pairs; ``+`` is a space, as in HTML forms and `requests`' params."""
    pairs = []
    for piece in query.split("&"):
        if not piece:
            continue
        key, _, value = piece.partition("=")
        pairs.append((unquote_to_bytes(key.replace("+", " ")), unquote_to_bytes(value.replace("+", " "))))
    return pairs


def strict_url(url: str) -> str:
    """`url` with its path and query strictly RFC 3986 encoded: the form `SigV4Auth` sends.

    Decoding first makes this idempotent; a key without ``=`` keeps its bare form.
    """
    parts = urlsplit(url)
    path = "/".join(_encode(segment) for segment in _path_segments(parts.path))
    pieces = []
    for piece in parts.query.split("&"):
        if not piece:
            continue
        key, equals, value = piece.partition("=")
        pieces.append(
            _encode(unquote_to_bytes(key.replace("+", " ")))
            + equals
            + _encode(unquote_to_bytes(value.replace("+", " ")))
        )
    return urlunsplit((parts.scheme, parts.netloc, path, "&".join(pieces), parts.fragment))


def _remove_dot_segments(segments: list[str]) -> list[str]:
    """RFC 3986 dot-segment removal; empty segments (``//``) go too, as AWS expects.

    Only literal ``.`` and ``..`` count: an encoded ``%2E`` is data on the wire, and AWS reads it so.
    """
    kept: list[str] = []
    for segment in segments:
        if segment in ("", "."):
            continue
        if segment == "..":
            if kept:
                kept.pop()
        else:
            kept.append(segment)
    return kept


def _canonical_uri(path: str, service: str) -> str:
    """The canonical URI AWS computes from `path` exactly as it travels on the wire.

    All services but S3: normalise the wire path (dot segments, ``//``), then percent-encode
    it once more, ``%`` included. A strictly encoded ``%24`` so becomes ``%2524`` (the
    documented "encode twice") while a raw ``$`` becomes ``%24`` (the published vector
    ``normalize-path/get-special-character``): AWS encodes what it received, never what the
    caller meant. Decoding first would double-encode a raw path and break its signature.
    S3 encodes each segment once and does not normalise, so a raw and a strict S3 path sign alike.
    """
    if not path:
        return "/"
    if service in _SINGLE_ENCODED:
        return "/".join(_encode(segment) for segment in _path_segments(path))
    kept = _remove_dot_segments(path.split("/"))
    if not kept:
        return "/"
    encoded = "/".join(_encode(segment) for segment in kept)  # the wire form, encoded once more
    trailing = "/" if path.endswith("/") else ""
    return f"/{encoded}{trailing}" if path.startswith("/") else encoded + trailing


def _canonical_query(query: str) -> str:
    """Pairs encoded, then sorted by key and, for repeated keys, by value; empty values kept."""
    encoded = sorted((_encode(key), _encode(value)) for key, value in _query_pairs(query))
    return "&".join(f"{key}={value}" for key, value in encoded)


def _host(url: str) -> str:
    """The Host header `requests` sends: lower-case host, port only when not the default."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def _signs(name: str) -> bool:
    """Signed: host, content-type and every x-amz-* header (never authorization, user-agent,
    x-amzn-trace-id or expect, which proxies and SDKs change on the way)."""
    return name in ("host", "content-type") or name.startswith("x-amz-")


def _trim(value: str | bytes) -> str:
    """A header value with outer whitespace trimmed and inner runs folded to one space."""
    text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
    return " ".join(text.split())


def _timestamp(now: datetime | float | None) -> str:
    if now is None:
        now = time.time()
    if isinstance(now, (int, float)):
        now = datetime.fromtimestamp(now, UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ConfigurationError("sign: now must be timezone-aware")
    return now.astimezone(UTC).strftime(_TIMESTAMP)


def check_name(what: str, value: object, *, owner: str = "SigV4") -> str:
    """`value` if it can be a region or service name in a credential scope; else `ConfigurationError`.

    Deliberately permissive (lower-case letters, digits, ``-``): a new region or service must
    not need a release. `owner` names who was given the value, for the message.
    """
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ConfigurationError(f"{owner} {what} must look like 'us-east-1' or 'bedrock', got {value!r}")
    return value


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(f"AWS4{secret}".encode(), date)
    for part in (region, service, "aws4_request"):
        key = _hmac(key, part)
    return key


# -- signing ------------------------------------------------------------------------


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str | bytes],
    body: bytes | str | None,
    credentials: AwsCredentials,
    *,
    region: str,
    service: str,
    now: datetime | float | None = None,
    also_sign: Iterable[str] = (),
) -> dict[str, str]:
    """The headers that sign this request with SigV4: add them to the request before sending.

    Returns `Authorization` and `X-Amz-Date`, `X-Amz-Security-Token` when the credentials
    carry a session token, and `X-Amz-Content-SHA256` for S3 unless the caller set it (its
    value is then signed as the payload hash, e.g. ``UNSIGNED-PAYLOAD``). `url` is exactly what
    will be sent, strictly encoded or not: the signature is computed from the path as it
    travels, as AWS computes it (`strict_url()` gives the form every proxy keeps intact).
    `body` is its exact bytes (a `str` counts as UTF-8) and `now` the signing time (a
    timezone-aware datetime or epoch seconds; `None` is now). `also_sign` names more headers
    of `headers` to sign (Google's ``x-goog-cloud-target-resource``).
    """
    if not isinstance(credentials, AwsCredentials):
        raise ConfigurationError(f"sign needs AwsCredentials, got {type(credentials).__name__}")
    region = check_name("region", region)
    service = check_name("service", service)
    stamp = _timestamp(now)
    date = stamp[:8]
    payload = body.encode("utf-8") if isinstance(body, str) else (body or b"")

    added = {"X-Amz-Date": stamp}
    token = credentials.session_token
    if token is not None:
        added["X-Amz-Security-Token"] = token.expose_secret()
    signed: dict[str, list[str]] = {}
    extra = {name.strip().lower() for name in also_sign}
    for name, value in headers.items():
        lower = name.strip().lower()
        if (_signs(lower) or lower in extra) and lower not in _OWN_HEADERS and not (token is not None and lower == "x-amz-security-token"):
            signed.setdefault(lower, []).append(_trim(value))
    payload_hash = ",".join(signed.get("x-amz-content-sha256", [])) or hashlib.sha256(payload).hexdigest()
    if service in _SINGLE_ENCODED and "x-amz-content-sha256" not in signed:
        added["X-Amz-Content-SHA256"] = payload_hash
    for name, value in added.items():
        signed[name.lower()] = [_trim(value)]
    signed.setdefault("host", [_host(url)])

    names = sorted(signed)
    signed_headers = ";".join(names)
    parts = urlsplit(url)
    canonical_request = "\n".join(
        [
            method.upper(),
            _canonical_uri(parts.path, service),
            _canonical_query(parts.query),
            "".join(f"{name}:{','.join(signed[name])}\n" for name in names),
            signed_headers,
            payload_hash,
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [ALGORITHM, stamp, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()]
    )
    key = _signing_key(credentials.secret_access_key.expose_secret(), date, region, service)
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    added["Authorization"] = (
        f"{ALGORITHM} Credential={credentials.access_key_id.expose_secret()}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return added


# What an earlier signature (a first attempt, an SDK's own placeholder) left on a request.
_STALE_HEADERS = ("Authorization", "X-Amz-Date", "X-Amz-Security-Token")


def sign_in_place(
    method: str,
    url: str,
    headers: MutableMapping[str, str],
    body: bytes,
    credentials: AwsCredentials,
    *,
    region: str,
    service: str,
    now: datetime | float | None = None,
) -> None:
    """Replace any earlier signature in `headers` (case-insensitive) with a fresh `sign()`.

    What every HTTP-library auth does before each attempt, so a retry or an SDK's own
    ``Authorization`` placeholder never travels next to the new signature.
    """
    for name in _STALE_HEADERS:
        headers.pop(name, None)
    headers.update(sign(method, url, headers, body, credentials, region=region, service=service, now=now))
