"""literauth.config: where a configuration comes from — paths, text, file kinds, size, encoding, argument types."""

from __future__ import annotations

import io
import os
import pathlib
import threading
from collections.abc import Callable, Iterator

import pytest

from literauth import ConfigurationError
from literauth.config import (
    MAX_FILE_BYTES,
    TEXT_SOURCE,
    ModelConfigError,
    inspect,
    load_models,
    loads_models,
)
from literauth.config import _document as document

from .conftest import assert_no_secret

KEY = "sk-test-0123456789abcdefghijklmnopqrstuv"
GOOD = '[[models]]\nname = "m"\nprovider_model = "openai/gpt-4o"\napi_key = "k"\n'

# Both readers of a file: they must refuse the same files in the same words.
READERS: list[Callable[[object], object]] = [
    lambda path: load_models(path, environ={}),  # type: ignore[arg-type]
    lambda path: inspect(path, environ={}),  # type: ignore[arg-type]
]
READER_IDS = ["load_models", "inspect"]


# -- a path is a path, text is text (F-C3) -----------------------------------------------------------


def test_loads_from_a_path_and_from_a_str_path(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text(GOOD, encoding="utf-8")
    for source in (path, str(path)):
        table = load_models(source, environ={})
        assert list(table) == ["m"] and table.source == str(path)


def test_a_relative_str_is_a_path_whatever_its_suffix(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "proxy.conf").write_text(GOOD, encoding="utf-8")
    assert list(load_models("proxy.conf", environ={})) == ["m"]
    with pytest.raises(ConfigurationError, match="does not exist"):  # no longer "neither a file nor text"
        load_models("proxy", environ={})


def test_load_models_never_parses_a_str_as_toml() -> None:
    with pytest.raises(ConfigurationError, match="loads_models") as excinfo:
        load_models(GOOD.replace('"k"', f'"{KEY}"'), environ={})
    assert not isinstance(excinfo.value, ModelConfigError)  # refused as a path, not parsed
    assert_no_secret([str(excinfo.value)], [KEY])


@pytest.mark.parametrize("text", [f'api_key = "{KEY}"', "[[models]]", f"{KEY}=" + "x" * 5000])
def test_text_given_as_a_path_is_never_quoted(text: str) -> None:
    with pytest.raises(ConfigurationError, match="loads_models") as excinfo:
        load_models(text, environ={})
    assert_no_secret([str(excinfo.value)], [KEY])


def test_loads_models_reads_text_and_names_it() -> None:
    assert TEXT_SOURCE == "<string>"
    assert loads_models(GOOD, environ={}).source == TEXT_SOURCE
    with pytest.raises(ModelConfigError) as excinfo:  # one line, so no fields: but it is text
        loads_models("[[models]]", environ={})
    assert excinfo.value.source == TEXT_SOURCE
    table = loads_models(GOOD, source="vault:models", environ={})
    assert table.source == "vault:models"
    with pytest.raises(ModelConfigError, match=r"^vault:models: 2 problems") as excinfo:
        loads_models("[[models]]\n", source="vault:models", environ={})
    assert {p.source for p in excinfo.value.problems} == {"vault:models"}


def test_loads_models_of_an_empty_string_reports_no_models() -> None:
    with pytest.raises(ModelConfigError, match="no \\[\\[models\\]\\] entries"):
        loads_models("", environ={})


def test_a_path_that_looks_like_a_file_name_is_never_read_as_text(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text(GOOD, encoding="utf-8")
    with pytest.raises(ModelConfigError, match="invalid TOML"):  # the text of a path, not the file
        loads_models(str(path), environ={})


def test_a_missing_file_is_reported_by_name(tmp_path: pathlib.Path) -> None:
    missing = tmp_path / "nope.toml"
    for source in (missing, str(missing)):
        with pytest.raises(ConfigurationError, match="does not exist") as excinfo:
            load_models(source, environ={})
        assert str(missing) in str(excinfo.value)


# -- wrong argument types name the argument -----------------------------------------------------------


@pytest.mark.parametrize("value", [b"[[models]]\n", 42, None, ["models.toml"]])
@pytest.mark.parametrize("function", [load_models, inspect], ids=["load_models", "inspect"])
def test_a_path_of_another_type_is_a_type_error_naming_path(function: Callable[..., object], value: object) -> None:
    with pytest.raises(TypeError, match=r"\bpath\b must be a str or an os.PathLike"):
        function(value, environ={})


@pytest.mark.parametrize("value", [b"[[models]]\n", 42, None, pathlib.Path("models.toml")])
def test_text_of_another_type_is_a_type_error_naming_text(value: object) -> None:
    with pytest.raises(TypeError, match=r"loads_models\(\): text must be a str"):
        loads_models(value, environ={})  # type: ignore[arg-type]


def test_a_source_of_another_type_is_a_type_error_naming_source() -> None:
    with pytest.raises(TypeError, match=r"source must be a str"):
        loads_models(GOOD, source=pathlib.Path("x"), environ={})  # type: ignore[arg-type]


@pytest.mark.parametrize("environ", [[("K", KEY)], f"K={KEY}", 5, {"K": 5}, {5: KEY}, {"K": KEY.encode()}])
def test_a_bad_environ_is_a_type_error_naming_environ(environ: object, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "models.toml"
    path.write_text(GOOD, encoding="utf-8")
    calls: list[Callable[[], object]] = [
        lambda: load_models(path, environ=environ),  # type: ignore[arg-type]
        lambda: loads_models(GOOD, environ=environ),  # type: ignore[arg-type]
        lambda: inspect(path, environ=environ),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(TypeError, match=r"\benviron\b") as excinfo:
            call()
        assert_no_secret([str(excinfo.value)], [KEY])


# -- only regular files, never blocking (#12) ---------------------------------------------------------


@pytest.mark.parametrize("read", READERS, ids=READER_IDS)
def test_a_directory_is_refused(read: Callable[[object], object], tmp_path: pathlib.Path) -> None:
    folder = tmp_path / "conf.toml"
    folder.mkdir()
    for source in (folder, str(folder)):
        with pytest.raises(ConfigurationError, match="is a directory") as excinfo:
            read(source)
        assert str(folder) in str(excinfo.value)


@pytest.fixture
def fifo(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    """A named pipe nobody writes to; unblocked afterwards should a reader wait on it."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    path = tmp_path / "models.toml"
    os.mkfifo(path)
    yield path
    try:  # a reader blocked in open() is released by a writer appearing
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:  # ENXIO: no reader is waiting, as it should be
        pass


@pytest.mark.parametrize("read", READERS, ids=READER_IDS)
def test_a_fifo_is_refused_at_once(read: Callable[[object], object], fifo: pathlib.Path) -> None:
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            read(fifo)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)
        else:
            outcome.append(None)

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "reading a FIFO blocked"
    (error,) = outcome
    assert isinstance(error, ConfigurationError) and "is not a regular file" in str(error)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null"])
@pytest.mark.parametrize("read", READERS, ids=READER_IDS)
def test_a_device_or_a_symlink_to_one_is_refused(
    read: Callable[[object], object], device: str, tmp_path: pathlib.Path
) -> None:
    if not os.path.exists(device):
        pytest.skip(f"no {device} here")
    link = tmp_path / "z.toml"
    link.symlink_to(device)
    for source in (device, link):
        with pytest.raises(ConfigurationError, match="is not a regular file"):
            read(source)


def test_a_symlink_to_a_regular_file_is_read(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "real.toml"
    target.write_text(GOOD, encoding="utf-8")
    link = tmp_path / "models.toml"
    link.symlink_to(target)
    assert list(load_models(link, environ={})) == ["m"]


# -- the size cap comes before any parsing (#13) -----------------------------------------------------


@pytest.fixture
def no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def parse(text: str) -> object:
        raise AssertionError("the TOML parser was called")

    monkeypatch.setattr("literauth.config._document.tomllib.loads", parse)


@pytest.mark.parametrize("read", READERS, ids=READER_IDS)
def test_a_file_over_the_cap_is_refused_before_parsing(
    read: Callable[[object], object], tmp_path: pathlib.Path, no_parsing: None
) -> None:
    path = tmp_path / "huge.toml"
    path.write_text(GOOD + "#" * (MAX_FILE_BYTES - len(GOOD)) + "\n", encoding="utf-8")
    assert path.stat().st_size == MAX_FILE_BYTES + 1
    with pytest.raises(ConfigurationError, match=f"is larger than {MAX_FILE_BYTES} bytes"):
        read(path)


@pytest.mark.parametrize("read", READERS, ids=READER_IDS)
def test_a_huge_sparse_file_is_refused_from_its_size_without_reading(
    read: Callable[[object], object], tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, no_parsing: None
) -> None:
    path = tmp_path / "huge40.toml"
    with open(path, "wb") as handle:
        handle.truncate(40 * 1024 * 1024)
    opened: list[object] = []
    monkeypatch.setattr(os, "open", lambda *args: opened.append(args))
    with pytest.raises(ConfigurationError, match="is larger than"):
        read(path)
    assert opened == []  # refused from stat() alone


def test_a_file_that_grew_after_the_checks_is_read_only_to_the_cap(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, no_parsing: None
) -> None:
    path = tmp_path / "growing.toml"
    path.write_text(GOOD, encoding="utf-8")
    small = os.stat(path)
    with open(path, "ab") as handle:
        handle.write(b"#" * (2 * MAX_FILE_BYTES))
    sizes: list[int] = []

    class Recording(io.FileIO):
        def read(self, size: int | None = -1) -> bytes:
            sizes.append(-1 if size is None else size)
            return super().read(size)

    monkeypatch.setattr(os, "stat", lambda name: small)  # both checks saw the file small
    monkeypatch.setattr(os, "fstat", lambda descriptor: small)
    monkeypatch.setattr(document, "open", lambda descriptor, mode: Recording(descriptor, "rb"), raising=False)
    with pytest.raises(ConfigurationError, match="is larger than"):
        load_models(path, environ={})
    assert sizes == [MAX_FILE_BYTES + 1]


def test_a_file_at_the_cap_is_parsed(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "big.toml"
    path.write_text(GOOD + "#" * (MAX_FILE_BYTES - len(GOOD) - 1) + "\n", encoding="utf-8")
    assert path.stat().st_size == MAX_FILE_BYTES
    assert list(load_models(path, environ={})) == ["m"]


# -- encoding and TOML errors ---------------------------------------------------------------------------


def test_a_bom_is_accepted_and_bad_encoding_is_reported(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert list(load_models(path, environ={})) == ["m"]
    latin = tmp_path / "latin.toml"
    latin.write_bytes(GOOD.replace('"k"', '"k\xe9"').encode("latin-1"))
    with pytest.raises(ConfigurationError, match="not UTF-8") as excinfo:
        load_models(latin, environ={})
    assert str(latin) in str(excinfo.value)
    with pytest.raises(ConfigurationError, match="not UTF-8"):
        inspect(latin, environ={})


def test_toml_syntax_errors_name_the_file_and_line(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(f'[[models]]\nname = "m"\napi_key = "{KEY}\nprovider_model = "x/y"\n', encoding="utf-8")
    with pytest.raises(ModelConfigError, match="invalid TOML") as excinfo:
        load_models(path, environ={})
    message = str(excinfo.value)
    assert str(path) in message and "line 3" in message
    assert_no_secret([message], [KEY])
    report = inspect(path, environ={})
    assert report.entries == () and [str(p) for p in report.problems] == [str(p) for p in excinfo.value.problems]


def test_duplicate_keys_are_a_toml_error() -> None:
    with pytest.raises(ModelConfigError, match="invalid TOML"):
        loads_models(GOOD + 'api_key = "b"\n', environ={})
