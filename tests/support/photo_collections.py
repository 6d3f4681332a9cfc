"""Photo folders for the collection tests (real 100x100 photos of ../shared/datasets/intel-scenes,
copied into a temporary folder) and the comparison of two results tables."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.paths import shared_path

VARYING = ("decode_ms", "total_ms")
"""Timings: the only columns two runs over the same photos may disagree on."""


def real_photos(count: int) -> list[Path]:
    """The first ``count`` intel-scenes photos, taken round-robin from its six classes."""
    classes = sorted(p for p in shared_path("datasets", "intel-scenes", "train").iterdir() if p.is_dir())
    per_class = [sorted(c.glob("*.jpg")) for c in classes]
    photos = [photo for group in zip(*per_class, strict=False) for photo in group]
    return photos[:count]


def photo_folder(folder: Path, count: int, start: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for index, photo in enumerate(real_photos(start + count)[start:]):
        shutil.copyfile(photo, folder / f"{start + index:04d}-{photo.parent.name}.jpg")
    return folder


def comparable(rows: list[dict]) -> dict[str, dict]:
    """Rows by source, without timings."""
    return {row["source"]: {k: v for k, v in row.items() if k not in VARYING} for row in rows}


def assert_same_rows(rows: list[dict], expected: list[dict]) -> None:
    """Exactly one row per photo each, and equal values (scores to 1e-5: thread counts may differ)."""
    assert len({r["source"] for r in rows}) == len(rows), "a photo has two rows"
    got, want = comparable(rows), comparable(expected)
    assert sorted(got) == sorted(want)
    for source, row in want.items():
        for column, value in row.items():
            if column in ("scene_probabilities", "attribute_scores", "io_score") and value is not None:
                assert got[source][column] == pytest.approx(value, abs=1e-5), (source, column)
            else:
                assert got[source][column] == value, (source, column)
