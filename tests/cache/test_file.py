"""FileCache: a private directory, atomic entries, damage ignored and replaced, nothing in plaintext."""

from __future__ import annotations

import logging
import os
import pathlib
import stat

import pytest

from literauth import AzureAdCredentialProvider, BearerToken
from literauth.cache import FileCache
from literauth.errors import ConfigurationError
from literauth.testing import FakeClock, FakeIdentityServer
from tests.conftest import secret_fragments

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")


def _provider(identity: FakeIdentityServer, store: FileCache, **options: object) -> AzureAdCredentialProvider:
    clock = options.pop("clock", None) or FakeClock(identity.clock())
    return identity.azure.make_provider(clock=clock, background_refresh=False, cache=store, **options)


def _entries(directory: pathlib.Path) -> list[pathlib.Path]:
    return sorted(directory.glob("*.entry"))


def test_directory_and_entries_are_private(identity: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    store = FileCache(tmp_path / "a" / "literauth")
    _provider(identity, store).resolve()
    assert stat.S_IMODE(os.stat(store.directory).st_mode) == 0o700
    (entry,) = _entries(pathlib.Path(store.directory))
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    assert len(entry.stem) == 64 and all(c in "0123456789abcdef" for c in entry.stem)  # an HMAC, nothing else
    assert not [p for p in pathlib.Path(store.directory).iterdir() if p.name.endswith(".tmp")]


def test_a_second_process_view_reads_the_entry(identity: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    first = _provider(identity, FileCache(tmp_path / "c")).resolve()
    reread = identity.azure.make_provider(clock=FakeClock(identity.clock()), cache=FileCache(tmp_path / "c"))
    assert reread.resolve() == first
    assert identity.azure.request_count == 1 and reread.stats().cache_loads == 1


@pytest.mark.parametrize("mode", [0o750, 0o705, 0o777])
def test_a_directory_open_to_others_is_refused(tmp_path: pathlib.Path, mode: int) -> None:
    directory = tmp_path / "cache"
    directory.mkdir()
    directory.chmod(mode)
    with pytest.raises(ConfigurationError, match=r"open to group or others \(mode 0"):
        FileCache(directory)


def test_a_symlinked_directory_is_refused(tmp_path: pathlib.Path) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    with pytest.raises(ConfigurationError, match="is a symlink"):
        FileCache(tmp_path / "link")


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a directory's owner needs root")
def test_a_foreign_owned_directory_is_refused(tmp_path: pathlib.Path) -> None:
    directory = tmp_path / "theirs"
    directory.mkdir(mode=0o700)
    os.chown(directory, 4242, 4242)
    with pytest.raises(ConfigurationError, match="owned by uid 4242"):
        FileCache(directory)


def test_a_file_where_the_directory_belongs_is_refused(tmp_path: pathlib.Path) -> None:
    (tmp_path / "cache").write_text("")
    with pytest.raises(ConfigurationError, match="cache directory"):
        FileCache(tmp_path / "cache")


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[:-7], id="truncated"),
        pytest.param(lambda data: b"", id="zero-length"),
        pytest.param(lambda data: data[:40] + bytes([data[40] ^ 1]) + data[41:], id="corrupted"),
        pytest.param(lambda data: bytes([2]) + data[1:], id="foreign-version"),
        pytest.param(lambda data: b"\x01\x00" + b'{"v":1,"kind":"bearer","token":"x"}', id="plaintext-forged"),
    ],
)
def test_a_damaged_entry_is_ignored_counted_and_replaced(
    identity: FakeIdentityServer, tmp_path: pathlib.Path, damage: object
) -> None:
    store = FileCache(tmp_path / "c")
    _provider(identity, store).resolve()
    (entry,) = _entries(tmp_path / "c")
    entry.write_bytes(damage(entry.read_bytes()))  # type: ignore[operator]
    reader = _provider(identity, store)
    assert isinstance(reader.resolve(), BearerToken)
    assert identity.azure.request_count == 2 and reader.stats().cache_rejects == 1
    assert _provider(identity, store).resolve() == reader.resolve()  # the replacement is read back
    assert identity.azure.request_count == 2


