"""The AWS subject token of workload identity federation: a signed, unsent `GetCallerIdentity`.

Google's STS forwards the request to AWS, which checks the signature and says who signed
it; so the subject token is the request itself, serialised as google-auth does (URL-quoted
compact JSON of url, method and a list of headers). It is signed with literauth's own
SigV4, with keys from any literauth AWS provider (`aws_source=`), else from the
environment (static keys, or web identity), else from the instance metadata URLs in the
file. Unlike google-auth, ``x-goog-cloud-target-resource`` is signed too (as Google
recommends and the Go library does), so the audience cannot be swapped in transit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

from .. import _safejson
from .._env import optional
from .._http import TokenFetcher, TokenRequest
from .._oauth import parse_oauth_error
from .._url import UrlPolicy, check_endpoint_url
from ..aws._sigv4 import check_name, sign
from ..credentials import AwsCredentials
from ..errors import ConfigurationError, CredentialSourceError, MalformedResponseError
from ..provider import SupportsResolve
from ..secret import SecretString

__all__ = ["AWS_TOKEN_TYPE", "AwsSource"]

AWS_TOKEN_TYPE = "urn:ietf:params:aws:token-type:aws4_request"
TARGET_HEADER = "x-goog-cloud-target-resource"
_ENVIRONMENT_ID = re.compile(r"aws(\d+)")
_IMDS_TTL = "300"  # seconds: the session token is used at once
_DEFAULT_PORTS = {"https": 443, "http": 80}

MakeFetcher = Callable[..., TokenFetcher]
KeySource = Callable[[], AwsCredentials]


class AwsSource:
    """Signed `GetCallerIdentity` requests for one audience, in the region AWS says."""

    kind = "aws"

    def __init__(
        self,
        provider: str,
        source: Mapping[str, Any],
        *,
        audience: str,
        environ: Mapping[str, str],
        aws_source: SupportsResolve | None,
        make_fetcher: MakeFetcher,
        clock: Callable[[], float],
        options: Mapping[str, Any],
    ) -> None:
        self._provider = provider
        match = _ENVIRONMENT_ID.fullmatch(str(source.get("environment_id")))
        if match is None or match.group(1) != "1":
            raise ConfigurationError(
                f"{provider}: credential_source.environment_id {str(source.get('environment_id'))[:20]!r} "
                "is not supported (only aws1)"
            )
        template = source.get("regional_cred_verification_url")
        if not isinstance(template, str) or not template.strip():
            raise ConfigurationError(f"{provider}: credential_source.regional_cred_verification_url is missing")
        self._template = template.strip()
        self._audience = audience
        self._clock = clock
        self._make_fetcher = make_fetcher
        self._imds_token_fetcher = self._metadata(source, "imdsv2_session_token_url", "IMDSv2 session endpoint")
        self._owned: list[Any] = []  # providers built here, closed with the provider
        self._keys = self._key_source(source, environ, aws_source, options)
        self._region = (
            optional(environ, "AWS_REGION") or optional(environ, "AWS_DEFAULT_REGION")
            or getattr(aws_source, "region", None)
        )
        self._region_fetcher = self._metadata(source, "region_url", "AWS region endpoint")
        if self._region is None and self._region_fetcher is None:
            raise ConfigurationError(
                f"{provider}: no AWS region: set AWS_REGION, or keep credential_source.region_url"
            )
        if self._region is not None:
            self._region = check_name("region", self._region, owner=provider)
            self._verification_url(self._region)  # refused now, not at the first exchange

    # -- configuration --------------------------------------------------------------------

    def _metadata(self, source: Mapping[str, Any], field: str, what: str) -> TokenFetcher | None:
        url = source.get(field)
        if url is None:
            return None
        if not isinstance(url, str):
            raise ConfigurationError(f"{self._provider}: credential_source.{field} must be a string")
        return self._make_fetcher(url, url_policy=UrlPolicy.METADATA, endpoint=what)

    def _key_source(
        self, source: Mapping[str, Any], environ: Mapping[str, str], aws_source: SupportsResolve | None,
        options: Mapping[str, Any],
    ) -> KeySource:
        """Where the signing keys come from, decided once: as google-auth, plus `aws_source` and web identity."""
        if aws_source is not None:
            if not callable(getattr(aws_source, "resolve", None)):
                raise ConfigurationError(f"{self._provider}: aws_source must be an AWS credential provider")
            return lambda: _aws_keys(self._provider, aws_source.resolve())
        if optional(environ, "AWS_ACCESS_KEY_ID") and optional(environ, "AWS_SECRET_ACCESS_KEY"):
            return lambda: _environment_keys(self._provider, environ)
        if optional(environ, "AWS_ROLE_ARN") and optional(environ, "AWS_WEB_IDENTITY_TOKEN_FILE"):
            from .._registry import (
                by_name,  # through the registry: clouds never import each other
            )

            web = by_name("aws.web_identity").from_env(environ, **options)
            self._owned.append(web)
            return lambda: _aws_keys(self._provider, web.resolve())
        credentials = self._metadata(source, "url", "AWS security credentials endpoint")
        if credentials is not None:
            return lambda: self._instance_keys(credentials)
        raise ConfigurationError(
            f"{self._provider}: no AWS credentials to sign with: pass aws_source= (any literauth AWS provider), "
            "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or keep credential_source.url (EC2 metadata)"
        )

    def _verification_url(self, region: str) -> str:
        url = self._template.replace("{region}", region)
        return check_endpoint_url(url, f"{self._provider}: credential_source.regional_cred_verification_url")

    def close(self) -> None:
        for owned in self._owned:
            owned.close()

    # -- reading AWS -----------------------------------------------------------------------

    def _imds_headers(self) -> dict[str, str | SecretString]:
        if self._imds_token_fetcher is None:
            return {}
        request = TokenRequest(method="PUT", headers={"X-aws-ec2-metadata-token-ttl-seconds": _IMDS_TTL})
        answer = self._imds_token_fetcher.send(request, parse_oauth_error)
        token = _text(answer.body)
        if not token:
            raise answer.malformed("answered without a session token")
        return {"X-aws-ec2-metadata-token": SecretString(token)}

    def _instance_keys(self, fetcher: TokenFetcher) -> AwsCredentials:
        """The role's keys from EC2 instance metadata: the role name, then its credentials."""
        headers = self._imds_headers()
        listing = fetcher.send(TokenRequest(method="GET", headers=headers), parse_oauth_error)
        role = _text(listing.body).splitlines()[0].strip() if _text(listing.body).strip() else ""
        if not role or "/" in role:
            raise listing.malformed("answered without a role name")
        answer = fetcher.send(
            TokenRequest(method="GET", url=f"{fetcher.url.rstrip('/')}/{role}", headers=headers), parse_oauth_error
        )
        data = _safejson.loads(answer.body)
        if not isinstance(data, dict):
            raise answer.malformed("answered with something other than a JSON object")
        values = [data.get(name) for name in ("AccessKeyId", "SecretAccessKey", "Token")]
        if not all(isinstance(v, str) and v for v in values[:2]):
            raise answer.malformed("answered without AccessKeyId and SecretAccessKey")
        key, secret, token = (SecretString(v) if isinstance(v, str) and v else None for v in values)
        assert key is not None and secret is not None  # checked above
        return _aws_keys(self._provider, lambda: AwsCredentials(key, secret, token), answer)

    def _current_region(self) -> str:
        if self._region is not None:
            return self._region
        assert self._region_fetcher is not None  # checked at construction
        answer = self._region_fetcher.send(TokenRequest(method="GET", headers=self._imds_headers()), parse_oauth_error)
        zone = _text(answer.body).strip()
        region = zone[:-1] if zone[-1:].isalpha() else zone  # us-east-2b -> us-east-2
        problem = None
        try:
            region = check_name("region", region, owner=self._provider)
        except ConfigurationError as exc:
            problem = str(exc)
        if problem is not None:
            raise answer.malformed(f"answered with an unusable availability zone ({problem})")
        self._verification_url(region)
        self._region = region  # asked once, as google-auth does
        return region

    # -- the token ---------------------------------------------------------------------------

    def token(self) -> SecretString:
        region = self._current_region()
        keys = self._keys()
        url = self._verification_url(region)
        headers = {"host": _host(url), TARGET_HEADER: self._audience}
        signed = sign("POST", url, headers, b"", keys, region=region, service="sts", now=self._clock(),
                      also_sign=(TARGET_HEADER,))
        ordered = [("Authorization", signed["Authorization"]), ("host", headers["host"]),
                   ("x-amz-date", signed["X-Amz-Date"])]
        if "X-Amz-Security-Token" in signed:
            ordered.append(("x-amz-security-token", signed["X-Amz-Security-Token"]))
        ordered.append((TARGET_HEADER, self._audience))
        document = {"url": url, "method": "POST", "headers": [{"key": k, "value": v} for k, v in ordered]}
        return SecretString(quote(json.dumps(document, separators=(",", ":"), sort_keys=True)))


