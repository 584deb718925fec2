"""Where `StsEndpoint` used to live; the registry's ``fake`` string still names this module."""

from __future__ import annotations

from .aws.sts import (
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    DEFAULT_ROLE_ARN,
    DEFAULT_SUBJECT,
    ERROR_STATUS,
    STS_NAMESPACE,
    TOKEN_LIFETIME,
    IssuedCredentials,
    StsEndpoint,
)

__all__ = [
    "DEFAULT_AUDIENCE",
    "DEFAULT_ISSUER",
    "DEFAULT_ROLE_ARN",
    "DEFAULT_SUBJECT",
    "ERROR_STATUS",
    "STS_NAMESPACE",
    "TOKEN_LIFETIME",
    "IssuedCredentials",
    "StsEndpoint",
]
