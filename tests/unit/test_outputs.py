"""The safe writer (`dockguard.outputs`): what it does at each kind of path, and its failure paths."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from dockguard.outputs import OutputError, check_target, encode_text, write_bytes, write_text


def _leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if ".tmp-" in p.name]


def test_surrogates_become_escapes_and_valid_utf8() -> None:
    data = encode_text("a\udcffb é")
    assert data == b"a\\udcffb \xc3\xa9"
    data.decode("utf-8")


def test_new_file_explicit_mode_and_replacement(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    write_bytes(key, b"secret", mode=0o400)
    assert key.read_bytes() == b"secret" and stat.S_IMODE(key.stat().st_mode) == 0o400
    write_bytes(key, b"new secret", mode=0o400)  # a read-only file is replaced, not opened
    assert key.read_bytes() == b"new secret"
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("failing", ["write", "fsync", "replace"])
def test_temp_file_removed_on_every_failure(failing: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")

    def boom(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, boom)  # the module outputs uses
    with pytest.raises(OutputError, match=r"cannot write .*out.txt: No space left on device"):
        write_text(str(target), "new")
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_interrupt_while_writing_leaves_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_text(str(tmp_path / "out.txt"), "x")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_check_target_refuses_before_anything_is_written(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "f")
    (tmp_path / "f").write_text("x")
    check_target(tmp_path / "new.txt")
    check_target(tmp_path / "f")
    check_target("/dev/stdout")
    with pytest.raises(OutputError, match="is a directory"):
        check_target(tmp_path / "d")
    with pytest.raises(OutputError, match="symbolic link"):
        check_target(tmp_path / "link")


def test_fifo_written_in_place(tmp_path: Path) -> None:
    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    r = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        write_text(str(fifo), "through the pipe\n")
        assert os.read(r, 100) == b"through the pipe\n"
    finally:
        os.close(r)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_closed_descriptor_is_a_clean_error() -> None:
    with pytest.raises(OutputError, match="/dev/fd/987"):
        write_text("/dev/fd/987", "x")


def test_stdout_replacement_without_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    fake = io.StringIO()
    monkeypatch.setattr(sys, "stdout", fake)
    write_text(None, "x\udcff\n")
    assert fake.getvalue() == "x\\udcff\n"
