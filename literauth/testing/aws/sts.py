"""Fake AWS STS `AssumeRoleWithWebIdentity`: checks requests and answers like the real service.

Web identity tokens are JWTs signed with a key made for each endpoint (its own stand-in
for an OIDC provider registered in IAM), so a token it did not issue is refused with
`InvalidIdentityToken` and an expired one with `ExpiredTokenException`, in STS's XML.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import string
import tempfile
import uuid
import weakref
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from ...aws.web_identity import WebIdentityCredentialProvider
from ...credentials import UTC
from ...secret import SecretString
from .._oauth import b64url as _b64url
from .._oauth import b64url_decode as _b64url_decode
from .._server import Endpoint, RecordedRequest, Refusal, Reply, ServerCore

if TYPE_CHECKING:
    from ...provider import RefreshingCredentialProvider

__all__ = ["IssuedCredentials", "StsEndpoint"]

STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"  # declared here too: the fake is an independent oracle

DEFAULT_ROLE_ARN = "arn:aws:iam::123456789012:role/literauth-test"
DEFAULT_AUDIENCE = "sts.amazonaws.com"  # the audience EKS puts in IRSA tokens
DEFAULT_ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/LITERAUTHFAKEOIDC"
DEFAULT_SUBJECT = "system:serviceaccount:default:literauth"
TOKEN_LIFETIME = 86400.0  # seconds an issued web identity token stays valid (a projected token's day)

# HTTP status STS answers each error code with (from the service's API model).
ERROR_STATUS = {
    "AccessDenied": 403,
    "ExpiredToken": 400,
    "ExpiredTokenException": 400,
    "IDPCommunicationError": 400,
    "IDPRejectedClaim": 403,
    "InternalFailure": 500,
    "IncompleteSignature": 400,
    "InvalidAction": 400,
    "InvalidClientTokenId": 403,
    "InvalidIdentityToken": 400,
    "MalformedPolicyDocument": 400,
    "MissingAuthenticationToken": 403,
    "MissingParameter": 400,
    "PackedPolicyTooLarge": 400,
    "RegionDisabledException": 403,
    "ServiceUnavailable": 503,
    "SignatureDoesNotMatch": 403,
    "Throttling": 400,
    "ValidationError": 400,
}
_DEFAULT_MESSAGES = {
    "AccessDenied": "Not authorized to perform sts:AssumeRoleWithWebIdentity",
    "ExpiredTokenException": "Token expired",
    "IDPCommunicationError": "Could not reach the identity provider to verify the token",
    "IDPRejectedClaim": "The identity provider rejected the token's claims",
    "InvalidIdentityToken": "The web identity token could not be validated",
    "RegionDisabledException": "STS is not activated in this region for this account",
    "Throttling": "Rate exceeded",
}

_ROLE_ARN = re.compile(
    r"arn:(?P<partition>aws(?:-[a-z]+)*):iam::(?P<account>\d{12}):role/(?:[!-~]*/)?(?P<name>[\w+=,.@-]{1,64})",
    re.ASCII,
)
_SESSION_NAME = re.compile(r"[\w+=,.@-]*", re.ASCII)
_NOT_NULL = "Value null at '{}' failed to satisfy constraint: Member must not be null"
_KEY_ID_ALPHABET = string.ascii_uppercase + "234567"


def _iso8601(epoch: float, fractional: bool) -> str:
    stamp = datetime.fromtimestamp(epoch, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if fractional else "%Y-%m-%dT%H:%M:%SZ")


@dataclasses.dataclass(frozen=True)
class IssuedCredentials:
    """One set of temporary credentials the endpoint handed out, for tests to compare against."""

    access_key_id: SecretString
    secret_access_key: SecretString
    session_token: SecretString
    expiration: datetime
    role_arn: str
    session_name: str
    subject: str
    request_id: str


def _sts_error(code: str, message: str) -> Refusal:
    """An error answer in STS's format, `code` with `message`; its status comes from `ERROR_STATUS`."""
    return Refusal(code, message, status=ERROR_STATUS.get(code, 400))


