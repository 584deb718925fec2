"""Reading the AWS shared config and credentials files the way botocore reads them.

Which files (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`, else ``~/.aws/config`` and
``~/.aws/credentials``), which profile (`AWS_DEFAULT_PROFILE`, then `AWS_PROFILE`, else
``default``: botocore's order), and how sections name profiles: in the config file
``[profile NAME]`` and ``[default]`` (a bare ``[NAME]`` is not a profile), ``[sso-session
NAME]`` for SSO sessions; in the credentials file every ``[NAME]`` is a profile. A profile's
settings are the config file's with the credentials file's laid over them (botocore's
``full_config``). Messages name files, profiles and keys, never a value: the files hold keys.
"""

from __future__ import annotations

import configparser
import dataclasses
import os
import shlex
from collections.abc import Mapping

from .._env import optional
from ..errors import ConfigurationError

__all__ = [
    "DEFAULT_PROFILE",
    "MAX_FILE",
    "SharedConfig",
    "home_directory",
    "load_shared_config",
    "profile_name",
]

DEFAULT_PROFILE = "default"
MAX_FILE = 1024 * 1024  # a config file larger than this is not one
_NAME = "aws.shared_config"

Section = Mapping[str, str]


def profile_name(explicit: str | None, environ: Mapping[str, str]) -> str:
    """The profile to use: `explicit`, else `AWS_DEFAULT_PROFILE`, else `AWS_PROFILE`, else ``default``.

    botocore reads `AWS_DEFAULT_PROFILE` first; both variables are honoured the same way.
    """
    if explicit is not None:
        if not isinstance(explicit, str) or not explicit.strip():
            raise ConfigurationError(f"{_NAME}: profile must be a non-empty profile name, got {explicit!r}")
        return explicit.strip()
    return optional(environ, "AWS_DEFAULT_PROFILE") or optional(environ, "AWS_PROFILE") or DEFAULT_PROFILE


def home_directory(environ: Mapping[str, str]) -> str:
    """The home directory ``~`` stands for: `HOME` from `environ`, else the user's."""
    return optional(environ, "HOME") or os.path.expanduser("~")


def _path(environ: Mapping[str, str], variable: str, default: str) -> str:
    value = optional(environ, variable) or default
    if value == "~" or value.startswith("~/"):
        value = home_directory(environ) + value[1:]
    return value


@dataclasses.dataclass(frozen=True)
class SharedConfig:
    """The two files, parsed: profiles (merged), each file's own sections, and SSO sessions."""

    config_file: str
    credentials_file: str
    #: Settings per profile: the config file's, with the credentials file's laid over them.
    profiles: Mapping[str, Section]
    #: The config file's profiles alone (its static keys are the ``config-file`` source).
    config_profiles: Mapping[str, Section]
    #: The credentials file's sections (its static keys are the ``shared-credentials-file`` source).
    credentials_profiles: Mapping[str, Section]
    sso_sessions: Mapping[str, Section]

    @property
    def files(self) -> str:
        """Both paths, for messages."""
        return f"{self.config_file} or {self.credentials_file}"

    def profile(self, name: str) -> Section:
        """The merged settings of profile `name`; `ConfigurationError` when no file has it.

        ``default`` may be absent (it then has no settings), as botocore allows.
        """
        section = self.profiles.get(name)
        if section is None:
            if name == DEFAULT_PROFILE:
                return {}
            known = ", ".join(sorted(self.profiles)[:20]) or "none"
            raise ConfigurationError(
                f"{_NAME}: profile {name!r} is not in {self.files} (profiles found: {known}); "
                "in the config file a profile's section is [profile NAME], in the credentials file [NAME]"
            )
        return section


def load_shared_config(environ: Mapping[str, str]) -> SharedConfig:
    """Both files as `environ` names them; a missing file counts as empty, a broken one is an error."""
    config_file = _path(environ, "AWS_CONFIG_FILE", "~/.aws/config")
    credentials_file = _path(environ, "AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")
    config_sections = _read_ini(config_file, "config file (AWS_CONFIG_FILE)")
    credentials = _read_ini(credentials_file, "credentials file (AWS_SHARED_CREDENTIALS_FILE)")
    config_profiles: dict[str, Section] = {}
    sso_sessions: dict[str, Section] = {}
    for section, values in config_sections.items():
        if section.startswith("profile"):
            _named(section, values, config_profiles)
        elif section.startswith("sso-session"):
            _named(section, values, sso_sessions)
        elif section == DEFAULT_PROFILE:
            config_profiles[section] = values
    merged: dict[str, Section] = {name: dict(values) for name, values in config_profiles.items()}
    for name, values in credentials.items():
        merged[name] = {**merged.get(name, {}), **values}
    return SharedConfig(config_file, credentials_file, merged, config_profiles, credentials, sso_sessions)


def _named(section: str, values: Section, into: dict[str, Section]) -> None:
    """``profile NAME`` / ``sso-session "NAME"``: split as a shell would; anything else is ignored."""
    try:
        parts = shlex.split(section)
    except ValueError:
        return
    if len(parts) == 2:
        into[parts[1]] = values


def _read_ini(path: str, what: str) -> dict[str, Section]:
    """The file's sections, option names lower-cased, as `configparser.RawConfigParser` (botocore's) reads them."""
    problem: str | None = None
    data = b""
    try:
        if not os.path.isfile(path):
            return {}
        with open(path, "rb") as handle:
            data = handle.read(MAX_FILE + 1)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        problem = f"cannot be read ({getattr(exc, 'strerror', None) or type(exc).__name__})"
    if problem is None and len(data) > MAX_FILE:
        problem = f"is larger than {MAX_FILE} bytes"
    text = None
    if problem is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            problem = "is not UTF-8 text"
    if problem is None and text is not None:
        parser = configparser.RawConfigParser()
        try:
            parser.read_string(text, source="<shared config>")
        except configparser.Error as exc:
            problem = _parse_problem(exc)  # never the line itself: it may hold a secret key
    if problem is not None or text is None:
        raise ConfigurationError(f"{_NAME}: the {what} {_shown(path)} {problem}")
    return {section: dict(parser.items(section)) for section in parser.sections()}


def _parse_problem(exc: configparser.Error) -> str:
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"is not valid INI: line {exc.lineno} comes before any [section] header"
    if isinstance(exc, configparser.DuplicateSectionError):
        return f"is not valid INI: section [{exc.section}] appears twice (line {exc.lineno})"
    if isinstance(exc, configparser.DuplicateOptionError):
        return f"is not valid INI: key {exc.option!r} appears twice in [{exc.section}] (line {exc.lineno})"
    if isinstance(exc, configparser.ParsingError):
        lines = ", ".join(str(lineno) for lineno, _ in exc.errors[:5])
        return f"is not valid INI: cannot parse line {lines}"
    return f"is not valid INI ({type(exc).__name__})"


def _shown(path: str) -> str:
    return repr(path.encode("utf-8", "backslashreplace").decode("utf-8"))
