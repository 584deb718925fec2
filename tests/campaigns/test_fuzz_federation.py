"""Fuzzing the federation inputs: configurations, generateAccessToken answers, executable output.

Whatever a file or an endpoint holds, the result is a provider or a token, or a literauth
error (`ConfigurationError` for a file, `MalformedResponseError`/`CredentialSourceError`
for what arrives at fetch time): never another exception, never a hang. The HTTP answers
of the STS and IAM fakes are fuzzed with every other provider's in `test_fuzz.py`.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from literauth import (
    ConfigurationError,
    ExternalAccountCredentialProvider,
    ImpersonatedCredentialProvider,
    MalformedResponseError,
)
from literauth.credentials import BearerToken
from literauth.errors import CredentialSourceError
from literauth.google._iam import parse_generated_token
from literauth.google._subject import ExecutableSource

from .test_fuzz import close, fuzz, outcome, response

AUDIENCE = "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x"
BASE: dict[str, Any] = {
    "type": "external_account", "audience": AUDIENCE,
    "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
    "token_url": "https://sts.googleapis.com/v1/token",
    "credential_source": {"file": "/var/run/secrets/token", "format": {"type": "text"}},
    "service_account_impersonation_url": (
        "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/sa@p.iam.gserviceaccount.com"
        ":generateAccessToken"
    ),
}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)
FIELDS = [*BASE, "workforce_pool_user_project", "client_id", "client_secret", "universe_domain",
          "service_account_impersonation", "quota_project_id"]
SOURCE_FIELDS = ["file", "url", "headers", "format", "environment_id", "executable", "region_url",
                 "regional_cred_verification_url", "imdsv2_session_token_url"]


@fuzz(100)
@given(changes=st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4),
       source=st.dictionaries(st.sampled_from(SOURCE_FIELDS), json_values | st.text(max_size=60), max_size=4))
def test_external_account_configurations_build_or_raise_configuration_error(
    changes: dict[str, Any], source: dict[str, Any]
) -> None:
    info = {**BASE, **changes}
    if source:
        info["credential_source"] = source
    result = outcome(lambda: ExternalAccountCredentialProvider.from_info(info, environ={}))
    assert isinstance(result, (ExternalAccountCredentialProvider, ConfigurationError)), repr(result)
    close(result)


@fuzz(100)
@given(changes=st.dictionaries(st.sampled_from(["type", "service_account_impersonation_url", "delegates",
                                                "source_credentials"]), json_values, max_size=3))
def test_impersonation_files_build_or_raise_configuration_error(changes: dict[str, Any]) -> None:
    info = {"type": "impersonated_service_account",
            "service_account_impersonation_url": BASE["service_account_impersonation_url"],
            "source_credentials": {k: v for k, v in BASE.items() if k != "service_account_impersonation_url"},
            **changes}
    result = outcome(lambda: ImpersonatedCredentialProvider.from_info(info, environ={}))
    assert isinstance(result, (ImpersonatedCredentialProvider, ConfigurationError)), repr(result)
    close(result)


@fuzz(100)
@given(data=st.dictionaries(st.sampled_from(["accessToken", "expireTime", "other"]),
                            json_values | st.sampled_from(["2030-01-01T00:00:00Z", "2030-01-01T00:00:00.5+02:00",
                                                           "2030-13-01T00:00:00Z", "ya29.token"]), max_size=3))
def test_generate_access_token_answers_parse_or_raise_malformed(data: dict[str, Any]) -> None:
    result = outcome(lambda: parse_generated_token(response(json.dumps(data).encode())))
    assert isinstance(result, (BearerToken, MalformedResponseError)), repr(result)


@fuzz(100)
@given(data=st.dictionaries(st.sampled_from(["version", "success", "token_type", "id_token", "saml_response",
                                             "expiration_time", "code", "message"]), json_values, max_size=6))
def test_executable_responses_give_a_token_or_a_source_error(data: dict[str, Any]) -> None:
    source = ExecutableSource("google.external_account", {"command": "unused"},
                              {"GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES": "1"}, {})
    result = outcome(lambda: source._parse(json.dumps(data).encode(), "the output", require_expiry=False))
    assert not isinstance(result, BaseException) or isinstance(result, CredentialSourceError), repr(result)
