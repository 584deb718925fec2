"""Application Default Credentials: `default()`, the Google chain, faster than google-auth's and explaining itself.

Order, as google-auth's ``default()``: the file ``GOOGLE_APPLICATION_CREDENTIALS`` names
(set but unusable is an error, not a fall-through), gcloud's well-known ADC file, then the
metadata server, which is probed once with one deadline (`DEFAULT_METADATA_TIMEOUT`)
instead of google-auth's three 3-second pings. The project id comes with the chain,
looked up lazily and never from Cloud Resource Manager.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .._env import environment, optional
from ..chain import ChainProvider
from ..credentials import BearerToken
from ..errors import ConfigurationError, SourceNotConfigured
from ..provider import CredentialProvider, check_options
from ._adc_file import provider_from_file, well_known_file

__all__ = ["DEFAULT_METADATA_TIMEOUT", "GoogleDefaultChain", "default"]

#: Seconds, in total, the metadata probe may take off Google Cloud. A metadata server answers
#: in milliseconds; a refused connection ends the probe at once.
DEFAULT_METADATA_TIMEOUT = 1.0
_PROJECT_VARIABLES = ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT")


class GoogleDefaultChain(ChainProvider):
    """The ADC chain: a `ChainProvider` that also knows the project and quota project.

    Built by `default()`. `project_id` and `quota_project_id` are looked up on first use.
    """

    def __init__(self, sources: list[tuple[str, Callable[[], CredentialProvider]]], env: Mapping[str, str]) -> None:
        super().__init__(sources, name="google.default", credential_type=BearerToken)
        self._env = env
        self._file_info: Mapping[str, Any] | None = None  # the ADC file chosen, if one was
        self._project_lock = threading.Lock()
        self._project: str | None = None

    def _remember_file(self, info: Mapping[str, Any]) -> None:
        self._file_info = info

    @property
    def project_id(self) -> str | None:
        """``GOOGLE_CLOUD_PROJECT`` / ``GCLOUD_PROJECT``, else the chosen file's ``project_id`` (or
        ``quota_project_id``), else the metadata server's; None when no source names one.

        Chooses the source if that has not happened yet (`SourceNotConfigured` if none is).
        """
        for variable in _PROJECT_VARIABLES:
            value = optional(self._env, variable)
            if value is not None:
                return value
        if self._project is not None:
            return self._project
        provider = self.choose()
        with self._project_lock:
            if self._project is None:
                self._project = self._project_of(provider)
            return self._project

    def _project_of(self, provider: CredentialProvider) -> str | None:
        info = self._file_info
        if info is not None:
            for field in ("project_id", "quota_project_id"):
                value = info.get(field)
                if isinstance(value, str) and value.strip():
                    return value.strip()
        value = getattr(provider, "project_id", None)  # the metadata server's, asked once
        return value if isinstance(value, str) and value else None

    @property
    def quota_project_id(self) -> str | None:
        """``GOOGLE_CLOUD_QUOTA_PROJECT``, else the chosen credentials' quota project; None if neither."""
        value = optional(self._env, "GOOGLE_CLOUD_QUOTA_PROJECT")
        if value is not None:
            return value
        quota = getattr(self.choose(), "quota_project_id", None)
        return quota if isinstance(quota, str) and quota else None


def default(
    *,
    scopes: str | Iterable[str] | None = None,
    environ: Mapping[str, str] | None = None,
    metadata_timeout: float = DEFAULT_METADATA_TIMEOUT,
    **options: Any,
) -> GoogleDefaultChain:
    """The Application Default Credentials chain; nothing is read or probed until it is first used.

    `scopes` applies to every source (google-auth drops it for user logins); None means each
    source's default (cloud-platform for service accounts, the login's own for gcloud users,
    the instance's on the metadata server). `environ`
    defaults to `os.environ`. `metadata_timeout` bounds the metadata probe in seconds,
    total. ``NO_GCE_CHECK=true`` skips the metadata server, as in google-auth. `options`
    (`ProviderOptions`) go to whichever provider is chosen.
    """
    env = environment(environ)
    if isinstance(metadata_timeout, bool) or not isinstance(metadata_timeout, (int, float)) or not (
        math.isfinite(metadata_timeout) and metadata_timeout > 0
    ):
        raise ConfigurationError(f"google.default: metadata_timeout must be a positive number of seconds, "
                                 f"got {metadata_timeout!r}")
    check_options("default", "google.default", options)  # a typo fails here, not at first use
    chain: GoogleDefaultChain

    def from_file(path: str) -> CredentialProvider:
        provider, info = provider_from_file(path, scopes=scopes, environ=env, **options)
        chain._remember_file(info)
        return provider

    def explicit_file() -> CredentialProvider:
        path = optional(env, "GOOGLE_APPLICATION_CREDENTIALS")
        if path is None:
            raise SourceNotConfigured("GOOGLE_APPLICATION_CREDENTIALS is not set")
        return from_file(path)

    def gcloud_file() -> CredentialProvider:
        path = well_known_file(env)
        if path is None:
            raise SourceNotConfigured("neither CLOUDSDK_CONFIG nor HOME is set")
        try:
            found = os.path.isfile(path)
        except ValueError:  # a NUL in CLOUDSDK_CONFIG
            found = False
        if not found:
            raise SourceNotConfigured(f"no file at {path}; 'gcloud auth application-default login' writes it")
        return from_file(path)

    def metadata_server() -> CredentialProvider:
        if (optional(env, "NO_GCE_CHECK") or "").lower() == "true":
            raise SourceNotConfigured("NO_GCE_CHECK=true")
        from .compute_engine import ComputeEngineCredentialProvider

        provider = ComputeEngineCredentialProvider.from_env(env, scopes=scopes, **options)
        try:
            provider.probe(metadata_timeout)
        except SourceNotConfigured:
            provider.close()
            raise
        return provider

    chain = GoogleDefaultChain(
        [("GOOGLE_APPLICATION_CREDENTIALS", explicit_file), ("gcloud ADC file", gcloud_file),
         ("metadata server", metadata_server)],
        env,
    )
    return chain
