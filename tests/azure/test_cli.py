"""AzureCliCredentialProvider against a scripted fake `az` (a real subprocess every run).

The HTTP campaigns (faults, leaks) cannot drive a process provider, so the equivalent faults
are here: a hang (killed at the timeout), bad JSON, missing fields, non-zero exits, and
no token in any message, log record, repr or chained exception.
"""

from __future__ import annotations

import logging
import os
import pathlib
import sys
import time
import traceback
from datetime import datetime

import pytest

import literauth
from literauth import ChainProvider, CredentialSourceError, SourceNotConfigured
from literauth.azure import AzureCliCredentialProvider
from literauth.azure._common import DEFAULT_SCOPE
from literauth.azure.cli import mask_line, parse_output
from literauth.credentials import UTC
from literauth.errors import ConfigurationError
from literauth.testing.azure import FakeAzureCli

from ..conftest import START, FakeClock, assert_no_secret

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the fake az is a shebang script")

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
MANAGEMENT = "https://management.azure.com/.default"


@pytest.fixture
def az(tmp_path: pathlib.Path, clock: FakeClock) -> FakeAzureCli:
    return FakeAzureCli(tmp_path / "bin", clock=clock)


def provider_for(az: FakeAzureCli, clock: FakeClock, **options: object) -> AzureCliCredentialProvider:
    options.setdefault("background_refresh", False)
    return az.make_provider(clock=clock, **options)


# -- the command line and the answer ---------------------------------------------------------


def test_runs_get_access_token_with_the_scope(az: FakeAzureCli, clock: FakeClock) -> None:
    with provider_for(az, clock) as provider:
        token = provider.resolve()
    assert token.token.expose_secret() == az.token
    assert token.expires_at == datetime.fromtimestamp(START + 3600, UTC)
    assert az.calls == [["account", "get-access-token", "--output", "json", "--scope", DEFAULT_SCOPE]]


def test_tenant_is_passed(az: FakeAzureCli, clock: FakeClock) -> None:
    with provider_for(az, clock, scope=MANAGEMENT, tenant_id=TENANT) as provider:
        provider.resolve()
    assert az.calls == [
        ["account", "get-access-token", "--output", "json", "--scope", MANAGEMENT, "--tenant", TENANT]
    ]
    assert provider.argv("az")[0] == "az"


def test_older_az_local_time_expiry(tmp_path: pathlib.Path, clock: FakeClock) -> None:
    old = FakeAzureCli(tmp_path, clock=clock, expiry_format="expiresOn")
    with provider_for(old, clock) as provider:
        token = provider.resolve()
    # expiresOn carries microseconds, so the expiry is exact to the second
    assert token.expires_at is not None
    assert abs(token.expires_at.timestamp() - (START + 3600)) < 1


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (b'{"accessToken": "t0k", "expires_on": 2000000000}', 2000000000.0),
        (b'{"accessToken": "t0k", "expires_on": "2000000000"}', 2000000000.0),
        (b'{"accessToken": "t0k", "expires_on": 2000000000, "expiresOn": "2001-01-01 00:00:00.000000"}',
         2000000000.0),
        (b'{"accessToken": "t0k", "expiresOn": "2033-05-18 03:33:20"}',
         datetime(2033, 5, 18, 3, 33, 20).timestamp()),
    ],
)
def test_parse_output_both_expiry_forms(answer: bytes, expected: float) -> None:
    token = parse_output(answer)
    assert token.expires_at_epoch == expected


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        (b"not json", "not valid JSON|is not JSON|JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"expires_on": 2000000000}', "no accessToken"),
        (b'{"accessToken": "", "expires_on": 2000000000}', "no accessToken"),
        (b'{"accessToken": "t0k"}', "no usable expires_on or expiresOn"),
        (b'{"accessToken": "t0k", "expiresOn": "tomorrow"}', "no usable expires_on"),
        (b'{"accessToken": "t0k", "expires_on": true}', "no usable expires_on"),
    ],
)
def test_parse_output_errors(answer: bytes, problem: str) -> None:
    with pytest.raises(CredentialSourceError, match=problem):
        parse_output(answer)


# -- errors ---------------------------------------------------------------------------------------


def test_not_installed(tmp_path: pathlib.Path, clock: FakeClock) -> None:
    provider = AzureCliCredentialProvider(command=str(tmp_path / "no-az"), clock=clock, background_refresh=False)
    with provider, pytest.raises(CredentialSourceError, match=r"not found on PATH.*aka\.ms/InstallAzureCli.*az login"):
        provider.resolve()


