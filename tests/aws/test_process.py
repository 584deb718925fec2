"""ProcessCredentialsProvider against a scripted fake `credential_process` (a real subprocess every run).

The HTTP campaigns cannot drive a process provider, so its faults are here: bad JSON, a
wrong Version, missing fields, a non-zero exit, a hang killed at the timeout, a missing
executable; and no key in any message, log record, repr or chained exception.
"""

from __future__ import annotations

import logging
import os
import pathlib
import shlex
import sys
import time
import traceback
from datetime import datetime

import pytest

import literauth
from literauth import AwsCredentials, ConfigurationError, CredentialSourceError
from literauth.aws import ProcessCredentialsProvider
from literauth.aws.process import parse_process_output
from literauth.credentials import UTC
from literauth.testing.aws.credential_process import HELPER, FakeCredentialProcess

from ..conftest import FakeClock, assert_no_secret


@pytest.fixture
def helper(tmp_path: pathlib.Path, clock: FakeClock) -> FakeCredentialProcess:
    return FakeCredentialProcess(tmp_path / "helper", clock=clock)


def _secrets(keys: AwsCredentials) -> list[str]:
    found = [keys.access_key_id.expose_secret(), keys.secret_access_key.expose_secret()]
    if keys.session_token is not None:
        found.append(keys.session_token.expose_secret())
    return found


def _texts(exc: BaseException) -> list[str]:
    texts = []
    link: BaseException | None = exc
    while link is not None:
        texts += [str(link), repr(link), "".join(traceback.format_exception(link))]
        link = link.__cause__ or link.__context__
    return texts


def test_keys_come_from_the_helper_and_are_cached(helper: FakeCredentialProcess, clock: FakeClock) -> None:
    with helper.make_provider(clock=clock, background_refresh=False) as provider:
        keys = provider.resolve()
        expected = helper.issued[-1]
        assert keys.access_key_id.expose_secret() == expected.access_key_id.expose_secret()
        assert keys.secret_access_key.expose_secret() == expected.secret_access_key.expose_secret()
        assert keys.session_token is not None and expected.session_token is not None
        assert keys.session_token.expose_secret() == expected.session_token.expose_secret()
        assert keys.expires_at == expected.expires_at
        assert provider.resolve() is keys
        assert len(helper.calls) == 1


def test_the_helper_runs_again_when_the_keys_are_due(helper: FakeCredentialProcess, clock: FakeClock) -> None:
    with helper.make_provider(clock=clock, background_refresh=False) as provider:
        first = provider.resolve()
        second_expected = helper.answer()
        clock.advance(3600 - 200)  # inside the refresh window: refreshed inline by this caller
        assert provider.resolve() is first
        second = provider.resolve()
        assert second is not first
        assert second.access_key_id.expose_secret() == second_expected.access_key_id.expose_secret()
        assert len(helper.calls) == 2


def test_without_expiration_the_keys_never_expire_and_the_helper_runs_once(
    helper: FakeCredentialProcess, clock: FakeClock
) -> None:
    helper.answer(expires=False, session_token=False)
    with helper.make_provider(clock=clock) as provider:
        keys = provider.resolve()
        assert keys.expires_at is None and keys.session_token is None
        clock.advance(365 * 86400)
        assert provider.resolve() is keys
        assert len(helper.calls) == 1


def test_a_command_line_is_split_without_a_shell(helper: FakeCredentialProcess, tmp_path: pathlib.Path) -> None:
    marker = tmp_path / "shell-ran"
    line = f"{helper.command_line} extra 'two words' ; touch {shlex.quote(str(marker))}"
    with ProcessCredentialsProvider(line) as provider:
        provider.resolve()
        assert provider.argv[-5:] == ("extra", "two words", ";", "touch", str(marker))
    assert helper.calls == [["extra", "two words", ";", "touch", str(marker)]]  # passed on literally
    assert not marker.exists()  # no shell ever saw the `;`


def test_a_path_with_spaces_is_one_argument(tmp_path: pathlib.Path) -> None:
    spaced = FakeCredentialProcess(tmp_path / "dir with spaces")
    with ProcessCredentialsProvider(spaced.command_line) as provider:
        assert provider.resolve().access_key_id.expose_secret() == spaced.issued[-1].access_key_id.expose_secret()


