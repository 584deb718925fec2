"""A test OIDC issuer: signs service-account JWTs with a key only it holds, and verifies them.

Shared by the fakes that accept federated tokens (Entra ID workload identity, Google STS).
Tokens use HS256 with the issuer's own key, so no other party can verify or forge them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from typing import Any

from ._oauth import b64url, b64url_decode

__all__ = ["OidcIssuer"]


class OidcIssuer:
    """Issues and checks JWTs for `issuer`; `rotate()` invalidates every token issued so far."""

    def __init__(self, issuer: str) -> None:
        self.issuer = issuer
        self._key = secrets.token_bytes(32)

    def rotate(self) -> None:
        """A new signing key: every token issued so far now fails `signed_claims()`."""
        self._key = secrets.token_bytes(32)

    def issue(self, claims: Mapping[str, Any]) -> str:
        """A token carrying `claims` (``iss`` defaults to this issuer), signed now."""
        header = {"alg": "HS256", "typ": "JWT", "kid": "literauth-fake-oidc"}
        body = {"iss": self.issuer, **claims}
        signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(body).encode())}"
        signature = hmac.new(self._key, signing_input.encode("ascii"), hashlib.sha256).digest()
        return f"{signing_input}.{b64url(signature)}"

    def signed_claims(self, token: str) -> dict[str, Any] | str:
        """The claims of a token this issuer signed, or why it is not one ("not a JWT", "bad signature")."""
        parts = token.strip().split(".")
        if len(parts) != 3:
            return "not a JWT"
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except (ValueError, UnicodeDecodeError):
            return "not a JWT"
        if not isinstance(header, dict) or not isinstance(claims, dict):
            return "not a JWT"
        expected = hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256).digest()
        if header.get("alg") != "HS256" or not hmac.compare_digest(expected, signature):
            return "bad signature"
        return claims
