"""Paths into ../shared/, the real test data beside the repository, or a clean skip."""

from __future__ import annotations

from pathlib import Path

import pytest

from classifier.testing.paths import SHARED


def shared_path(*parts: str) -> Path:
    """A path in ../shared/, or a clean skip saying what is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: these tests read real data from ../shared/ beside the repository")
    return path
