"""AWS keys from environment variables, as botocore's `EnvProvider` reads them.

``AWS_ACCESS_KEY_ID`` and ``AWS_SECRET_ACCESS_KEY``, a session token from
``AWS_SECURITY_TOKEN`` (the legacy name, which botocore checks first) or ``AWS_SESSION_TOKEN``,
and an optional ``AWS_CREDENTIAL_EXPIRATION``. Without an expiry the keys are served for
ever; with one, the mapping is read again whenever they have expired, so a process whose
environment is rewritten in place (a test, a sidecar updating ``os.environ``) picks up new keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar

from .._env import environment, optional
from ..credentials import AwsCredentials, parse_rfc3339
from ..errors import (
    ConfigurationError,
    CredentialSourceError,
    SourceNotConfigured,
    TokenTextError,
)
from ..provider import RefreshingCredentialProvider
from ..secret import SecretString

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from ..provider import ProviderOptions

__all__ = ["EnvironmentCredentialsProvider"]

_PROVIDER = "aws.environment"
ACCESS_KEY = "AWS_ACCESS_KEY_ID"
SECRET_KEY = "AWS_SECRET_ACCESS_KEY"
#: Checked in this order, as botocore does: the legacy name wins when both are set.
TOKEN_VARIABLES = ("AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN")
EXPIRATION = "AWS_CREDENTIAL_EXPIRATION"
_DATE_LIKE = re.compile(r"[\dTZ:+. -]{1,40}", re.ASCII)  # quoted in a message; anything else may be a pasted key


class EnvironmentCredentialsProvider(RefreshingCredentialProvider):
    """`AwsCredentials` from ``AWS_ACCESS_KEY_ID`` and friends in `environ` (default `os.environ`).

    The variables are read here, once: absent keys raise `SourceNotConfigured` (a chain skips
    the source), a key id without its secret (or the reverse) a `ConfigurationError`. With
    ``AWS_CREDENTIAL_EXPIRATION`` the keys are cached until then and the mapping is read
    again afterwards; keys still expired after that re-read are a `CredentialSourceError`.
    """

    provider_name = _PROVIDER
    credential_type: ClassVar[type[AwsCredentials]] = AwsCredentials
    REQUIRED_ENV: ClassVar[tuple[str, ...]] = (ACCESS_KEY, SECRET_KEY)

    def __init__(self, environ: Mapping[str, str] | None = None, **options: Unpack[ProviderOptions]) -> None:
        super().__init__(**options)
        self._environ = environment(environ)
        self._initial: AwsCredentials | None = _read(self._environ, at_fetch=False)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **options: Unpack[ProviderOptions]
    ) -> EnvironmentCredentialsProvider:
        """The same as the constructor: the environment is this provider's whole configuration."""
        return cls(environ, **options)

    def _fetch(self) -> AwsCredentials:
        """The keys read at construction the first time; afterwards the mapping read again."""
        initial, self._initial = self._initial, None
        credentials = initial if initial is not None else _read(self._environ, at_fetch=True)
        expires = credentials.expires_at_epoch
        if expires is not None and expires - self._policy.expiry_skew <= self._clock():
            assert credentials.expires_at is not None
            raise CredentialSourceError(
                f"{_PROVIDER}: the keys in the environment expired at {credentials.expires_at.isoformat()} "
                f"({EXPIRATION}); put fresh keys in the environment",
                provider=_PROVIDER,
            )
        return credentials

    def _cache_identity(self) -> tuple[dict[str, str], bytes | None]:
        """No public identity (a key id is not shown either): the keys are the secret material."""
        entry = self._entry
        credentials = self._initial or (entry.credential if entry is not None else None)
        if not isinstance(credentials, AwsCredentials):
            credentials = _read(self._environ, at_fetch=False)
        material = b"\0".join(
            value.expose_secret().encode()
            for value in (credentials.access_key_id, credentials.secret_access_key, credentials.session_token)
            if value is not None
        )
        return {"source": "environment"}, material


def _read(environ: Mapping[str, str], *, at_fetch: bool) -> AwsCredentials:
    """The keys in `environ`; at construction a `ConfigurationError`, at a fetch a `CredentialSourceError`."""
    access_key = optional(environ, ACCESS_KEY)
    secret_key = optional(environ, SECRET_KEY)
    problem = None
    if access_key is None:  # botocore skips the source then, even with the secret set
        problem = f"{ACCESS_KEY} is not set" + (f" ({SECRET_KEY} alone is ignored)" if secret_key else "")
        if not at_fetch:
            raise SourceNotConfigured(f"{_PROVIDER}: environment variable {problem}")
    elif secret_key is None:
        problem = f"{ACCESS_KEY} is set but {SECRET_KEY} is not; set both (or neither)"
    token = next((value for name in TOKEN_VARIABLES if (value := optional(environ, name)) is not None), None)
    expiration = optional(environ, EXPIRATION)
    expires_at = None
    if problem is None and expiration is not None:
        expires_at = parse_rfc3339(expiration)
        if expires_at is None:
            shown = repr(expiration) if _DATE_LIKE.fullmatch(expiration) else f"({len(expiration)} characters)"
            problem = f"{EXPIRATION} is not an ISO-8601 time with a zone (2030-01-01T00:00:00Z): {shown}"
    if problem is None:
        try:
            return AwsCredentials(
                SecretString(access_key or ""),
                SecretString(secret_key or ""),
                None if token is None else SecretString(token),
                expires_at,
            )
        except TokenTextError as exc:  # names the field and the character, never the value
            problem = f"the keys in the environment are unusable ({exc})"
    if at_fetch:
        raise CredentialSourceError(f"{_PROVIDER}: {problem}", provider=_PROVIDER)
    raise ConfigurationError(f"{_PROVIDER}: {problem}")
