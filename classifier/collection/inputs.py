"""What to analyse: files, folders (walked), glob patterns and lists of paths or URLs.

Images in a folder are recognised by their first bytes (a JPEG named `.dat` is still a photo);
a file with an image suffix whose bytes are not an image is kept too, so the table says why it
failed. What cannot be walked (a symlink loop, a dangling link, a folder we may not list, a
FIFO) becomes a source with a `problem`: a row in the table, never the end of the run.
"""

from __future__ import annotations

import errno
import glob
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from classifier.collection.reading import read_head
from classifier.engine.image_checks import IMAGE_SUFFIXES, sniff_image_format

URL_SCHEMES = ("http://", "https://")
GLOB_CHARACTERS = frozenset("*?[")


@dataclass(frozen=True)
class Source:
    """One entry of the collection. ``name`` is the table's `source` column: an absolute path
    (bytes that are not UTF-8 written as backslash escapes) or the URL as given."""

    name: str
    path: Path | None = None
    size: int | None = None
    mtime_ns: int | None = None
    problem: tuple[str, str] | None = None
    """(code, message) when the entry was found but cannot be read as a file."""

    @property
    def is_url(self) -> bool:
        return self.path is None and self.problem is None


def table_name(path: str | Path) -> str:
    """The `source` text for a path: absolute, and valid UTF-8 whatever bytes the name holds."""
    return os.path.abspath(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def collect(arguments: Iterable[str]) -> Iterator[Source]:
    """Every source the arguments name, each once, in the order given (folders sorted by name)."""
    seen: set[str] = set()
    visited: set[tuple[int, int]] = set()
    for argument in arguments:
        for source in _expand(argument, visited):
            if source.name not in seen:
                seen.add(source.name)
                yield source


def read_list(lines: Iterable[str]) -> Iterator[str]:
    """The entries of a `--list` file: one path or URL per line; blank lines and `#` comments skipped."""
    for line in lines:
        entry = line.strip()
        if entry and not entry.startswith("#"):
            yield entry


def _expand(argument: str, visited: set[tuple[int, int]]) -> Iterator[Source]:
    if argument.startswith(URL_SCHEMES):
        yield Source(name=argument)
    elif GLOB_CHARACTERS & set(argument) and not os.path.lexists(argument):
        for match in sorted(glob.glob(argument, recursive=True)):
            yield from _entry(Path(match), visited, explicit=True)
    else:
        yield from _entry(Path(argument), visited, explicit=True)


def _entry(path: Path, visited: set[tuple[int, int]], *, explicit: bool) -> Iterator[Source]:
    """A path named by the user (``explicit``: always a row) or found in a folder (kept if it is a photo)."""
    name = table_name(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        yield Source(name, problem=_stat_problem(path, exc))
        return
    if stat.S_ISDIR(info.st_mode):
        yield from _folder(path, info, visited)
    elif not stat.S_ISREG(info.st_mode):
        yield Source(name, problem=("not_regular_file", "This is not a regular file (a device, a FIFO or a socket)."))
    elif explicit or _looks_like_a_photo(path):
        yield Source(name, path=path, size=info.st_size, mtime_ns=info.st_mtime_ns)


def _folder(path: Path, info: os.stat_result, visited: set[tuple[int, int]]) -> Iterator[Source]:
    key = (info.st_dev, info.st_ino)
    if key in visited:  # reached again through a symlink: a loop, or a second way into the same tree
        yield Source(table_name(path), problem=("symlink_loop", "This folder was already walked (a symlink loop)."))
        return
    visited.add(key)
    try:
        names = sorted(os.listdir(path))
    except OSError as exc:
        yield Source(table_name(path), problem=("unreadable", f"Cannot list the folder: {exc.strerror}."))
        return
    for child in names:
        yield from _entry(path / child, visited, explicit=False)


def _looks_like_a_photo(path: Path) -> bool:
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    try:
        return sniff_image_format(read_head(path)) is not None
    except OSError:
        return True  # unreadable: kept, so that its row says so


def _stat_problem(path: Path, exc: OSError) -> tuple[str, str]:
    if exc.errno == errno.ELOOP:
        return "symlink_loop", "This symlink leads round in a loop."
    if exc.errno == errno.ENOENT and os.path.islink(path):
        return "unreadable", "This symlink points at nothing (a dangling link)."
    if exc.errno == errno.ENOENT:
        return "not_found", "There is no such file or folder."
    return "unreadable", f"Cannot read it: {exc.strerror}."