def test_an_entry_swapped_for_a_symlink_is_not_followed(
    identity: FakeIdentityServer, tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FileCache(tmp_path / "c")
    first = _provider(identity, store).resolve()
    (entry,) = _entries(tmp_path / "c")
    target = tmp_path / "elsewhere"
    target.write_bytes(entry.read_bytes())
    target.chmod(0o600)
    entry.unlink()
    entry.symlink_to(target)
    with caplog.at_level(logging.WARNING, "literauth.cache"):
        second = _provider(identity, store).resolve()
    assert second != first and identity.azure.request_count == 2  # not followed: fetched anew
    assert "is a symlink" in caplog.text
    assert not entry.is_symlink() and target.read_bytes() != entry.read_bytes()  # replaced; target untouched


def test_an_entry_with_loose_permissions_is_damage(
    identity: FakeIdentityServer, tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = FileCache(tmp_path / "c")
    _provider(identity, store).resolve()
    (entry,) = _entries(tmp_path / "c")
    entry.chmod(0o644)
    with caplog.at_level(logging.WARNING, "literauth.cache"):
        _provider(identity, store).resolve()
    assert "mode 0644, not 0600" in caplog.text and identity.azure.request_count == 2
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600


def test_no_token_in_plaintext_and_keys_do_not_cross(identity: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    """Scan every file for every token and its 16-character pieces; one identity's entry under
    another's name does not open."""
    store = FileCache(tmp_path / "c")
    client_id, secret = identity.azure.add_client()
    one = _provider(identity, store).resolve()
    two = _provider(identity, store, client_id=client_id, client_secret=secret).resolve()
    assert isinstance(one, BearerToken) and isinstance(two, BearerToken)
    blobs = b"".join(p.read_bytes() for p in (tmp_path / "c").iterdir())
    for token in (one, two):
        text = token.token.expose_secret()
        for piece in secret_fragments(text) | {text}:
            assert piece.encode() not in blobs
    for name in (identity.azure.client_id, client_id, identity.azure.tenant_id):
        assert name.encode() not in blobs and name not in " ".join(os.listdir(tmp_path / "c"))
    a, b = _entries(tmp_path / "c")
    a.write_bytes(b.read_bytes())  # both slots now hold the same sealed entry: one of them must refuse it
    readers = [_provider(identity, store), _provider(identity, store, client_id=client_id, client_secret=secret)]
    for reader in readers:
        reader.resolve()
    assert sum(r.stats().cache_rejects for r in readers) == 1
    assert identity.azure.request_count == 3


def test_a_rotated_secret_gets_another_entry(identity: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    store = FileCache(tmp_path / "c")
    _provider(identity, store).resolve()
    _, rotated = identity.azure.add_client(identity.azure.client_id)  # a second secret for the same app
    _provider(identity, store, client_secret=rotated).resolve()
    assert len(_entries(tmp_path / "c")) == 2 and identity.azure.request_count == 2


def test_a_held_lock_makes_others_wait_then_fetch(identity: FakeIdentityServer, tmp_path: pathlib.Path) -> None:
    store = FileCache(tmp_path / "c")
    with store.lease("ab" * 32, 1) as held:
        assert held
        with store.lease("ab" * 32, 0.05) as second:
            assert not second  # the lock is per open file: threads of one process exclude each other too
    with store.lease("ab" * 32, 0.05) as again:
        assert again


def test_a_killed_lock_holder_releases_at_once(tmp_path: pathlib.Path) -> None:
    """The OS drops a dead process's flock: nobody waits for a holder SIGKILLed mid-fetch."""
    import subprocess
    import sys

    store = FileCache(tmp_path / "c")
    code = (
        "import sys, time; from literauth.cache import FileCache\n"
        f"store = FileCache({str(tmp_path / 'c')!r})\n"
        "with store.lease('cd' * 32, 5) as held:\n"
        "    print(held, flush=True); time.sleep(60)\n"
    )
    root = pathlib.Path(__file__).resolve().parents[2]
    holder = subprocess.Popen([sys.executable, "-c", code], cwd=root, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"True"
        with store.lease("cd" * 32, 0.05) as blocked:
            assert not blocked
        holder.kill()
        holder.wait()
        with store.lease("cd" * 32, 5) as held:
            assert held
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
