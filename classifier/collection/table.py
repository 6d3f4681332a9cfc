"""The results table: one schema, written in chunks as Parquet parts, JSON lines or CSV.

A chunk is written whole or not at all, so a run killed at any moment loses at most the chunk
in progress (`CHUNK_ROWS` photos by default):

- Parquet (`.parquet`): the path is a folder of part files (the layout Ray, Spark and
  `pyarrow.dataset` read as one table); each chunk is one part, written to a hidden temporary
  file and renamed into place.
- JSON lines (`.jsonl`) and CSV (`.csv`): each chunk is appended and synced; a line torn by a
  kill is cut off when the file is opened again.

docs/collections.md lists every column (a test checks it against `SCHEMA`).
"""

from __future__ import annotations

import csv
import io
import json
import os
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from classifier.engine.atomic import fsync_path, write_atomically

CHUNK_ROWS = 64
SCHEMA = pa.schema(
    [
        ("schema_version", pa.int16()),
        ("source", pa.string()),
        ("bytes", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("sha256", pa.string()),
        ("format", pa.string()),
        ("width", pa.int32()),
        ("height", pa.int32()),
        ("scene_labels", pa.list_(pa.string())),
        ("scene_indices", pa.list_(pa.int32())),
        ("scene_probabilities", pa.list_(pa.float64())),
        ("io_label", pa.string()),
        ("io_score", pa.float64()),
        ("attribute_labels", pa.list_(pa.string())),
        ("attribute_scores", pa.list_(pa.float64())),
        ("attribute_source", pa.string()),
        ("attributes_note", pa.string()),
        ("models", pa.string()),
        ("heatmap", pa.string()),
        ("error_code", pa.string()),
        ("error_message", pa.string()),
        ("decode_ms", pa.float64()),
        ("total_ms", pa.float64()),
    ]
)
COLUMNS = tuple(SCHEMA.names)
LIST_COLUMNS = frozenset(f.name for f in SCHEMA if pa.types.is_list(f.type))
FORMATS = {".parquet": "parquet", ".jsonl": "jsonl", ".csv": "csv"}


def table_format(path: str | Path) -> str:
    suffix = Path(str(path)).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"--out must end with .parquet, .jsonl or .csv, not {suffix or 'nothing'}: {path}")
    return FORMATS[suffix]


def to_arrow(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=SCHEMA)


class TableWriter:
    """Appends chunks of rows to the table at ``path`` (created if absent)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.format = table_format(path)
        self.run_id = uuid.uuid4().hex[:12]
        self.parts = 0
        if self.format == "parquet":
            self.path.mkdir(parents=True, exist_ok=True)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            cut_torn_tail(self.path)

    def write(self, rows: list[dict]) -> None:
        if not rows:
            return
        if self.format == "parquet":
            table = to_arrow(rows)
            self.parts += 1
            target = self.path / f"part-{self.run_id}-{self.parts:06d}.parquet"
            write_atomically(target, lambda tmp: pq.write_table(table, tmp))
            return
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        text = _jsonl(rows) if self.format == "jsonl" else _csv(rows, header=fresh)
        with open(self.path, "a", encoding="utf-8", newline="") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        if fresh:
            fsync_path(self.path.parent)


def read_rows(path: str | Path, columns: tuple[str, ...] | None = None) -> list[dict]:
    """The rows a table holds ([] if it does not exist); list columns as lists in every format."""
    fmt = table_format(path)
    if fmt == "parquet":
        dataset = parquet_dataset(path)
        if dataset is None:
            return []
        names = set(dataset.schema.names)
        wanted = [c for c in (columns or dataset.schema.names) if c in names]
        return dataset.to_table(columns=wanted).to_pylist()
    path = Path(path)
    if not path.exists():
        return []
    cut_torn_tail(path)
    with open(path, encoding="utf-8", newline="") as file:
        if fmt == "jsonl":
            rows = [json.loads(line) for line in file if line.strip()]
        else:
            rows = [_from_csv(row) for row in csv.DictReader(file)]
    return [{c: row[c] for c in columns if c in row} for row in rows] if columns else rows


def parquet_dataset(location: str | Path) -> pads.Dataset | None:
    """The Parquet table at a local folder or an object-storage URI (s3://...), None if absent."""
    location = str(location)
    if "://" not in location and not Path(location).exists():
        return None
    try:
        return pads.dataset(location, format="parquet")
    except FileNotFoundError:
        return None


def cut_torn_tail(path: Path) -> None:
    """Drop a last line without its newline: a chunk a kill interrupted mid-write."""
    if not path.exists():
        return
    with open(path, "rb+") as file:
        size = file.seek(0, os.SEEK_END)
        if size == 0:
            return
        step = min(size, 1 << 16)
        while True:
            file.seek(size - step)
            block = file.read(step)
            if block.endswith(b"\n"):
                return
            newline = block.rfind(b"\n")
            if newline >= 0 or step == size:
                file.truncate(size - step + newline + 1)
                return
            step = min(size, step * 2)


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps({c: row[c] for c in COLUMNS}, ensure_ascii=False) + "\n" for row in rows)


def _csv(rows: list[dict], *, header: bool) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if header:
        writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(
            json.dumps(row[c]) if c in LIST_COLUMNS else ("" if row[c] is None else row[c]) for c in COLUMNS
        )
    return buffer.getvalue()


def _from_csv(row: dict) -> dict:
    """CSV cells are text: lists back from JSON, numbers back to numbers, empty cells to None."""
    types = {f.name: f.type for f in SCHEMA}
    out = {}
    for name, value in row.items():
        kind = types.get(name)
        if name in LIST_COLUMNS:
            out[name] = json.loads(value)
        elif value == "":
            out[name] = None
        elif kind is not None and pa.types.is_integer(kind):
            out[name] = int(value)
        elif kind is not None and pa.types.is_floating(kind):
            out[name] = float(value)
        else:
            out[name] = value
    return out