@dataclasses.dataclass(frozen=True)
class _Member:
    """One input member of the action and the constraints STS's validation checks on it."""

    param: str  # the form field
    member: str  # its name in messages
    required: bool = True
    length: tuple[int, int] | None = None
    pattern: tuple[re.Pattern[str], str] | None = None  # the regex and how STS prints it
    integer: tuple[int, int] | None = None
    echo: bool = True  # STS quotes the value in messages (never a token)

    def problems(self, value: str | None) -> list[str]:
        """STS's validation messages for `value` (None: absent), in STS's order."""
        if value is None:
            return [_NOT_NULL.format(self.member)] if self.required else []
        where = f"Value '{value[:100]}' at '{self.member}'" if self.echo else f"Value at '{self.member}'"
        found: list[str] = []
        if self.length is not None and not self.length[0] <= len(value) <= self.length[1]:
            found.append(f"{where} {_CONSTRAINT}have length between {self.length[0]} and {self.length[1]}")
        if self.pattern is not None and not self.pattern[0].fullmatch(value):
            found.append(f"{where} {_CONSTRAINT}satisfy regular expression pattern: {self.pattern[1]}")
        if self.integer is not None:
            found += self._integer_problems(value, *self.integer)
        return found

    def _integer_problems(self, value: str, low: int, high: int) -> list[str]:
        if not re.fullmatch(r"-?\d{1,9}", value):
            return [f"Value '{value[:20]}' at '{self.member}' {_CONSTRAINT}be an integer"]
        number = int(value)
        if number < low:
            return [f"Value '{number}' at '{self.member}' {_CONSTRAINT}have value greater than or equal to {low}"]
        if number > high:
            return [f"Value '{number}' at '{self.member}' {_CONSTRAINT}have value less than or equal to {high}"]
        return []


_CONSTRAINT = "failed to satisfy constraint: Member must "
_MEMBERS = (
    _Member("RoleArn", "roleArn", length=(20, 2048)),
    _Member("RoleSessionName", "roleSessionName", length=(2, 64), pattern=(_SESSION_NAME, r"[\w+=,.@-]*")),
    _Member("WebIdentityToken", "webIdentityToken", length=(4, 20000), echo=False),
    _Member("DurationSeconds", "durationSeconds", required=False, integer=(900, 43200)),
)


