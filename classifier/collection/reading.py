"""Bytes from a path someone else chose: only regular files, the size checked before reading.

A FIFO would block `open` forever, a symlink to /dev/zero would be read until memory runs out,
and a sparse file of 1.5 GB would be read whole before the byte limit refused it. So the file is
opened without blocking, checked with `fstat` on the open descriptor (no race with a rename),
and read in bounded pieces up to one byte past the limit.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from classifier.engine.errors import ImageRejected, SourceUnreadable

PIECE = 1 << 20


def read_photo_file(path: Path, max_bytes: int) -> bytes:
    """The file's bytes; `SourceUnreadable` for what is not a readable regular file, `ImageRejected`
    (file_too_large) past ``max_bytes``."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise SourceUnreadable(f"Cannot open the file: {exc.strerror}.") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SourceUnreadable(
                "This is not a regular file (a device, a FIFO or a socket); it was not read.", code="not_regular_file"
            )
        if info.st_size > max_bytes:
            raise _too_large(info.st_size, max_bytes)
        pieces, total = [], 0
        while total <= max_bytes:
            piece = os.read(fd, min(PIECE, max_bytes + 1 - total))
            if not piece:
                break
            pieces.append(piece)
            total += len(piece)
        if total > max_bytes:  # it grew while we read
            raise _too_large(total, max_bytes)
        return b"".join(pieces)
    except OSError as exc:
        raise SourceUnreadable(f"Cannot read the file: {exc.strerror}.") from exc
    finally:
        os.close(fd)


def read_head(path: Path, size: int = 32) -> bytes:
    """The first bytes of a regular file (to recognise an image by content), b"" if there are none."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        return os.read(fd, size)
    finally:
        os.close(fd)


def _too_large(size: int, max_bytes: int) -> ImageRejected:
    return ImageRejected(
        f"The file is {size / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB.", code="file_too_large"
    )


def printable(text: str) -> str:
    """A name as it may be shown on a terminal: control characters (escape sequences) and bytes that
    are not UTF-8 written as backslash escapes, so a file name cannot drive the terminal."""
    return "".join(_escape(c) for c in text)


def _escape(char: str) -> str:
    if char.isprintable():
        return char
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
