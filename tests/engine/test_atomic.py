import errno
import os

import pytest

from classifier.engine.atomic import write_atomically, write_folder_atomically


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


def test_a_folder_appears_whole(tmp_path):
    target = tmp_path / "entry"

    def write(folder):
        assert not target.exists()
        (folder / "model.xml").write_text("graph")
        (folder / "model.bin").write_bytes(b"weights")

    write_folder_atomically(target, write)
    assert sorted(p.name for p in target.iterdir()) == ["model.bin", "model.xml"]
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]  # no temporary folder left


def test_a_folder_another_process_wrote_meanwhile_is_kept(tmp_path):
    target = tmp_path / "entry"

    def write(folder):
        (folder / "model.bin").write_bytes(b"ours")
        target.mkdir()  # the other process renames its copy into place first
        (target / "model.bin").write_bytes(b"theirs")

    write_folder_atomically(target, write)
    assert (target / "model.bin").read_bytes() == b"theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]


def test_a_failed_folder_leaves_nothing(tmp_path):
    def write(folder):
        (folder / "model.bin").write_bytes(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        write_folder_atomically(tmp_path / "entry", write)
    assert list(tmp_path.iterdir()) == []