@pytest.mark.parametrize(("script", "match"), [
    ("bad_json", "succeeded but its output is not JSON"),
    ("version_2", "Version 2; the supported version is 1"),
    ("version_string", "Version '1'; the supported version is 1"),
    ("no_secret", "no SecretAccessKey string"),
    ("not_an_object", "not a JSON object"),
    ("bad_expiration", "Expiration that is not an ISO 8601 time"),
    ("space_in_key", "whitespace"),
])
def test_unusable_output_is_a_clear_error(helper: FakeCredentialProcess, script: str, match: str) -> None:
    if script == "bad_json":
        helper.bad_json("AccessKeyId=AKIA... this is not json")
    elif script == "version_2":
        helper.answer(version=2)
    elif script == "version_string":
        helper.answer(version="1")
    elif script == "no_secret":
        helper.answer_document({"Version": 1, "AccessKeyId": "AKIAEXAMPLE000000000"})
    elif script == "not_an_object":
        helper.answer_document([1, 2])
    elif script == "bad_expiration":
        helper.answer(extra={"Expiration": "tomorrow"})
    else:
        helper.answer(extra={"SecretAccessKey": "has a space"})
    with helper.make_provider() as provider, pytest.raises(CredentialSourceError, match=match) as caught:
        provider.resolve()
    assert caught.value.retryable is False  # the helper is wrong, not busy: a long cool-down
    assert f"aws.process: credential process `{os.path.basename(sys.executable)}` succeeded but" in str(caught.value)
    assert_no_secret(_texts(caught.value), _secrets(helper.issued[-1]))


def test_a_non_zero_exit_quotes_one_masked_line_of_stderr(helper: FakeCredentialProcess) -> None:
    leaked = helper.issued[-1]
    secret = leaked.secret_access_key.expose_secret()
    helper.fail(3, f"error: session expired for {leaked.access_key_id.expose_secret()} secret={secret}\n"
                   "Traceback (most recent call last):\n  more lines\n")
    with helper.make_provider() as provider, pytest.raises(CredentialSourceError) as caught:
        provider.resolve()
    message = str(caught.value)
    assert "exited with status 3: error: session expired for **** ****" in message
    assert "Traceback" not in message
    assert caught.value.retryable is True  # a broker may be down for a moment
    assert_no_secret(_texts(caught.value), _secrets(leaked))


def test_a_silent_failure_says_so(helper: FakeCredentialProcess) -> None:
    helper.fail(1, "")
    with helper.make_provider() as provider, pytest.raises(CredentialSourceError, match="status 1: no error output"):
        provider.resolve()


def test_a_hang_is_killed_at_the_timeout(helper: FakeCredentialProcess) -> None:
    helper.hang(60)
    started = time.monotonic()
    with helper.make_provider(timeout=0.5) as provider, pytest.raises(
        CredentialSourceError, match=r"took longer than 0\.5 s and was stopped"
    ):
        provider.resolve()
    assert time.monotonic() - started < 10  # killed, not waited for (botocore would wait forever)


def test_a_missing_executable_is_a_clear_permanent_error(tmp_path: pathlib.Path) -> None:
    with ProcessCredentialsProvider([str(tmp_path / "no-such-helper"), "--json"]) as provider, pytest.raises(
        CredentialSourceError, match=r"could not start credential process `no-such-helper`.*FileNotFoundError"
    ) as caught:
        provider.resolve()
    assert caught.value.retryable is False
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_the_provider_recovers_after_a_failure(helper: FakeCredentialProcess, clock: FakeClock) -> None:
    helper.fail(1, "broker down\n")
    with helper.make_provider(clock=clock) as provider:
        with pytest.raises(CredentialSourceError):
            provider.resolve()
        keys = helper.answer()
        clock.advance(60)  # past the cool-down after a retryable failure
        assert provider.resolve().access_key_id.expose_secret() == keys.access_key_id.expose_secret()


