import errno
import os

import pytest

from classifier.engine.atomic import write_atomically


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".part"))


@pytest.mark.parametrize("content", [b"new bytes", "new bytes", lambda path: path.write_bytes(b"new bytes")])
def test_it_writes_bytes_text_or_through_a_writer_and_leaves_no_temporary_file(tmp_path, content):
    target = tmp_path / "deep" / "file.json"
    assert write_atomically(target, content) == target
    assert target.read_bytes() == b"new bytes" and leftovers(target.parent) == []


def test_a_writer_that_fails_leaves_the_old_file_whole(tmp_path):
    target = tmp_path / "file.json"
    target.write_text("old")

    def half_then_fail(path):
        path.write_text("ne")
        raise RuntimeError("the writer broke")

    with pytest.raises(RuntimeError, match="the writer broke"):
        write_atomically(target, half_then_fail)
    assert target.read_text() == "old" and leftovers(tmp_path) == []


def test_a_disk_that_cannot_sync_leaves_the_old_file_whole(tmp_path, monkeypatch):
    target = tmp_path / "file.json"
    target.write_text("old")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(target, "new")
    assert target.read_text() == "old" and leftovers(tmp_path) == []