def _host(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    return host


def _text(body: bytes) -> str:
    text = _safejson.decode_utf8(body)
    return "" if isinstance(text, _safejson.Invalid) else text


def _environment_keys(provider: str, environ: Mapping[str, str]) -> AwsCredentials:
    """Static keys from the environment, read at every signing (as google-auth reads them)."""
    key, secret = optional(environ, "AWS_ACCESS_KEY_ID"), optional(environ, "AWS_SECRET_ACCESS_KEY")
    if key is None or secret is None:
        raise CredentialSourceError(
            f"{provider}: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are no longer set", provider=provider
        )
    token = optional(environ, "AWS_SESSION_TOKEN")
    return _aws_keys(provider, lambda: AwsCredentials(
        SecretString(key), SecretString(secret), None if token is None else SecretString(token)
    ))


def _aws_keys(provider: str, keys: object, answer: Any = None) -> AwsCredentials:
    """`keys` (a credential, or a function building one) checked to be usable AWS keys."""
    problem = None
    try:
        built = keys() if callable(keys) else keys
    except ConfigurationError as exc:  # a key holding whitespace: named, never quoted
        built, problem = None, str(exc)
    if problem is not None:
        if answer is not None:
            raise answer.malformed(f"answered with unusable keys ({problem})")
        raise CredentialSourceError(f"{provider}: the AWS keys are unusable ({problem})", provider=provider,
                                    retryable=False)
    if not isinstance(built, AwsCredentials):
        raise MalformedResponseError(
            f"{provider}: the AWS source returned {type(built).__name__}, not AwsCredentials", provider=provider
        )
    return built
