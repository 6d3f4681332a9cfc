"""The results table's schema: one definition (`table.SCHEMA`), documented column by column, and
the same columns in every format."""

from __future__ import annotations

import csv
import io
import json
import re

import pyarrow.dataset as pads
from django.core.management import call_command

from classifier.collection.table import COLUMNS, SCHEMA
from classifier.testing.paths import REPO
from tests.support.photo_collections import photo_folder

DOC = REPO / "docs" / "collections.md"


def documented_columns() -> list[tuple[str, str]]:
    return re.findall(r"^\| `(\w+)` \| `([^`]+)` \|", DOC.read_text(), flags=re.MULTILINE)


def test_the_docs_list_every_column_with_its_type_in_order():
    assert documented_columns() == [(field.name, str(field.type)) for field in SCHEMA]


def test_every_format_holds_exactly_the_schema_columns(use_models, fresh_models_dir, tmp_path):
    use_models(fresh_models_dir)
    folder = photo_folder(tmp_path / "photos", 1)
    for suffix in ("parquet", "jsonl", "csv"):
        call_command(
            "analyze",
            str(folder),
            "--out",
            str(tmp_path / f"t.{suffix}"),
            "--workers",
            "1",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
    assert pads.dataset(tmp_path / "t.parquet").schema.remove_metadata() == SCHEMA
    assert tuple(json.loads((tmp_path / "t.jsonl").read_text().splitlines()[0])) == COLUMNS
    assert tuple(next(csv.reader(io.StringIO((tmp_path / "t.csv").read_text())))) == COLUMNS
