"""Where a development checkout keeps its test data: ../shared/ beside the repository (the
official label files, real photos and the image data sets). It is never copied into the
repository; tests skip, saying why, where it is absent (tests/support/paths.py)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
LABELS_DIR = SHARED / "places365"
LABEL_FILES = ("categories_places365.txt", "IO_places365.txt", "labels_sunattribute.txt")
