"""AWS EC2 instance metadata (IMDSv2): the keys of the IAM role attached to this instance.

Three requests, as botocore makes them: ``PUT /latest/api/token`` for a session token (sent
back as ``X-aws-ec2-metadata-token``), the role name, then the role's credentials. Unlike
botocore, the session token is kept until shortly before its TTL ends (renewed at once on a
401) and the role name is kept (looked up again on a 404), so a refresh is one request.
IMDSv1 is used only when `allow_imdsv1=True` says so.

Static stability: during an outage of the credential service IMDS hands out the last keys
it had, already expired. As botocore does, they are then served a little longer (17 to 25
minutes, asking again before that ends), with a WARNING, and `stats().expiry_extended_from`
says so; unlike botocore, only for `MAX_STALE` seconds past their stated expiry.

`probe(timeout)` answers "is there an IMDS here?" within one deadline, for default chains;
`from_env()` never touches the network.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar, Literal, TypeVar

from .._env import environment, optional
from .._http import ErrorDetails, TokenFetcher, TokenRequest, TokenResponse
from .._policy import RetryPolicy
from .._url import UrlPolicy, check_endpoint_url
from ..credentials import UTC, AwsCredentials, check_token_text
from ..errors import (
    ConfigurationError,
    MalformedResponseError,
    SourceNotConfigured,
    TokenEndpointError,
    TokenTextError,
    TransportError,
    TransportReason,
)
from ..provider import ProviderStats, RefreshingCredentialProvider
from ..secret import SecretString
from ._metadata import parse_json_credentials, parse_metadata_error

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..provider import ProviderOptions

__all__ = [
    "IPV4_ENDPOINT",
    "IPV6_ENDPOINT",
    "MAX_STALE",
    "ROLE_PATH",
    "TOKEN_PATH",
    "InstanceMetadataCredentialsProvider",
]

_log = logging.getLogger("literauth.aws.instance_metadata")
_PROVIDER = "aws.instance_metadata"
IPV4_ENDPOINT = "http://169.254.169.254"
IPV6_ENDPOINT = "http://[fd00:ec2::254]"
TOKEN_PATH = "/latest/api/token"
ROLE_PATH = "/latest/meta-data/iam/security-credentials/"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
DEFAULT_TOKEN_TTL = 21600  # six hours, IMDS's maximum and what botocore asks for
_RENEW_BEFORE = 60.0  # renew the session token this long before IMDS forgets it
_V1_RECHECK = 300.0  # with IMDSv1 allowed and refused tokens, try IMDSv2 again after this
EXTENSION = 900.0  # static stability: serve expired keys this long, plus a jitter (botocore's 15-min window)
EXTENSION_JITTER = (120.0, 600.0)  # botocore's: 2 to 10 minutes, so instances do not ask in step
MAX_STALE = 6 * 3600.0  # never serve keys more than this past their stated expiry
_TIMEOUT = (1.0, 2.0)  # link-local: a connection is made at once or never (botocore: 1 s, 1 attempt)
_ROLE_NAME = re.compile(r"[\w+=,.@-]{1,128}", re.ASCII)
_DISABLED = "AWS_EC2_METADATA_DISABLED"
_ENDPOINT = "AWS_EC2_METADATA_SERVICE_ENDPOINT"
_ENDPOINT_MODE = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE"
EndpointMode = Literal["IPv4", "IPv6"]
_T = TypeVar("_T")


@dataclasses.dataclass(frozen=True)
class _Session:
    """An IMDSv2 session token (None: IMDSv1 was allowed and chosen), and when to get a new one."""

    token: SecretString | None
    renew_at: float


class InstanceMetadataCredentialsProvider(RefreshingCredentialProvider):
    """Temporary `AwsCredentials` of the instance profile's role, from EC2 IMDSv2.

    `endpoint` replaces the IMDS base URL (as ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` does);
    otherwise `endpoint_mode` picks 169.254.169.254 (``"IPv4"``) or fd00:ec2::254
    (``"IPv6"``). `allow_imdsv1=True` falls back to token-less requests when IMDS refuses
    session tokens (403/404/405), with a WARNING; off by default, so an IMDSv1-only instance
    is a clear error. `token_ttl` is the session lifetime asked for (1 to 21600 seconds). No
    request is made here; the default timeout is (1, 2) seconds.
    """

    provider_name = _PROVIDER
    credential_type: ClassVar[type[AwsCredentials]] = AwsCredentials
    REQUIRED_ENV: ClassVar[tuple[str, ...]] = ()  # IMDS needs no configuration

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        endpoint_mode: str = "IPv4",
        allow_imdsv1: bool = False,
        token_ttl: int = DEFAULT_TOKEN_TTL,
        **options: Unpack[ProviderOptions],
    ) -> None:
        options.setdefault("timeout", _TIMEOUT)
        super().__init__(**options)
        mode = _check_mode(endpoint_mode)
        if not isinstance(allow_imdsv1, bool):
            raise ConfigurationError(f"{_PROVIDER}: allow_imdsv1 must be True or False")
        if isinstance(token_ttl, bool) or not isinstance(token_ttl, int) or not 1 <= token_ttl <= DEFAULT_TOKEN_TTL:
            raise ConfigurationError(f"{_PROVIDER}: token_ttl must be an integer from 1 to {DEFAULT_TOKEN_TTL} seconds")
        what = f"{_PROVIDER} endpoint" if endpoint is not None else f"{_PROVIDER} {mode} endpoint"
        base = check_endpoint_url(endpoint or (IPV6_ENDPOINT if mode == "IPv6" else IPV4_ENDPOINT),
                                  what, UrlPolicy.METADATA).rstrip("/")
        if "?" in base or "#" in base:
            raise ConfigurationError(f"{what} must be a base URL without a query or fragment")
        self._allow_v1 = allow_imdsv1
        self._ttl = token_ttl
        self._fetcher = self._make_fetcher(base, url_policy=UrlPolicy.METADATA, endpoint="IMDS endpoint")
        self._session: _Session | None = None  # replaced whole: readers see one consistent value
        self._role: str | None = None
        self._extended: tuple[AwsCredentials, datetime] | None = None  # served keys, their stated expiry

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **options: Unpack[ProviderOptions]
    ) -> InstanceMetadataCredentialsProvider:
        """From ``AWS_EC2_METADATA_SERVICE_ENDPOINT`` and ``..._ENDPOINT_MODE``; no request is made.

        ``AWS_EC2_METADATA_DISABLED=true`` raises `SourceNotConfigured` (a chain skips IMDS).
        """
        env = environment(environ)
        if (optional(env, _DISABLED) or "").lower() == "true":
            raise SourceNotConfigured(f"{_PROVIDER}: {_DISABLED} is true")
        return cls(endpoint=optional(env, _ENDPOINT), endpoint_mode=optional(env, _ENDPOINT_MODE) or "IPv4",
                   **options)

    @property
    def endpoint(self) -> str:
        """The IMDS base URL (scheme and host)."""
        return self._fetcher.url

    @property
    def role_name(self) -> str | None:
        """The instance profile's role, once IMDS has named it; None before."""
        return self._role

    # -- fetching -------------------------------------------------------------------------

    def _fetch(self) -> AwsCredentials:
        """The role's keys; once more with a new session after a 401, or a new role name after a 404."""
        for last in (False, True):
            kept_session, kept_role = self._session, self._role
            token = self._session_token(self._fetcher)
            retry_for: int | None = None
            try:
                role = self._role or self._role_name(self._fetcher, token)
                response = self._get(self._fetcher, ROLE_PATH + role, token)
            except TokenEndpointError as exc:
                stale = ((exc.status_code == 401 and self._session is kept_session)  # a kept token refused
                         or (exc.status_code == 404 and kept_role is not None))  # a kept role gone
                if last or not stale:
                    raise
                retry_for = exc.status_code
            if retry_for is None:
                return self._stabilised(parse_json_credentials(response))
            if retry_for == 401:  # the session token expired early, or IMDS restarted
                self._session = None
            else:  # a 404: the instance profile changed
                self._role = None
        raise AssertionError("unreachable")  # pragma: no cover

    def _session_token(self, fetcher: TokenFetcher) -> SecretString | None:
        """The current IMDSv2 session token, getting a new one when due; None when IMDSv1 is in use."""
        session = self._session
        if session is not None and self._clock() < session.renew_at:
            return session.token
        request = TokenRequest(method="PUT", url=fetcher.url + TOKEN_PATH, headers={TTL_HEADER: str(self._ttl)})
        refused: TokenEndpointError | None = None
        silent: TransportError | None = None
        try:
            response = fetcher.send(request, _parse_token_error)
        except TokenEndpointError as exc:
            if not self._allow_v1 or exc.status_code not in (403, 404, 405):
                raise
            refused = exc
        except TransportError as exc:
            if exc.reason is not TransportReason.TIMEOUT:
                raise
            silent = exc
        if silent is not None:  # raised here, outside the handler: no chained context
            raise TransportError(
                f"{silent}. In a container on EC2, IMDS answers the session-token PUT only when the "
                "instance's metadata hop limit is 2 or more (HttpPutResponseHopLimit)",
                reason=silent.reason, provider=_PROVIDER, host=silent.host,
            )
        if refused is not None:
            _log.warning("%s: IMDS refused a session token (HTTP %s); using IMDSv1 as allow_imdsv1=True permits",
                         _PROVIDER, refused.status_code)
            self._session = _Session(None, self._clock() + _V1_RECHECK)
            return None
        token = _read_token(response)
        ttl = float(self._ttl)
        echoed = response.headers.get(TTL_HEADER, "")
        if echoed.strip().isdigit():
            ttl = min(ttl, float(echoed))
        renew_before = _RENEW_BEFORE if ttl > 2 * _RENEW_BEFORE else ttl / 2
        self._session = _Session(token, response.sent_at + ttl - renew_before)
        return token

    def _role_name(self, fetcher: TokenFetcher, token: SecretString | None) -> str:
        """The name of the role attached to the instance (the first line IMDS lists)."""
        response = self._get(fetcher, ROLE_PATH, token)
        lines = response.body[:1024].decode("utf-8", "replace").strip().splitlines()
        name = lines[0].strip() if lines else ""
        if _ROLE_NAME.fullmatch(name) is None:
            raise response.malformed(
                "listed no usable IAM role name" if not name else f"listed an unusable IAM role name {name[:64]!r}"
            )
        self._role = name
        return name

    def _get(self, fetcher: TokenFetcher, path: str, token: SecretString | None) -> TokenResponse:
        headers: dict[str, str | SecretString] = {} if token is None else {TOKEN_HEADER: token}
        return fetcher.send(TokenRequest(method="GET", url=fetcher.url + path, headers=headers), _parse_get_error)

    def _stabilised(self, credentials: AwsCredentials) -> AwsCredentials:
        """`credentials`, or, when IMDS handed out expired ones (an outage), the same keys served a while longer."""
        now = self._clock()
        expires = credentials.expires_at_epoch
        assert expires is not None and credentials.expires_at is not None
        if expires - self._policy.expiry_skew > now:
            self._extended = None
            return credentials
        stated = credentials.expires_at
        if now - expires > MAX_STALE:
            raise MalformedResponseError(
                f"{_PROVIDER}: IMDS {self._fetcher.host} still answers with keys that expired at {stated.isoformat()}, "
                f"more than {MAX_STALE / 3600:g} h ago; they are no longer served",
                provider=_PROVIDER, host=self._fetcher.host,
            )
        low, high = EXTENSION_JITTER
        extension = EXTENSION + low + (high - low) * self._settings.rand()
        served = AwsCredentials(credentials.access_key_id, credentials.secret_access_key, credentials.session_token,
                                datetime.fromtimestamp(now + extension, UTC))
        _log.warning(
            "%s: IMDS answered with keys that expired at %s (the credential service may be unavailable); "
            "serving them for %.0f more minutes and asking again before then (static stability)",
            _PROVIDER, stated.isoformat(), extension / 60,
        )
        self._extended = (served, stated)
        return served

    # -- probing and monitoring ---------------------------------------------------------------

    def probe(self, timeout: float) -> None:
        """Return if an IMDS answers within `timeout` seconds in all; `SourceNotConfigured` if not.

        One session-token request, then (time permitting) the role listing, both inside the
        one deadline whatever the retries: a refused port fails in milliseconds, a black hole
        after `timeout`. An instance with no IAM role attached is `SourceNotConfigured` too.
        What was learnt (the session token, the role) is kept for the first fetch.
        """
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < math.inf:
            raise ConfigurationError(f"{_PROVIDER}: probe timeout must be a positive number of seconds")
        started = time.monotonic()
        deadline = started + timeout
        reason: str | None = None
        try:
            token = self._with_probe_fetcher(deadline, self._session_token)
            if deadline - time.monotonic() > 0.01 and self._role is None:
                self._with_probe_fetcher(deadline, lambda fetcher: self._role_name(fetcher, token))
        except TransportError as exc:
            elapsed = time.monotonic() - started
            if exc.reason is TransportReason.TIMEOUT:
                reason = f"no answer within {timeout:g} s"
            elif self._session is not None:  # the token came back: IMDS is here, the role listing broke off
                return
            else:
                reason = f"{exc.reason.value} after {elapsed * 1000:.0f} ms"
        except TokenEndpointError as exc:
            if self._session is not None and exc.status_code == 404:
                reason = "IMDS answered, but no IAM role is attached to this instance (no instance profile)"
            # any other answer: an IMDS is here; fetching will report what is wrong
        except MalformedResponseError:
            pass  # something answered
        if reason is not None:
            raise SourceNotConfigured(f"{_PROVIDER}: IMDS at {self._fetcher.host}: {reason}")

    def _with_probe_fetcher(self, deadline: float, call: Callable[[TokenFetcher], _T]) -> _T:
        """`call(fetcher)` with a one-attempt fetcher whose every timeout ends at `deadline`."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TransportError(f"{_PROVIDER}: probe time ran out", reason=TransportReason.TIMEOUT)
        fetcher = self._make_fetcher(  # on the fetches' session: the probe's connection is kept for them
            self._fetcher.url, url_policy=UrlPolicy.METADATA, endpoint="IMDS endpoint",
            session=self._settings.http.session or self._fetcher._get_session(),
            timeout=(remaining, remaining), retry=RetryPolicy(max_attempts=1, total_timeout=remaining),
        )
        try:
            return call(fetcher)
        finally:
            fetcher.close()
            self._fetchers.remove(fetcher)

    def stats(self) -> ProviderStats:
        """The engine's snapshot, with `expiry_extended_from` set while expired keys are served."""
        stats = super().stats()
        extended, entry = self._extended, self._entry
        if extended is None or entry is None or entry.credential is not extended[0]:
            return stats
        return dataclasses.replace(stats, expiry_extended_from=extended[1])

    def _cache_identity(self) -> tuple[dict[str, str], bytes | None]:
        """The IMDS endpoint names the identity (one instance, one role); it has no local secret."""
        return {"source": "instance_metadata", "endpoint": self._fetcher.url}, None

    def _repr_fields(self) -> dict[str, object]:
        return {"endpoint": self._fetcher.url, "role": self._role}


def _check_mode(mode: object) -> EndpointMode:
    text = mode.strip().lower() if isinstance(mode, str) else ""
    if text == "ipv4":
        return "IPv4"
    if text == "ipv6":
        return "IPv6"
    raise ConfigurationError(f"{_PROVIDER}: endpoint_mode must be 'IPv4' or 'IPv6', got {str(mode)[:20]!r}")


def _read_token(response: TokenResponse) -> SecretString:
    """The session token IMDS answered with (plain text)."""
    text = response.body[:4096].decode("ascii", "replace").strip()
    secret = SecretString(text)
    problem = None
    try:
        check_token_text("session token", secret)
    except TokenTextError as exc:
        problem = str(exc)
    if problem is not None:
        raise response.malformed(f"answered with an unusable session token ({problem})")
    return secret


def _parse_token_error(response: TokenResponse) -> ErrorDetails:
    info = parse_metadata_error(response)
    if response.status_code in (403, 404, 405):
        return dataclasses.replace(info, hint=(
            "This IMDS refuses IMDSv2 session tokens (IMDSv1 only?); require IMDSv2 on the instance "
            "(HttpTokens=required), or pass allow_imdsv1=True"
        ))
    return info


def _parse_get_error(response: TokenResponse) -> ErrorDetails:
    info = parse_metadata_error(response)
    if response.status_code == 404 and response.method == "GET":
        return dataclasses.replace(info, hint="Is an IAM role (instance profile) attached to this instance?")
    if response.status_code == 401:
        return dataclasses.replace(info, hint="IMDS refused the session token")
    return info
