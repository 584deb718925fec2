"""Fake Google STS (`sts.googleapis.com/v1/token`): the token exchange of workload identity federation.

It checks each RFC 8693 request as Google does, and the subject token itself: a JWT from
its own test OIDC issuer (`OidcIssuer`) for a registered pool provider, or a signed AWS
`GetCallerIdentity` request whose SigV4 signature it verifies against AWS keys it knows
(the request is never sent to AWS). Refusals carry Google's OAuth-style error body.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import os
import secrets
import string
import tempfile
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from ...credentials import UTC
from .._oauth import FormField, OAuthTokenEndpoint
from .._oidc import OidcIssuer
from .._scratch import ScratchFiles
from .._server import RecordedRequest, Refusal, Reply, ServerCore

if TYPE_CHECKING:
    from ...google.external_account import ExternalAccountCredentialProvider
    from ...provider import RefreshingCredentialProvider

__all__ = ["AwsKeys", "Exchange", "GoogleStsEndpoint"]

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN = "urn:ietf:params:oauth:token-type:access_token"
JWT_TYPES = frozenset({"urn:ietf:params:oauth:token-type:jwt", "urn:ietf:params:oauth:token-type:id_token"})
AWS_TYPE = "urn:ietf:params:aws:token-type:aws4_request"
PROJECT_NUMBER = "123456789012"
OIDC_AUDIENCE = (
    f"//iam.googleapis.com/projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/literauth-pool/providers/oidc"
)
AWS_AUDIENCE = (
    f"//iam.googleapis.com/projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/literauth-pool/providers/aws"
)
WORKFORCE_AUDIENCE = "//iam.googleapis.com/locations/global/workforcePools/literauth-workforce/providers/oidc"
SUBJECT = "repo:literauth/literauth:ref:refs/heads/main"
VERIFICATION_URL = "https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15"
TOKEN_LIFETIME = 86400.0  # seconds an issued subject token stays valid (a day; renew() rewrites it)
SIGNATURE_WINDOW = 900.0  # AWS accepts a signature 15 minutes either side of its x-amz-date
SCOPE_PREFIX = "https://www.googleapis.com/auth/"
_KEY_ALPHABET = string.ascii_uppercase + "234567"


@dataclasses.dataclass(frozen=True)
class AwsKeys:
    """AWS keys the fake trusts to sign `GetCallerIdentity`, and the identity they stand for."""

    access_key_id: str
    secret_access_key: str
    session_token: str | None
    arn: str

    def environ(self) -> dict[str, str]:
        """`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`) for these keys."""
        env = {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}
        if self.session_token is not None:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env


@dataclasses.dataclass(frozen=True)
class Exchange:
    """One exchange the fake accepted: who the subject was, and what was asked for."""

    audience: str
    subject: str
    subject_token_type: str
    scope: str
    options: Mapping[str, Any] | None
    client_id: str | None
    access_token: str = dataclasses.field(repr=False)


def _refusal(error: str, description: str, status: int = 400) -> Refusal:
    return Refusal(error, description, status=status)


_FORM = (
    FormField("grant_type", lambda: _refusal("invalid_request", "Missing required field: grant_type"),
              frozenset({TOKEN_EXCHANGE}),
              lambda value: _refusal("unsupported_grant_type", f"Invalid value for \"grant_type\": {value[:80]}")),
    FormField("requested_token_type", lambda: _refusal("invalid_request", "Missing required field: requested_token_type"),
              frozenset({ACCESS_TOKEN}),
              lambda value: _refusal("invalid_request", f"Invalid requested_token_type: {value[:80]}")),
    FormField("subject_token_type", lambda: _refusal("invalid_request", "Missing required field: subject_token_type"),
              JWT_TYPES | {AWS_TYPE},
              lambda value: _refusal("invalid_request", f"Invalid subject_token_type: {value[:80]}")),
    FormField("audience", lambda: _refusal("invalid_request", "Missing required field: audience")),
    FormField("subject_token", lambda: _refusal("invalid_request", "Missing required field: subject_token")),
)


class GoogleStsEndpoint(OAuthTokenEndpoint):
    """Google's STS token exchange for OIDC-token and AWS-signature pool providers.

    Pool providers: `OIDC_AUDIENCE` trusts this endpoint's `oidc` issuer (tokens from
    `issue_subject_token()`); `AWS_AUDIENCE` trusts `aws_keys`, keys added with
    `add_aws_keys()`, and the keys the server's AWS STS fake issued; `WORKFORCE_AUDIENCE` is a workforce pool trusting the issuer, which
    needs `options={"userProject": ...}` or client authentication (`register_client()`).
    """

    name = "google_sts"
    secret_fields = frozenset({"subject_token"})
    path = "/v1/token"
    routes = OAuthTokenEndpoint.token_route(path)
    form_fields = _FORM
    fixture_alias: ClassVar[str | None] = None

    def __init__(self, server: ServerCore) -> None:
        super().__init__(server)
        self.oidc = OidcIssuer("https://token.actions.literauth.test")
        self._known_keys: dict[str, AwsKeys] = {}
        self.aws_keys = self.add_aws_keys()
        self._clients: dict[str, str] = {}
        self._issued: list[str] = []
        self._exchanges: list[Exchange] = []
        self._files: list[str] = []
        self._scratch = ScratchFiles(self, "literauth-google-sts-")

    # -- what it trusts -------------------------------------------------------------------

    @property
    def token_url(self) -> str:
        """The URL exchanges are posted to."""
        return f"{self.server.url}{self.path}"

    def add_aws_keys(self, *, session_token: bool = True) -> AwsKeys:
        """New AWS keys the fake accepts signatures from (an assumed role's, with a session token)."""
        keys = AwsKeys(
            "ASIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16)),
            secrets.token_urlsafe(30),
            ("FwoGZXIvYXdzE" + secrets.token_urlsafe(60)) if session_token else None,
            f"arn:aws:sts::{PROJECT_NUMBER}:assumed-role/literauth-eks/{secrets.token_hex(4)}",
        )
        with self._lock:
            self._known_keys[keys.access_key_id] = keys
        return keys

    def register_client(self, client_id: str, client_secret: str) -> None:
        """A workforce pool OAuth client, for exchanges with HTTP Basic client authentication."""
        with self._lock:
            self._clients[client_id] = client_secret

    @staticmethod
    def oidc_audience_claim(audience: str = OIDC_AUDIENCE) -> str:
        """The `aud` a subject token needs: the pool provider's resource name as an https URL."""
        return "https:" + audience

    def issue_subject_token(self, *, lifetime: float = TOKEN_LIFETIME, audience: str = OIDC_AUDIENCE,
                            subject: str = SUBJECT) -> str:
        """An OIDC token the `OIDC_AUDIENCE` provider accepts until `lifetime` seconds from now."""
        now = int(self.now())
        return self.oidc.issue({"aud": self.oidc_audience_claim(audience), "sub": subject,
                                "iat": now, "exp": int(now + lifetime)})

    def write_subject_token(self, path: str | None = None, **claims: Any) -> str:
        """Write a fresh subject token (with a trailing newline) to `path` or a new file; the path."""
        target = path or self._scratch.new_path("subject-token")
        fd, staging = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(target)), prefix=".token-")
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(self.issue_subject_token(**claims) + "\n")
        os.replace(staging, target)
        with self._lock:
            if target not in self._files:
                self._files.append(target)
        return target

    def config(self, credential_source: Mapping[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """An ``external_account`` configuration pointed here; a fresh token file unless a source is given."""
        info: dict[str, Any] = {
            "universe_domain": "googleapis.com",
            "type": "external_account",
            "audience": OIDC_AUDIENCE,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": self.token_url,
            "credential_source": dict(credential_source) if credential_source is not None else {
                "file": self.write_subject_token(), "format": {"type": "text"},
            },
        }
        info.update(fields)
        return info

    def aws_config(self, **fields: Any) -> dict[str, Any]:
        """An AWS-sourced configuration pointed here (the keys come from the environment or `aws_source`)."""
        return self.config(
            {"environment_id": "aws1", "regional_cred_verification_url": VERIFICATION_URL},
            audience=AWS_AUDIENCE, subject_token_type=AWS_TYPE, **fields,
        )

    @property
    def issued_tokens(self) -> list[str]:
        """The federated access tokens handed out, oldest first."""
        with self._lock:
            return list(self._issued)

    @property
    def exchanges(self) -> list[Exchange]:
        """The exchanges accepted, oldest first."""
        with self._lock:
            return list(self._exchanges)

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self._issued.clear()
            self._exchanges.clear()

    # -- what a registered fake declares ------------------------------------------------

    def make_provider(self, **options: Any) -> ExternalAccountCredentialProvider:
        """A file-sourced provider pointed here (one request per fetch); keyword arguments go to it."""
        from ...google.external_account import ExternalAccountCredentialProvider

        return ExternalAccountCredentialProvider.from_info(self.config(), **options)

    def environ(self, directory: str | os.PathLike[str] | None = None) -> dict[str, str]:
        """`GOOGLE_APPLICATION_CREDENTIALS`: a file-sourced configuration, written into `directory`."""
        folder = os.fspath(directory) if directory is not None else None
        token = None if folder is None else os.path.join(folder, "google-subject-token")
        info = self.config({"file": self.write_subject_token(token), "format": {"type": "text"}})
        path = os.path.join(folder, "external-account.json") if folder else self._scratch.new_path("external", ".json")
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(info, handle)
        return {"GOOGLE_APPLICATION_CREDENTIALS": path}

    def renew(self, provider: RefreshingCredentialProvider) -> None:
        """Rewrite every subject token file, as the kubelet rotates projected tokens."""
        with self._lock:
            files = list(self._files)
        for path in files:
            if os.path.exists(path):
                self.write_subject_token(path)

    def token_fields(self, lifetime: int) -> dict[str, object]:
        return {"issued_token_type": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": lifetime}

    # -- serving -----------------------------------------------------------------------------

    def respond(self, request: RecordedRequest, form: Mapping[str, str]) -> Reply:
        self.check_form(form)
        audience = form["audience"]
        scope = form.get("scope", "")
        if audience not in (OIDC_AUDIENCE, AWS_AUDIENCE, WORKFORCE_AUDIENCE):
            raise _refusal("invalid_target", "The target service indicated by the \"audience\" parameters is invalid. "
                           "This might either be because the pool or provider is disabled or deleted or because it "
                           "doesn't exist.")
        if not scope or not all(s.startswith(SCOPE_PREFIX) for s in scope.split(" ")):
            raise _refusal("invalid_scope", "The scope is missing or not a Google API scope.")
        client_id = self._client(request)
        options = _options(form.get("options"))
        if audience == WORKFORCE_AUDIENCE and client_id is None and not (options or {}).get("userProject"):
            raise _refusal("invalid_request", "The workforce pool user project is required when no client is given.")
        if audience == AWS_AUDIENCE:
            if form["subject_token_type"] != AWS_TYPE:
                raise _refusal("invalid_request", "The subject token type does not match the provider (aws).")
            subject = self._verify_aws(form["subject_token"], audience)
        else:
            if form["subject_token_type"] not in JWT_TYPES:
                raise _refusal("invalid_request", "The subject token type does not match the provider (oidc).")
            subject = self._verify_oidc(form["subject_token"], audience)
        token = "ya29.d.sts-fake." + secrets.token_urlsafe(48)
        exchange = Exchange(audience, subject, form["subject_token_type"], scope, options, client_id, token)
        with self._lock:
            self._issued.append(token)
            self._exchanges.append(exchange)
        return self.token_reply(token)

    def _client(self, request: RecordedRequest) -> str | None:
        header = request.header("Authorization")
        if header is None:
            return None
        scheme, _, value = header.partition(" ")
        try:
            client_id, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            client_id, secret = "", ""
        with self._lock:
            known = self._clients.get(client_id)
        if scheme != "Basic" or known is None or not hmac.compare_digest(known, secret):
            raise _refusal("invalid_client", "The OAuth client was not found or its secret is wrong.", 401)
        return client_id

    def _verify_oidc(self, token: str, audience: str) -> str:
        claims = self.oidc.signed_claims(token)
        if isinstance(claims, str):
            raise _refusal("invalid_grant", f"Invalid value for \"subject_token\": {claims}.")
        if claims.get("iss") != self.oidc.issuer:
            raise _refusal("invalid_grant", "The issuer in ID Token does not match the expected ones.")
        if claims.get("aud") != self.oidc_audience_claim(audience):
            raise _refusal("invalid_grant", "The audience in ID Token does not match the expected audience.")
        expires = claims.get("exp")
        if not isinstance(expires, (int, float)) or isinstance(expires, bool) or expires <= self.now():
            raise _refusal("invalid_grant", "ID Token has expired.")
        return str(claims.get("sub"))

    def _verify_aws(self, token: str, audience: str) -> str:
        """The ARN of the keys that signed this `GetCallerIdentity` request, as AWS would answer."""
        try:
            document = json.loads(unquote(token))
        except ValueError:
            document = None
        if not isinstance(document, dict) or not isinstance(document.get("headers"), list):
            raise _refusal("invalid_grant", "The AWS subject token is not a serialized signed request.")
        headers = {str(h.get("key", "")).lower(): str(h.get("value", "")) for h in document["headers"]
                   if isinstance(h, dict)}
        url, method = str(document.get("url", "")), str(document.get("method", ""))
        parts = urlsplit(url)
        host = parts.hostname or ""
        query = dict(parse_qsl(parts.query))
        if (method != "POST" or parts.scheme != "https" or not host.startswith("sts.")
                or not host.endswith(".amazonaws.com") or query != {"Action": "GetCallerIdentity", "Version": "2011-06-15"}):
            raise _refusal("invalid_grant", "The AWS request is not a GetCallerIdentity call to a regional STS endpoint.")
        target = headers.get("x-goog-cloud-target-resource", "")
        if target.removeprefix("https:") != audience:
            raise _refusal("invalid_grant", "The x-goog-cloud-target-resource header does not name this provider.")
        arn = _check_signature(method, parts.path or "/", parts.query, headers, self._keys(), self.now())
        if arn is None:
            raise _refusal("invalid_grant", "AWS refused the signed request: the signature does not match.")
        return arn

    def _keys(self) -> dict[str, AwsKeys]:
        """Its own keys, and those the server's AWS STS fake issued (an EKS pod's role keys)."""
        with self._lock:
            keys = dict(self._known_keys)
        for endpoint in self.server.endpoints.values():
            for issued in getattr(endpoint, "issued_credentials", ()):
                role = issued.role_arn.rsplit("/", 1)[-1]
                account = issued.role_arn.split(":")[4]
                keys[issued.access_key_id.expose_secret()] = AwsKeys(
                    issued.access_key_id.expose_secret(), issued.secret_access_key.expose_secret(),
                    issued.session_token.expose_secret(),
                    f"arn:aws:sts::{account}:assumed-role/{role}/{issued.session_name}",
                )
        return keys


def _options(value: str | None) -> dict[str, Any] | None:
    """The `options` JSON, sent once-encoded (the spec) or twice (google-auth quotes it first)."""
    if not value:
        return None
    text = unquote(value) if value.startswith("%7B") else value
    try:
        parsed = json.loads(text)
    except ValueError:
        raise _refusal("invalid_request", "Invalid value for \"options\": not a JSON object.") from None
    if not isinstance(parsed, dict):
        raise _refusal("invalid_request", "Invalid value for \"options\": not a JSON object.")
    return parsed


def _encode(text: str) -> str:
    return quote(text, safe="-_.~")


def _check_signature(
    method: str, path: str, query: str, headers: Mapping[str, str], keys: Mapping[str, AwsKeys], now: float
) -> str | None:
    """An independent SigV4 check of a request with an empty body; the signer's ARN, or None."""
    authorization = headers.get("authorization", "")
    algorithm, _, rest = authorization.partition(" ")
    fields = dict(part.strip().partition("=")[::2] for part in rest.split(","))
    credential = fields.get("Credential", "").split("/")
    if algorithm != "AWS4-HMAC-SHA256" or len(credential) != 5 or credential[3:] != ["sts", "aws4_request"]:
        return None
    key = keys.get(credential[0])
    stamp = headers.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    if key is None or stamp[:8] != credential[1] or abs(signed_at.timestamp() - now) > SIGNATURE_WINDOW:
        return None
    if key.session_token is not None and headers.get("x-amz-security-token") != key.session_token:
        return None
    names = fields.get("SignedHeaders", "").split(";")
    if "host" not in names or "x-amz-date" not in names or any(n not in headers for n in names):
        return None
    pairs = sorted((_encode(k), _encode(v)) for k, v in parse_qsl(query, keep_blank_values=True))
    canonical = "\n".join([
        method, path, "&".join(f"{k}={v}" for k, v in pairs),
        "".join(f"{n}:{' '.join(headers[n].split())}\n" for n in names), ";".join(names),
        hashlib.sha256(b"").hexdigest(),
    ])
    scope = "/".join(credential[1:])
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    signing = f"AWS4{key.secret_access_key}".encode()
    for part in credential[1:]:
        signing = hmac.new(signing, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()
    return key.arn if hmac.compare_digest(expected, fields.get("Signature", "")) else None
