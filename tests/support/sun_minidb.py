"""A miniature SUN Attribute Database, whose photos show their attributes.

Two layouts: `flat` (the .mat files and `images/` in one folder) and `official` (the release's
two archives unpacked side by side: `SUNAttributeDB/` with the .mat files, `images/` beside it).

Each attribute has a colour; an image shows a disc of that colour exactly when at least 2 of
its 3 (simulated) annotators saw the attribute, so a network can learn the labels from pixels
and a wrong binarisation rule (counting 1 vote of 3) would teach it noise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image, ImageDraw

COLOURS = {
    "fire": (220, 30, 30),
    "foliage": (30, 190, 30),
    "ocean": (30, 40, 220),
    "sunny": (235, 220, 20),
    "flowers": (200, 30, 200),
    "ice": (20, 210, 220),
}
PRESENT_VOTES = (2 / 3, 1.0)
ABSENT_VOTES = (0.0, 1 / 3)


@dataclass(frozen=True)
class MiniDatabase:
    folder: Path
    """What `--data` names: the one folder holding the .mat files and `images/` (or, in the
    official layout, `SUNAttributeDB/` and `images/`)."""
    names: tuple[str, ...]
    paths: tuple[str, ...]
    votes: np.ndarray


def cell_array(strings) -> np.ndarray:
    """An N x 1 object array: what savemat writes as a MATLAB cell array, as in the release files."""
    cells = np.empty((len(strings), 1), dtype=object)
    for row, text in enumerate(strings):
        cells[row, 0] = text
    return cells


def draw_image(present: np.ndarray, names, side: int, rng: np.random.Generator) -> Image.Image:
    image = Image.fromarray(rng.integers(90, 160, (side, side, 3)).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    radius = side // 6
    for column in np.flatnonzero(present):
        x, y = rng.integers(0, side - 2 * radius, 2)
        draw.ellipse([x, y, x + 2 * radius, y + 2 * radius], fill=COLOURS[names[column]])
    return image


def write_mini_database(
    folder: Path,
    *,
    images: int = 150,
    seed: int = 0,
    side: int = 40,
    positive_rate: float = 0.35,
    layout: str = "flat",
) -> MiniDatabase:
    rng = np.random.default_rng(seed)
    names = tuple(COLOURS)
    present = rng.random((images, len(names))) < positive_rate
    votes = np.where(present, rng.choice(PRESENT_VOTES, present.shape), rng.choice(ABSENT_VOTES, present.shape))
    paths = tuple(f"{'abc'[i % 3]}/scene_{i % 5}/sun_{i:05d}.jpg" for i in range(images))
    for path, row in zip(paths, present, strict=True):
        target = folder / "images" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        draw_image(row, names, side, rng).save(target, quality=95)
    mats = {"flat": folder, "official": folder / "SUNAttributeDB"}[layout]
    mats.mkdir(exist_ok=True)
    scipy.io.savemat(mats / "images.mat", {"images": cell_array(paths)})
    scipy.io.savemat(mats / "attributes.mat", {"attributes": cell_array(names)})
    scipy.io.savemat(mats / "attributeLabels_continuous.mat", {"labels_cv": votes})
    return MiniDatabase(folder, names, paths, votes)
