"""What a classifier says about one photo, shared by the Places365 scenes and the user's own models:
one shape for both, so the JSON, the page and the CLI read them alike."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SceneScore:
    label: str
    index: int
    probability: float


@dataclass(frozen=True)
class Heatmap:
    label: str
    index: int
    grid: list[list[float]]
    png_base64: str | None = None


def rounded_grid(grid: np.ndarray) -> list[list[float]]:
    """A heatmap grid as JSON-friendly lists, to 4 decimals (plenty for a colour map)."""
    return [[round(float(v), 4) for v in row] for row in grid]