@pytest.mark.parametrize("aadsts", [False, True])
def test_not_logged_in(az: FakeAzureCli, clock: FakeClock, aadsts: bool) -> None:
    az.not_logged_in(aadsts=aadsts)
    with provider_for(az, clock, tenant_id=TENANT) as provider, pytest.raises(CredentialSourceError) as caught:
        provider.resolve()
    message = str(caught.value)
    assert f"run `az login --tenant {TENANT}`" in message
    assert ("AADSTS700082" in message) is aadsts
    assert caught.value.retryable is False


def test_non_zero_exit_shows_one_masked_line(az: FakeAzureCli, clock: FakeClock) -> None:
    secret = az.token
    az.fail(3, f"ERROR: (Forbidden) denied for {secret}\nTraceback (most recent call last):\n  more\n")
    with provider_for(az, clock) as provider, pytest.raises(CredentialSourceError) as caught:
        provider.resolve()
    message = str(caught.value)
    assert "exited with status 3: ERROR: (Forbidden) denied for ****" in message
    assert "Traceback" not in message and "\n" not in message
    assert_no_secret([message], [secret])


def test_non_zero_exit_without_stderr(az: FakeAzureCli, clock: FakeClock) -> None:
    az.fail(1, "")
    with provider_for(az, clock) as provider, pytest.raises(CredentialSourceError, match="status 1: no error output"):
        provider.resolve()


def test_bad_json(az: FakeAzureCli, clock: FakeClock) -> None:
    az.bad_json('{"accessToken": "' + az.token + '", oops')
    with provider_for(az, clock) as provider, pytest.raises(CredentialSourceError, match="succeeded but") as caught:
        provider.resolve()
    assert_no_secret([str(caught.value), *traceback.format_exception(caught.value)], [az.token])


def test_a_hang_is_killed_at_the_timeout(az: FakeAzureCli, clock: FakeClock) -> None:
    az.hang(60)
    started = time.monotonic()
    with provider_for(az, clock, timeout=0.5) as provider, pytest.raises(
        CredentialSourceError, match=r"took longer than 0\.5 s"
    ) as caught:
        provider.resolve()
    assert time.monotonic() - started < 20  # a guard against hanging, not a timing target
    assert caught.value.retryable is True


def test_a_hanging_wrapper_script_loses_its_child_too(tmp_path: pathlib.Path, clock: FakeClock) -> None:
    """Real az is a shell script starting python: killing the script alone would leave the pipes open."""
    az = FakeAzureCli(tmp_path / "inner", clock=clock)
    az.hang(60)
    wrapper = tmp_path / "az-wrapper"
    wrapper.write_text(f'#!/bin/sh\n"{az.path}" "$@"\necho done\n')
    wrapper.chmod(0o755)
    started = time.monotonic()
    provider = AzureCliCredentialProvider(command=str(wrapper), timeout=0.5, clock=clock, background_refresh=False)
    with provider, pytest.raises(CredentialSourceError, match="took longer"):
        provider.resolve()
    assert time.monotonic() - started < 20


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"timeout": 0}, "timeout must be a positive"),
        ({"timeout": True}, "timeout must be a positive"),
        ({"scope": "https://x"}, "/.default"),
        ({"scope": "a b/.default"}, "more than one"),
        ({"scope": "--debug/.default"}, "must not start with '-'"),
        ({"tenant_id": "--evil"}, "neither a GUID"),
        ({"command": ""}, "command must be"),
    ],
)
def test_validation(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        AzureCliCredentialProvider(**kwargs)  # type: ignore[arg-type]


def test_unknown_option_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="process_timeout"):
        AzureCliCredentialProvider(process_timeout=3)  # type: ignore[call-arg]


# -- from_env and chains ----------------------------------------------------------------------------


def test_from_env_finds_az_on_path(az: FakeAzureCli, clock: FakeClock) -> None:
    provider = AzureCliCredentialProvider.from_env({**az.environ(), "AZURE_TENANT_ID": TENANT}, clock=clock)
    with provider:
        assert provider.command == az.path
        assert provider.tenant_id is None  # AZURE_TENANT_ID is not read
        provider.resolve()
    assert az.calls[0][-2:] == ["--scope", DEFAULT_SCOPE]