class StsService(Endpoint):
    """What every fake STS action shares: issuing keys, the answer document, STS's error answers.

    Subclasses route one action each (`StsEndpoint`: AssumeRoleWithWebIdentity;
    `AssumeRoleEndpoint`: AssumeRole) and call `_issue()` and `_answer()`.
    """

    action = "AssumeRoleWithWebIdentity"
    fractional_seconds = False  #: write Expiration with microseconds (STS itself writes whole seconds)

    def __init__(self, server: ServerCore) -> None:
        super().__init__(server)
        self._issued: list[IssuedCredentials] = []

    def reset(self) -> None:
        """Forget faults, requests and issued credentials (keys issued so far stay valid where checked)."""
        super().reset()
        with self._lock:
            self._issued.clear()

    def refusal_reply(self, refusal: Refusal, request: RecordedRequest | None) -> Reply:
        return self.error_reply(refusal.error, refusal.description)

    def _check_version(self, form: Mapping[str, str]) -> None:
        version = form.get("Version")
        if not version:
            raise _sts_error("MissingParameter", "The request must contain the parameter Version")
        if version != "2011-06-15":
            raise _sts_error("InvalidAction", f"Could not find operation {self.action} for version {version[:20]}")

    def _issue(self, role_arn: str, session: str, duration: int, subject: str, request_id: str) -> IssuedCredentials:
        """New temporary keys for `role_arn`, recorded; valid for `duration` s unless `lifetime` was set."""
        now = float(int(self.now()))  # whole seconds, like the Date header
        lifetime = float(duration) if self.lifetime_override is None else self.lifetime_override
        key_id = "ASIA" + "".join(secrets.choice(_KEY_ID_ALPHABET) for _ in range(16))
        issued = IssuedCredentials(
            access_key_id=SecretString(key_id),
            secret_access_key=SecretString(base64.b64encode(secrets.token_bytes(30)).decode("ascii")),
            session_token=SecretString("FwoGZXIvYXdzE" + base64.b64encode(secrets.token_bytes(240)).decode()),
            expiration=datetime.fromtimestamp(now + lifetime, UTC),
            role_arn=role_arn,
            session_name=session,
            subject=subject,
            request_id=request_id,
        )
        with self._lock:
            self._issued.append(issued)
        return issued

    def _answer(self, issued: IssuedCredentials, *, before: str = "", after: str = "") -> Reply:
        """The success document of `action` for `issued`; `before`/`after` are the action's own elements."""
        match = _ROLE_ARN.fullmatch(issued.role_arn)
        assert match is not None  # validated before issuing
        partition, account, role_name = match.group("partition", "account", "name")
        assumed_arn = f"arn:{partition}:sts::{account}:assumed-role/{role_name}/{issued.session_name}"
        role_id = "AROA" + hashlib.sha256(issued.role_arn.encode()).hexdigest()[:17].upper()
        expiration = _iso8601(issued.expiration.timestamp(), self.fractional_seconds)
        body = (
            f'<{self.action}Response xmlns="{STS_NAMESPACE}">\n'
            f"  <{self.action}Result>\n{before}"
            "    <AssumedRoleUser>\n"
            f"      <Arn>{escape(assumed_arn)}</Arn>\n"
            f"      <AssumedRoleId>{role_id}:{escape(issued.session_name)}</AssumedRoleId>\n"
            "    </AssumedRoleUser>\n"
            "    <Credentials>\n"
            f"      <SessionToken>{issued.session_token.expose_secret()}</SessionToken>\n"
            f"      <SecretAccessKey>{issued.secret_access_key.expose_secret()}</SecretAccessKey>\n"
            f"      <Expiration>{expiration}</Expiration>\n"
            f"      <AccessKeyId>{issued.access_key_id.expose_secret()}</AccessKeyId>\n"
            "    </Credentials>\n"
            f"{after}"
            f"  </{self.action}Result>\n"
            "  <ResponseMetadata>\n"
            f"    <RequestId>{issued.request_id}</RequestId>\n"
            "  </ResponseMetadata>\n"
            f"</{self.action}Response>\n"
        )
        return Reply(200, body.encode("utf-8"), {"x-amzn-RequestId": issued.request_id}, content_type="text/xml")

    # -- scripted errors -----------------------------------------------------------------------

    @staticmethod
    def error_body(code: str, message: str | None = None, *, request_id: str | None = None) -> bytes:
        """An STS `ErrorResponse` document for `code` (Sender or Receiver fault by its status)."""
        status = ERROR_STATUS.get(code, 400)
        text = _DEFAULT_MESSAGES.get(code, code) if message is None else message
        return (
            f'<ErrorResponse xmlns="{STS_NAMESPACE}">\n'
            "  <Error>\n"
            f"    <Type>{'Receiver' if status >= 500 else 'Sender'}</Type>\n"
            f"    <Code>{escape(code)}</Code>\n"
            f"    <Message>{escape(text)}</Message>\n"
            "  </Error>\n"
            f"  <RequestId>{escape(request_id or str(uuid.uuid4()))}</RequestId>\n"
            "</ErrorResponse>\n"
        ).encode()

    def error_reply(self, code: str, message: str | None = None, *, request_id: str | None = None) -> Reply:
        """The whole error answer STS sends for `code`: its HTTP status, XML body and request id header."""
        request_id = request_id or str(uuid.uuid4())
        return Reply(
            ERROR_STATUS.get(code, 400),
            self.error_body(code, message, request_id=request_id),
            {"x-amzn-RequestId": request_id},
            content_type="text/xml",
        )

    def fail_with(
        self,
        code: str,
        message: str | None = None,
        *,
        times: int = 1,
        status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        """Answer the next `times` requests with STS error `code` (its real HTTP status unless `status`)."""
        self.fail_with_reply(self.error_reply(code, message, request_id=request_id), times=times, status=status)

    @property
    def issued_credentials(self) -> list[IssuedCredentials]:
        """The credentials handed out so far, oldest first."""
        with self._lock:
            return list(self._issued)

    def success_body(self) -> bytes:
        return self._document(session_token=True)

    def no_token_body(self) -> bytes:
        return self._document(session_token=False)

    def _document(self, *, session_token: bool) -> bytes:
        """A minimal answer of `action` with placeholder keys, with or without its session token."""
        token = "<SessionToken>FwoGZXIvYXdzEPLACEHOLDER</SessionToken>" if session_token else ""
        return (
            f'<{self.action}Response xmlns="{STS_NAMESPACE}">'
            f"<{self.action}Result><Credentials>"
            f"<AccessKeyId>ASIAEXAMPLEEXAMPLE00</AccessKeyId>{token}"
            "<SecretAccessKey>c2VjcmV0LWFjY2Vzcy1rZXktZXhhbXBsZQ</SecretAccessKey>"
            "<Expiration>2099-01-01T00:00:00Z</Expiration>"
            f"</Credentials></{self.action}Result>"
            f"</{self.action}Response>"
        ).encode()


class StsEndpoint(StsService):
    """STS AssumeRoleWithWebIdentity at ``POST /`` (or ``/sts``), validating like the real service.

    Settings tests change (all restored by `reset()`):

    - lifetime: seconds credentials stay valid; unset, the requested DurationSeconds.
    - max_session_duration: the role's MaxSessionDuration (default 43200).
    - allowed_roles: role ARNs whose trust policy admits the tokens; `None` admits any role.
    - audience / issuer: what a token must carry to be accepted.
    - fractional_seconds: write Expiration with microseconds (STS itself writes whole seconds).
    """

    name = "sts"
    secret_fields = frozenset({"WebIdentityToken"})
    fixture_alias = "fake_sts_provider"

    def __init__(self, server: ServerCore) -> None:
        super().__init__(server)
        self._key = secrets.token_bytes(32)
        self._token_dir: str | None = None
        self._token_files = 0
        self._defaults()

    def _defaults(self) -> None:
        self.max_session_duration = 43200
        self.allowed_roles: set[str] | None = None
        self.audience = DEFAULT_AUDIENCE
        self.issuer = DEFAULT_ISSUER
        self.fractional_seconds = False

    def reset(self) -> None:
        """Forget faults, requests, issued credentials and changed settings (issued tokens stay valid)."""
        super().reset()
        self._defaults()

    # -- web identity tokens --------------------------------------------------------------

    def issue_web_identity_token(
        self,
        *,
        subject: str = DEFAULT_SUBJECT,
        audience: str | None = None,
        issuer: str | None = None,
        lifetime: float = TOKEN_LIFETIME,
    ) -> str:
        """A JWT this endpoint accepts as WebIdentityToken until `lifetime` seconds from now."""
        now = int(self.now())
        header = {"alg": "HS256", "typ": "JWT", "kid": "literauth-fake"}
        claims = {
            "iss": self.issuer if issuer is None else issuer,
            "sub": subject,
            "aud": self.audience if audience is None else audience,
            "iat": now,
            "nbf": now,
            "exp": int(now + lifetime),
            "jti": uuid.uuid4().hex,
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = hmac.new(self._key, signing_input.encode("ascii"), hashlib.sha256).digest()
        return f"{signing_input}.{_b64url(signature)}"

    def write_web_identity_token(self, path: str | os.PathLike[str] | None = None, **claims: Any) -> str:
        """Write a fresh token to `path` (or a new temporary file) and return the path.

        `claims` go to `issue_web_identity_token`. Like the kubelet, the file is replaced
        atomically; it ends with a newline, which clients must strip.
        """
        token = self.issue_web_identity_token(**claims)
        if path is None:
            path = self._new_token_path()
        target = os.fspath(path)
        fd, staging = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(target)), prefix=".token-")
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(token + "\n")
        os.replace(staging, target)
        return target

    def rotate_signing_key(self) -> None:
        """Make every token issued so far invalid, as if the identity provider's keys changed."""
        self._key = secrets.token_bytes(32)

    def _new_token_path(self) -> str:
        with self._lock:
            if self._token_dir is None:
                self._token_dir = tempfile.mkdtemp(prefix="literauth-sts-")
                weakref.finalize(self, shutil.rmtree, self._token_dir, True)
            self._token_files += 1
            return os.path.join(self._token_dir, f"token-{self._token_files}")

    def _verify_token(self, token: str, now: float) -> Mapping[str, Any]:
        parts = token.split(".")
        if len(parts) != 3:
            raise _sts_error("InvalidIdentityToken", "The web identity token is not a JWT")
        try:
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
            signature = _b64url_decode(parts[2])
        except (ValueError, UnicodeDecodeError):
            raise _sts_error("InvalidIdentityToken", "The web identity token is not a JWT") from None
        if not isinstance(header, dict) or not isinstance(claims, dict):
            raise _sts_error("InvalidIdentityToken", "The web identity token is not a JWT")
        expected = hmac.new(self._key, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, signature):
            raise _sts_error("InvalidIdentityToken", "The token's signature does not match the issuer's keys")
        if claims.get("iss") != self.issuer:
            raise _sts_error("InvalidIdentityToken", "No OpenIDConnect provider in the account for the issuer")
        if claims.get("aud") != self.audience:
            raise _sts_error("InvalidIdentityToken", "Incorrect token audience")
        expires = claims.get("exp")
        if not isinstance(expires, (int, float)) or isinstance(expires, bool):
            raise _sts_error("InvalidIdentityToken", "The token has no numeric exp claim")
        if now >= expires:
            raise _sts_error(
                "ExpiredTokenException",
                f"Token expired: current date/time {_iso8601(now, False)} must be before the expiration "
                f"date/time {_iso8601(float(expires), False)}",
            )
        return claims

    # -- answering ---------------------------------------------------------------------------

    def matches(self, method: str, path: str, form: Mapping[str, str]) -> bool:
        action = form.get("Action")
        return method == "POST" and path in ("/", "/sts") and action == "AssumeRoleWithWebIdentity"

    def respond(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        return self._assume_role(form, str(uuid.uuid4()))

    def _validate(self, form: Mapping[str, str]) -> int:
        """The DurationSeconds; `Refusal` for what STS's input validation refuses."""
        self._check_version(form)
        problems = [problem for member in _MEMBERS for problem in member.problems(form.get(member.param))]
        if problems:
            count = len(problems)
            raise _sts_error(
                "ValidationError",
                f"{count} validation error{'s' if count > 1 else ''} detected: {'; '.join(problems)}",
            )
        if _ROLE_ARN.fullmatch(form["RoleArn"]) is None:
            raise _sts_error("ValidationError", "Request ARN is invalid")
        return int(form.get("DurationSeconds") or 3600)

    def _assume_role(self, form: Mapping[str, str], request_id: str) -> Reply:
        duration = self._validate(form)
        role_arn, session = form["RoleArn"], form["RoleSessionName"]
        claims = self._verify_token(form["WebIdentityToken"], float(int(self.now())))
        if self.allowed_roles is not None and role_arn not in self.allowed_roles:
            raise _sts_error("AccessDenied", _DEFAULT_MESSAGES["AccessDenied"])
        if duration > self.max_session_duration:
            raise _sts_error(
                "ValidationError",
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
            )
        issued = self._issue(role_arn, session, duration, str(claims.get("sub", "")), request_id)
        issuer = str(claims.get("iss", ""))
        return self._answer(
            issued,
            before=f"    <SubjectFromWebIdentityToken>{escape(issued.subject)}</SubjectFromWebIdentityToken>\n"
            f"    <Audience>{escape(str(claims.get('aud', '')))}</Audience>\n",
            after=f"    <Provider>{escape(issuer.removeprefix('https://'))}</Provider>\n",
        )

    # -- for tests -------------------------------------------------------------------------------

    def make_provider(self, **options: Any) -> WebIdentityCredentialProvider:
        """A `WebIdentityCredentialProvider` for this endpoint, reading a freshly written token file.

        `role_arn` and `web_identity_token_file` may be given; other options go to the provider.
        """
        role_arn = options.pop("role_arn", DEFAULT_ROLE_ARN)
        token_file = options.pop("web_identity_token_file", None) or self.write_web_identity_token()
        options.setdefault("sts_endpoint", self.server.url)
        return WebIdentityCredentialProvider(role_arn, token_file, **options)

    def environ(self, directory: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """Variables `WebIdentityCredentialProvider.from_env()` reads; the token file goes into `directory`."""
        path = None if directory is None else os.path.join(os.fspath(directory), "web-identity-token")
        return {
            "AWS_ROLE_ARN": DEFAULT_ROLE_ARN,
            "AWS_WEB_IDENTITY_TOKEN_FILE": self.write_web_identity_token(path),
            "AWS_ROLE_SESSION_NAME": "literauth-test",
            "AWS_REGION": "us-east-1",
            "AWS_ENDPOINT_URL_STS": self.server.url,
        }

    def renew(self, provider: RefreshingCredentialProvider) -> None:
        """Write a fresh token into the provider's token file, as the kubelet rotates it."""
        path = getattr(provider, "web_identity_token_file", None)
        if path is not None:
            self.write_web_identity_token(path)
