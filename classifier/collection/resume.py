"""What a table already holds, so `--resume` analyses only the rest, and never mixes two kinds of rows.

A file is done when a row has its source, size and modification time (a file edited since is
analysed again); a URL is done when a row has its address and the sha256 of what it serves now,
or when its last fetch failed (a row says why; it is not fetched again). A table of another
schema version, or made by another set of models, is refused rather than appended to.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from classifier.collection.inputs import Source
from classifier.collection.rows import SCHEMA_VERSION
from classifier.collection.table import COLUMNS, parquet_dataset, read_rows, table_format
from classifier.engine.errors import SceneWebError

KEY_COLUMNS = ("schema_version", "source", "bytes", "mtime_ns", "sha256", "models")


class TableMismatch(SceneWebError):
    """The table at --out was written by another schema or another model set."""

    code = "table_mismatch"


@dataclass
class Done:
    files: set[tuple[str, int | None, int | None]] = field(default_factory=set)
    urls: set[tuple[str, str]] = field(default_factory=set)
    failed_urls: set[str] = field(default_factory=set)
    rows: int = 0
    skipped: int = 0

    def pending(self, sources: Iterable[Source]) -> Iterator[Source]:
        """The sources not done yet (counting those skipped); URLs are decided by content later."""
        for source in sources:
            if (
                (source.name in self.failed_urls)
                if source.is_url
                else (source.name, source.size, source.mtime_ns) in self.files
            ):
                self.skipped += 1
            else:
                yield source


def done_in(path: str | Path, models: str) -> Done:
    """What the table at ``path`` holds; `TableMismatch` if it cannot be continued with ``models``."""
    rows = read_rows(path, KEY_COLUMNS)
    done = Done(rows=len(rows))
    if not rows:
        return done
    columns = existing_columns(path)
    if columns != COLUMNS:
        raise TableMismatch(
            f"{path} was written by another version of this command (its columns differ from schema "
            f"version {SCHEMA_VERSION}); analyse into a new --out, or remove it."
        )
    versions = {row.get("schema_version") for row in rows}
    if versions != {SCHEMA_VERSION}:
        raise TableMismatch(
            f"{path} holds rows of schema version {sorted(map(str, versions))}, this command writes version "
            f"{SCHEMA_VERSION}; analyse into a new --out, or remove it."
        )
    if {row["models"] for row in rows} != {models}:
        raise TableMismatch(
            f"{path} was made by another set of models than the ones installed now; their rows would not "
            "compare with new ones. Analyse into a new --out, or reinstall the models it names."
        )
    for row in rows:
        if "://" in row["source"] and row["mtime_ns"] is None:
            if row["sha256"] is None:
                done.failed_urls.add(row["source"])
            else:
                done.urls.add((row["source"], row["sha256"]))
        else:
            done.files.add((row["source"], row["bytes"], row["mtime_ns"]))
    return done


def existing_columns(path: str | Path) -> tuple[str, ...]:
    """The column names the table was written with, in order."""
    fmt = table_format(path)
    if fmt == "parquet":
        return tuple(parquet_dataset(path).schema.names)
    with open(path, encoding="utf-8") as file:
        first = file.readline()
    return tuple(first.rstrip("\n").split(",")) if fmt == "csv" else tuple(json.loads(first))
