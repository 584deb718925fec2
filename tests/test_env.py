"""Reading the environment: wrong argument types name what is wrong (not a raw AttributeError)."""

from __future__ import annotations

import pytest

from literauth import (
    AzureAdCredentialProvider,
    ConfigurationError,
    VertexOAuthCredentialProvider,
    WebIdentityCredentialProvider,
)
from literauth._env import environment, optional, require

FROM_ENV = [AzureAdCredentialProvider.from_env, WebIdentityCredentialProvider.from_env,
            VertexOAuthCredentialProvider.from_env]


@pytest.mark.parametrize("from_env", FROM_ENV)
@pytest.mark.parametrize("environ", [[("AZURE_TENANT_ID", "t")], "AZURE_TENANT_ID=t", 5])
def test_a_non_mapping_environ_is_a_type_error_naming_environ(from_env, environ) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(TypeError, match="^environ must be a mapping"):
        from_env(environ)


@pytest.mark.parametrize(
    ("from_env", "variable"),
    [(AzureAdCredentialProvider.from_env, "AZURE_CLIENT_ID"),
     (WebIdentityCredentialProvider.from_env, "AWS_ROLE_ARN"),
     (VertexOAuthCredentialProvider.from_env, "GOOGLE_APPLICATION_CREDENTIALS")],
)
def test_a_non_string_value_names_the_variable(from_env, variable: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigurationError, match=f"environment variable {variable} must be a string, not int"):
        from_env({variable: 5})


def test_helpers() -> None:
    assert environment({"A": "1"}) == {"A": "1"}
    assert optional({"A": " x \n"}, "A") == "x"
    assert optional({"A": "  "}, "A") is None and optional({}, "A") is None
    with pytest.raises(ConfigurationError, match="A and B are not set"):
        require({}, ["A", "B"], provider="p", hint="h")


@pytest.mark.parametrize("path", [5, None, 3.5])
def test_from_key_file_with_a_non_path_names_path(path: object) -> None:
    with pytest.raises(TypeError, match="^path must be a str or os.PathLike"):
        VertexOAuthCredentialProvider.from_key_file(path)  # type: ignore[arg-type]


@pytest.mark.parametrize("scopes", [5, {"a": 1}, b"scope"])
def test_scopes_of_the_wrong_type_name_scopes(scopes: object, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "k.json"
    path.write_text("{}")
    with pytest.raises(TypeError, match="^scopes must be a string or an iterable of strings"):
        VertexOAuthCredentialProvider.from_service_account_json({"type": "service_account"}, scopes=scopes)  # type: ignore[arg-type]