def test_from_env_without_az_is_not_configured(tmp_path: pathlib.Path) -> None:
    with pytest.raises(SourceNotConfigured, match="not on PATH"):
        AzureCliCredentialProvider.from_env({"PATH": str(tmp_path)})


def test_a_chain_skips_it_without_running_anything(tmp_path: pathlib.Path) -> None:
    chain = ChainProvider([
        ("cli", lambda: AzureCliCredentialProvider.from_env({"PATH": str(tmp_path)})),
        ("static", lambda: literauth.StaticTokenProvider("static-token")),
    ])
    assert chain.resolve().token.expose_secret() == "static-token"  # type: ignore[attr-defined]


def test_registered_and_exported() -> None:
    from literauth._registry import by_name

    spec = by_name("azure.cli")
    assert spec.load() is AzureCliCredentialProvider is literauth.AzureCliCredentialProvider
    assert spec.fake is None and spec.required_env == ()


# -- caching ----------------------------------------------------------------------------------------


def test_one_run_per_token_lifetime(az: FakeAzureCli, clock: FakeClock) -> None:
    with provider_for(az, clock) as provider:
        first = provider.resolve()
        for _ in range(20):
            assert provider.resolve() is first
        assert len(az.calls) == 1
        clock.advance(3600 - 300 + 1)  # past the refresh point (5 minutes ahead, no jitter later)
        az.answer_token()
        assert provider.resolve() is first  # refreshed inline; the still-valid token is served once more
        assert len(az.calls) == 2
        second = provider.resolve()
        assert second.token.expose_secret() == az.token != first.token.expose_secret()
        assert provider.stats().token_requests == 2


def test_with_scope_is_a_new_provider(az: FakeAzureCli, clock: FakeClock) -> None:
    with provider_for(az, clock, timeout=5) as provider, provider.with_scope(MANAGEMENT) as other:
        assert other.scope == MANAGEMENT and other.command == provider.command
        other.resolve()
    assert az.calls[0][-1] == MANAGEMENT


def test_stays_under_the_shared_key_limit(az: FakeAzureCli, clock: FakeClock) -> None:
    with provider_for(az, clock) as provider:
        provider.resolve()
        assert len(vars(provider)) <= 30, sorted(vars(provider))


# -- no leaks ---------------------------------------------------------------------------------------


def test_no_token_in_messages_logs_reprs_or_chains(
    az: FakeAzureCli, clock: FakeClock, debug_logs: pytest.LogCaptureFixture
) -> None:
    with provider_for(az, clock) as provider:
        good = provider.resolve()
        texts = [repr(provider), repr(good), str(provider.stats())]
        secret = az.token
        for fault in (
            lambda: az.fail(1, f"ERROR: bad {secret}\n{secret}\n"),
            lambda: az.fail(1, f'{{"accessToken": "{secret}"}}'),
            lambda: az.not_logged_in(),
            lambda: az.bad_json(f'{{"accessToken": "{secret}" '),
            lambda: az.answer_token(f"{secret} with space", stderr=f"WARNING: {secret}\n"),
        ):
            fault()
            provider.invalidate()
            try:
                provider.resolve()
            except literauth.LiterAuthError as exc:
                texts += [str(exc), repr(exc), *traceback.format_exception(exc)]
            else:
                pytest.fail("the fault did not fail")
    texts += [record.getMessage() for record in debug_logs.records]
    assert_no_secret(texts, [secret])


def test_mask_line() -> None:
    assert mask_line("\n  ERROR: one\ntwo") == "ERROR: one"
    assert mask_line("id 0b8d7c52-0a9f-4a55-a2f2-91a7f2a1e6b1 kept") == "id 0b8d7c52-0a9f-4a55-a2f2-91a7f2a1e6b1 kept"
    assert mask_line("x eyJhbGciOi.abc.def y") == "x **** y"
    assert mask_line("k " + "A" * 50) == "k ****"
    assert len(mask_line("e" * 10 + " " + "word " * 100)) <= 200


def test_the_fake_is_a_python_script_on_this_interpreter(az: FakeAzureCli) -> None:
    first = pathlib.Path(az.path).read_text().splitlines()[0]
    assert first == f"#!{sys.executable}"


def test_debug_log_does_not_hold_the_token_on_success(
    az: FakeAzureCli, clock: FakeClock, debug_logs: pytest.LogCaptureFixture
) -> None:
    with provider_for(az, clock) as provider:
        provider.resolve()
    assert_no_secret([r.getMessage() for r in debug_logs.records if r.levelno >= logging.DEBUG], [az.token])
