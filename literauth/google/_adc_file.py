"""Application Default Credentials files: where gcloud keeps its file, and a provider for any file's ``type``.

`provider_from_info` is the one dispatch on ``type`` (``service_account``, ``authorized_user``,
``external_account``, ``impersonated_service_account``), used by the ADC chain and by an
impersonation file's ``source_credentials``.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ._info import read_info_file

if TYPE_CHECKING:
    from ..provider import CredentialProvider

__all__ = ["ADC_FILE_NAME", "SUPPORTED_TYPES", "provider_from_file", "provider_from_info", "well_known_file"]

ADC_FILE_NAME = "application_default_credentials.json"
SUPPORTED_TYPES = ("service_account", "authorized_user", "external_account", "impersonated_service_account")
_PROVIDER = "google.default"


def well_known_file(environ: Mapping[str, str], *, windows: bool | None = None) -> str | None:
    """The path of gcloud's ADC file: ``$CLOUDSDK_CONFIG/…``, else ``$HOME/.config/gcloud/…``
    (``%APPDATA%\\gcloud\\…`` on Windows); None when `environ` names no such directory.

    Only `environ` is read (tests pass a dict; pass `os.environ` for this process), so a
    test's environment never picks up the developer's own login. `windows` None means this
    machine's answer.
    """
    config = (environ.get("CLOUDSDK_CONFIG") or "").strip()
    if config:
        return os.path.join(config, ADC_FILE_NAME)
    if os.name == "nt" if windows is None else windows:
        appdata = (environ.get("APPDATA") or "").strip()
        return os.path.join(appdata, "gcloud", ADC_FILE_NAME) if appdata else None
    home = (environ.get("HOME") or "").strip()
    return os.path.join(home, ".config", "gcloud", ADC_FILE_NAME) if home else None


def provider_from_info(
    info: Mapping[str, Any],
    *,
    scopes: str | Iterable[str] | None = None,
    environ: Mapping[str, str] | None = None,
    source: str | None = None,
    **options: Any,
) -> CredentialProvider:
    """The provider for the credentials `info` (a parsed ADC file) describes, by its ``type``.

    `scopes` None means each type's default: cloud-platform for service accounts, the
    login's own for users. `source` names the file in messages; `options` go to the provider.
    """
    where = source or "credentials info"
    if not isinstance(info, Mapping):
        raise ConfigurationError(f"{_PROVIDER}: {where} is not a JSON object")
    kind = info.get("type")
    if kind == "service_account":
        from .service_account import DEFAULT_SCOPE, VertexOAuthCredentialProvider

        return VertexOAuthCredentialProvider(info, scopes=DEFAULT_SCOPE if scopes is None else scopes,
                                             source=where, **options)
    if kind == "authorized_user":
        from .authorized_user import AuthorizedUserCredentialProvider

        return AuthorizedUserCredentialProvider.from_info(info, scopes=scopes, source=where, **options)
    if kind == "external_account":
        provider: CredentialProvider = _federation("external_account", "ExternalAccountCredentialProvider").from_info(
            info, scopes=scopes, environ=environ, **options
        )
        return provider
    if kind == "impersonated_service_account":
        provider = _federation("impersonated", "ImpersonatedCredentialProvider").from_info(
            info, scopes=scopes, environ=environ, **options
        )
        return provider
    shown = "missing" if kind is None else repr(str(kind)[:40])
    raise ConfigurationError(
        f"{_PROVIDER}: {where} has type {shown}; supported types are {', '.join(SUPPORTED_TYPES)}"
    )


def _federation(module: str, name: str) -> Any:
    """A federation provider class, imported on first use (most files never need it)."""
    try:
        found = importlib.import_module(f"literauth.google.{module}")
    except ImportError:
        found = None  # raised below, outside the handler
    if found is None:
        raise ConfigurationError(f"{_PROVIDER}: this literauth has no {name} for {module} files")
    return getattr(found, name)


def provider_from_file(
    path: str | os.PathLike[str],
    *,
    scopes: str | Iterable[str] | None = None,
    environ: Mapping[str, str] | None = None,
    **options: Any,
) -> tuple[CredentialProvider, Mapping[str, Any]]:
    """The provider for the ADC file at `path`, and the file's parsed content (for its project id)."""
    info = read_info_file(_PROVIDER, path, "credentials file")
    provider = provider_from_info(info, scopes=scopes, environ=environ, source=f"file {os.fspath(path)}", **options)
    return provider, info
