"""Fake AWS STS `AssumeRole`: verifies the SigV4 signature and answers like the real service.

A request is accepted only when signed with keys this server knows: static keys registered
with the endpoint (`add_source_keys`, one pair made at start), or temporary keys any fake
on the same server issued earlier (web identity, another AssumeRole: role chaining), while
they last. The signature is recomputed here from the request as received, with code of
its own (not literauth's signer), so the fake is an independent oracle. Roles are checked
against what tests register (`add_role`): the ARN, who may assume it, and its ExternalId.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import re
import secrets
import string
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from ...aws.assume_role import AssumeRoleProvider
from ...credentials import UTC, AwsCredentials
from ...provider import CredentialProvider
from ...secret import SecretString
from .._server import RecordedRequest, Reply, Route, ServerCore
from .sts import _ROLE_ARN, StsService, _sts_error

if TYPE_CHECKING:
    import os

__all__ = ["AssumeRoleEndpoint", "Role", "SourceKeys", "StaticKeysProvider"]

DEFAULT_ASSUMED_ROLE_ARN = "arn:aws:iam::222222222222:role/literauth-bedrock-invoker"
DEFAULT_SOURCE_PRINCIPAL = "arn:aws:iam::111111111111:user/literauth-source"
MAX_SKEW = 15 * 60  # seconds AWS accepts between X-Amz-Date and its own clock
CHAINED_MAX_DURATION = 3600  # the most a role assumed with another role's keys may ask for
_SCOPE_TAIL = "sts/aws4_request"
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/\s,]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/(?P<tail>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)
_SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
_EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}", re.ASCII)
_KEY_ALPHABET = string.ascii_uppercase + "234567"
_INVALID_KEY = "The security token included in the request is invalid."
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)


@dataclasses.dataclass(frozen=True)
class SourceKeys:
    """Long-term keys registered with the endpoint, and the principal they belong to."""

    access_key_id: SecretString
    secret_access_key: SecretString
    principal: str = DEFAULT_SOURCE_PRINCIPAL

    def credentials(self) -> AwsCredentials:
        """These keys as `AwsCredentials` (no session token, no expiry)."""
        return AwsCredentials(self.access_key_id, self.secret_access_key)


@dataclasses.dataclass(frozen=True)
class Role:
    """A role tests register: who may assume it (`trusted` principal or role ARNs, None: anyone),
    the ExternalId its trust policy requires (None: none), and its MaxSessionDuration."""

    arn: str
    trusted: frozenset[str] | None = None
    external_id: str | None = None
    max_session_duration: int = 43200


@dataclasses.dataclass(frozen=True)
class _Signer:
    """Who signed a request: the secret to check against, the caller, and when the keys end."""

    secret: str
    session_token: str | None
    caller: str  # a principal ARN, or the role ARN for keys from an assumed role
    chained: bool  # the keys are a role's temporary keys
    expires_at: float | None


class StaticKeysProvider(CredentialProvider):
    """A source of fixed keys (the endpoint's registered pair): no I/O, never expires."""

    credential_type: ClassVar[type[AwsCredentials]] = AwsCredentials
    provider_name = "testing.static_keys"

    def __init__(self, credentials: AwsCredentials, *, region: str = "us-east-1") -> None:
        self._credentials = credentials
        self.region = region
        self.resolves = 0

    def resolve(self, *, force_refresh: bool = False) -> AwsCredentials:
        self.resolves += 1
        return self._credentials

    def __repr__(self) -> str:
        return f"StaticKeysProvider(region={self.region!r})"


def _new_source_keys(principal: str = DEFAULT_SOURCE_PRINCIPAL) -> SourceKeys:
    key_id = "AKIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))
    return SourceKeys(SecretString(key_id), SecretString(secrets.token_urlsafe(30)[:40]), principal)


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()


class AssumeRoleEndpoint(StsService):
    """STS AssumeRole at ``POST /`` (or ``/sts``): SigV4 verified, roles, ExternalId and durations checked.

    Settings tests change (all restored by `reset()`): `roles` (by ARN; `add_role()`; the
    default role `DEFAULT_ASSUMED_ROLE_ARN` trusts anyone), `region` (the signing region
    required, None: any), `lifetime` (unset: the requested DurationSeconds).
    `source_keys` is the pair of static keys registered at start (`add_source_keys()` adds more).
    """

    name = "sts_assume_role"
    action = "AssumeRole"
    routes: ClassVar[tuple[Route, ...]] = ()

    def __init__(self, server: ServerCore) -> None:
        super().__init__(server)
        self._static: dict[str, SourceKeys] = {}
        self.source_keys = self.add_source_keys()
        self._defaults()

    def _defaults(self) -> None:
        self.roles: dict[str, Role] = {DEFAULT_ASSUMED_ROLE_ARN: Role(DEFAULT_ASSUMED_ROLE_ARN)}
        self.region: str | None = None

    def reset(self) -> None:
        """Forget faults, requests, issued keys and changed settings; registered source keys stay."""
        super().reset()
        self._defaults()

    # -- what tests register -------------------------------------------------------------------

    def add_source_keys(self, principal: str = DEFAULT_SOURCE_PRINCIPAL) -> SourceKeys:
        """A new pair of long-term keys for `principal`, accepted as signing keys from now on."""
        keys = _new_source_keys(principal)
        with self._lock:
            self._static[keys.access_key_id.expose_secret()] = keys
        return keys

    def add_role(
        self,
        arn: str,
        *,
        trusted: set[str] | frozenset[str] | None = None,
        external_id: str | None = None,
        max_session_duration: int = 43200,
    ) -> Role:
        """Register role `arn`: only registered roles can be assumed."""
        role = Role(arn, None if trusted is None else frozenset(trusted), external_id, max_session_duration)
        self.roles[arn] = role
        return role

    # -- answering -------------------------------------------------------------------------------

    def matches(self, method: str, path: str, form: Mapping[str, str]) -> bool:
        return method == "POST" and path in ("/", "/sts") and form.get("Action") == "AssumeRole"

    def respond(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        request_id = str(uuid.uuid4())
        signer = self._verify_signature(request)
        self._check_version(form)
        role_arn, session = form.get("RoleArn"), form.get("RoleSessionName")
        if not role_arn or not session:
            missing = "roleArn" if not role_arn else "roleSessionName"
            raise _sts_error(
                "ValidationError",
                f"1 validation error detected: Value null at '{missing}' failed to satisfy constraint: "
                "Member must not be null",
            )
        if not _SESSION_NAME.fullmatch(session):
            raise _sts_error("ValidationError", "1 validation error detected: Value at 'roleSessionName' failed "
                             r"to satisfy constraint: Member must satisfy regular expression pattern: [\w+=,.@-]*")
        if _ROLE_ARN.fullmatch(role_arn) is None:
            raise _sts_error("ValidationError", "Request ARN is invalid")
        duration = self._duration(form.get("DurationSeconds"), signer)
        role = self.roles.get(role_arn)
        denied = f"User: {signer.caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
        if role is None or (role.trusted is not None and signer.caller not in role.trusted):
            raise _sts_error("AccessDenied", denied)
        external_id = form.get("ExternalId")
        if external_id is not None and not _EXTERNAL_ID.fullmatch(external_id):
            raise _sts_error("ValidationError", "1 validation error detected: Value at 'externalId' failed to "
                             "satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]*")
        if role.external_id is not None and not hmac.compare_digest(
            (external_id or "").encode(), role.external_id.encode()
        ):
            raise _sts_error("AccessDenied", denied)
        if duration > role.max_session_duration:
            raise _sts_error(
                "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
            )
        policy = form.get("Policy")
        if policy is not None:
            try:
                parsed = json.loads(policy)
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                raise _sts_error("MalformedPolicyDocument", "The policy is not in the valid JSON format.")
        issued = self._issue(role_arn, session, duration, signer.caller, request_id)
        return self._answer(issued, after="    <PackedPolicySize>6</PackedPolicySize>\n" if policy else "")

    def _duration(self, text: str | None, signer: _Signer) -> int:
        if text is None:
            return 3600
        if not re.fullmatch(r"\d{1,9}", text) or not 900 <= int(text) <= 43200:
            raise _sts_error(
                "ValidationError",
                f"1 validation error detected: Value '{text[:20]}' at 'durationSeconds' failed to satisfy "
                "constraint: Member must have value between 900 and 43200",
            )
        duration = int(text)
        if signer.chained and duration > CHAINED_MAX_DURATION:
            raise _sts_error(
                "ValidationError",
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
            )
        return duration

    # -- SigV4, recomputed from the request as received ----------------------------------------

    def _known(self, key_id: str) -> _Signer | None:
        """The signer of `key_id`: registered static keys, or keys any fake here issued."""
        with self._lock:
            static = self._static.get(key_id)
        if static is not None:
            return _Signer(static.secret_access_key.expose_secret(), None, static.principal, False, None)
        for issued in self._issued_anywhere():
            if _text(getattr(issued, "access_key_id", None)) == key_id:
                expiration = getattr(issued, "expiration", None)
                return _Signer(
                    _text(getattr(issued, "secret_access_key", None)) or "",
                    _text(getattr(issued, "session_token", None)),
                    str(getattr(issued, "role_arn", "") or DEFAULT_SOURCE_PRINCIPAL),
                    bool(getattr(issued, "role_arn", None)),
                    expiration.timestamp() if isinstance(expiration, datetime) else None,
                )
        return None

    def _issued_anywhere(self) -> Iterator[object]:
        """Everything every endpoint of this server has issued (any fake with `issued_credentials`)."""
        for endpoint in self.server.endpoints.values():
            issued = getattr(endpoint, "issued_credentials", None)
            if isinstance(issued, list):
                yield from issued

    def _verify_signature(self, request: RecordedRequest) -> _Signer:
        authorization = request.header("Authorization")
        if not authorization:
            raise _sts_error("MissingAuthenticationToken", "Request is missing Authentication Token")
        match = _AUTHORIZATION.fullmatch(authorization.strip())
        if match is None:
            raise _sts_error("IncompleteSignature", "Authorization header requires Credential, SignedHeaders "
                             "and Signature, AWS4-HMAC-SHA256 with an sts scope")
        signer = self._known(match["key"])
        if signer is None:
            raise _sts_error("InvalidClientTokenId", _INVALID_KEY)
        token = request.header("X-Amz-Security-Token")
        if signer.session_token is not None and (
            token is None or not hmac.compare_digest(token.encode(), signer.session_token.encode())
        ):
            raise _sts_error("InvalidClientTokenId", _INVALID_KEY)
        now = self.now()
        if signer.expires_at is not None and now >= signer.expires_at:
            raise _sts_error("ExpiredToken", "The security token included in the request is expired")
        stamp = request.header("X-Amz-Date") or ""
        try:
            signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        except ValueError:
            raise _sts_error("IncompleteSignature", "X-Amz-Date is missing or not of the form YYYYMMDDTHHMMSSZ") from None
        if abs(now - signed_at) > MAX_SKEW:
            raise _sts_error("SignatureDoesNotMatch", f"Signature expired: {stamp} is now earlier or later than "
                             "the server's time by more than 15 minutes")
        names = match["signed"].split(";")
        if match["tail"] != _SCOPE_TAIL or match["date"] != stamp[:8] or "host" not in names:
            raise _sts_error("SignatureDoesNotMatch", _MISMATCH)
        if self.region is not None and match["region"] != self.region:
            raise _sts_error("SignatureDoesNotMatch", f"Credential should be scoped to a valid region, not "
                             f"'{match['region']}'")
        expected = self._signature(request, names, stamp, match["region"], signer.secret)
        if expected is None or not hmac.compare_digest(expected, match["signature"]):
            raise _sts_error("SignatureDoesNotMatch", _MISMATCH)
        return signer

    @staticmethod
    def _signature(request: RecordedRequest, names: list[str], stamp: str, region: str, secret: str) -> str | None:
        """SigV4 over the request as received: None when a signed header is absent."""
        headers: dict[str, str] = {}
        for name in names:
            value = request.header(name)
            if value is None:
                return None
            headers[name] = " ".join(value.split())
        # Each segment as it travelled, encoded once more (so ``%2F`` signs as ``%252F``), as AWS does.
        path = "/".join(_encode(part) for part in request.path.split("/")) or "/"
        query = "&".join(f"{k}={v}" for k, v in sorted((_encode(k), _encode(v)) for k, v in request.query.items()))
        body = request.body.expose_secret().encode("utf-8")
        payload = request.header("X-Amz-Content-SHA256") or hashlib.sha256(body).hexdigest()
        canonical = "\n".join([
            request.method, path, query, "".join(f"{n}:{headers[n]}\n" for n in names), ";".join(names), payload,
        ])
        scope = f"{stamp[:8]}/{region}/{_SCOPE_TAIL}"
        to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key = f"AWS4{secret}".encode()
        for part in (stamp[:8], region, "sts", "aws4_request"):
            key = _hmac(key, part)
        return hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()

    # -- for tests -------------------------------------------------------------------------------

    def source(self, keys: SourceKeys | None = None) -> StaticKeysProvider:
        """A provider of registered static keys (the start pair by default), to sign with."""
        return StaticKeysProvider((keys or self.source_keys).credentials())

    def make_provider(self, **options: Any) -> AssumeRoleProvider:
        """An `AssumeRoleProvider` for this endpoint, signing with the registered static keys.

        `source` and `role_arn` may be given; other options go to the provider.
        """
        source = options.pop("source", None) or self.source()
        role_arn = options.pop("role_arn", DEFAULT_ASSUMED_ROLE_ARN)
        options.setdefault("sts_endpoint", self.server.url)
        options.setdefault("environ", {})
        return AssumeRoleProvider(source, role_arn, **options)

    def environ(self, directory: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """Variables `AssumeRoleProvider.from_env()` reads; its source is the web identity fake's variables."""
        return {
            "LITERAUTH_ASSUME_ROLE_ARN": DEFAULT_ASSUMED_ROLE_ARN,
            "LITERAUTH_ASSUME_ROLE_SESSION_NAME": "literauth-test",
            "AWS_ENDPOINT_URL_STS": self.server.url,
        }


def _text(value: object) -> str | None:
    if isinstance(value, SecretString):
        return value.expose_secret()
    return value if isinstance(value, str) else None