@pytest.mark.parametrize(("command", "match"), [
    ("", "must name an executable"),
    ("   ", "must name an executable"),
    ([], "must name an executable"),
    ("helper 'unclosed", "cannot be split into arguments"),
    (["helper", 3], "a command line or a list of arguments"),
    (42, "a command line or a list of arguments"),
    (["helper\x00x"], "no NUL"),
])
def test_bad_commands_are_configuration_errors(command: object, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        ProcessCredentialsProvider(command)  # type: ignore[arg-type]


@pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), True, "5"])
def test_bad_timeouts_are_configuration_errors(timeout: object) -> None:
    with pytest.raises(ConfigurationError, match="timeout must be a positive number"):
        ProcessCredentialsProvider(["helper"], timeout=timeout)  # type: ignore[arg-type]


def test_from_env_reads_the_command_line(helper: FakeCredentialProcess) -> None:
    with ProcessCredentialsProvider.from_env({"LITERAUTH_AWS_CREDENTIAL_PROCESS": helper.command_line}) as provider:
        assert provider.argv == tuple(helper.argv)
        provider.resolve()
    with pytest.raises(ConfigurationError, match="LITERAUTH_AWS_CREDENTIAL_PROCESS"):
        ProcessCredentialsProvider.from_env({})


def test_exported_from_literauth_and_its_cloud() -> None:
    assert literauth.ProcessCredentialsProvider is ProcessCredentialsProvider


def test_repr_names_the_executable_not_the_arguments(helper: FakeCredentialProcess) -> None:
    with ProcessCredentialsProvider([sys.executable, HELPER, str(helper.config), "--password=hunter2-long"]) as p:
        p.resolve()
        text = repr(p)
    assert os.path.basename(sys.executable) in text and "hunter2" not in text
    assert_no_secret([text], _secrets(helper.issued[-1]))


def test_cache_identity_is_the_command(helper: FakeCredentialProcess) -> None:
    one = ProcessCredentialsProvider(helper.argv)
    other = ProcessCredentialsProvider([*helper.argv, "--profile", "other"])
    first, second = one._cache_identity(), other._cache_identity()
    assert first is not None and second is not None
    assert first[0] != second[0] and first[1] is None


def test_nothing_is_logged_with_a_key(helper: FakeCredentialProcess, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="literauth")
    with helper.make_provider(background_refresh=False) as provider:
        provider.resolve()
        helper.fail(2, f"denied {helper.issued[-1].secret_access_key.expose_secret()}\n")
        provider.invalidate()
        with pytest.raises(CredentialSourceError):
            provider.resolve()
    assert_no_secret([caplog.text], _secrets(helper.issued[-1]))


@pytest.mark.parametrize(("expiration", "expected"), [
    ("2030-01-01T00:00:00Z", datetime(2030, 1, 1, tzinfo=UTC)),
    ("2030-01-01T02:00:00+02:00", datetime(2030, 1, 1, tzinfo=UTC)),
    ("2030-01-01T00:00:00.123456Z", datetime(2030, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)),
])
def test_expiration_forms(expiration: str, expected: datetime) -> None:
    keys = parse_process_output(
        b'{"Version": 1, "AccessKeyId": "AKIAEXAMPLE000000000", "SecretAccessKey": "c2VjcmV0",'
        b' "Expiration": "' + expiration.encode() + b'"}'
    )
    assert keys.expires_at == expected


def test_botocore_reads_the_same_helper(helper: FakeCredentialProcess, tmp_path: pathlib.Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Fidelity: botocore's ProcessProvider, given the same command in a profile, gets the same keys."""
    botocore_session = pytest.importorskip("botocore.session")
    config = tmp_path / "config"
    config.write_text(f"[profile helper]\ncredential_process = {helper.command_line}\n")
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    theirs = botocore_session.Session(profile="helper").get_credentials().get_frozen_credentials()
    with ProcessCredentialsProvider(helper.command_line) as provider:
        ours = provider.resolve()
    assert theirs.access_key == ours.access_key_id.expose_secret()
    assert theirs.secret_key == ours.secret_access_key.expose_secret()
    assert ours.session_token is not None and theirs.token == ours.session_token.expose_secret()


def test_the_provider_refuses_pickling(helper: FakeCredentialProcess) -> None:
    import pickle

    with helper.make_provider() as provider, pytest.raises(TypeError, match="holds secrets"):
        pickle.dumps(provider)
