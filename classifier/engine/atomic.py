"""Writing files so that a reader sees the old file or the new one, never half of one.

The one way the project writes a file that something else reads (model files, their
manifest, checkpoints, reports): a temporary file beside the target (same file system, so
the rename is atomic), its bytes synced to disk, then renamed over the target, then the
folder synced so the rename itself survives a power cut. A failure at any step removes the
temporary file and leaves the target as it was.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

# mkstemp makes 0600 files; what we write is meant to be read by other users too, as a file made the
# ordinary way (umask 022) is: a container's user (uid 10001) reads model files fetched on the host.
FILE_MODE = 0o644

Content = bytes | str | Callable[[Path], object]
"""What to write: bytes, text (UTF-8), or a function that writes the file at the path it is given."""


def fsync_path(path: Path) -> None:
    """Sync a file's bytes (or a folder's entries) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def temporary_beside(path: Path) -> Iterator[Path]:
    """A fresh empty temporary file in the target's folder, removed on exit unless renamed away."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    try:
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


def replace_durably(tmp: Path, target: Path) -> None:
    """Rename a finished temporary file over the target: its bytes reach the disk before the
    name points at them, and the rename itself is synced."""
    fsync_path(tmp)
    os.replace(tmp, target)
    fsync_path(Path(target).parent)


def write_atomically(path: Path, content: Content) -> Path:
    """Write `content` to `path` atomically and durably; returns the path."""
    path = Path(path)
    with temporary_beside(path) as tmp:
        if isinstance(content, bytes):
            tmp.write_bytes(content)
        elif isinstance(content, str):
            tmp.write_text(content, encoding="utf-8")
        else:
            content(tmp)
        replace_durably(tmp, path)
    return path


def write_folder_atomically(path: Path, content: Callable[[Path], object]) -> Path:
    """Write a folder of files (OpenVINO's .xml and .bin) so that it appears whole or not at all:
    `content` fills a temporary folder beside the target, its files are synced, then it is
    renamed into place. A folder already there is kept (another process wrote the same meanwhile):
    a caller replacing a damaged one removes it first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent))
    try:
        os.chmod(tmp, 0o755)
        content(tmp)
        for file in tmp.iterdir():
            os.chmod(file, FILE_MODE)
            fsync_path(file)
        try:
            os.replace(tmp, path)
        except OSError as exc:  # another process wrote the same folder meanwhile: theirs is as good
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
        fsync_path(path.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path
