"""Small image folders for the transfer-learning tests: slices of the real data sets in ../shared/
(linked, never copied into the repository) and generated colour images."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from tests.support.paths import shared_path


def dataset_slice(name: str, folder: Path, per_class: int, classes: int | None = None) -> Path:
    """The first `per_class` photos of each class of ../shared/datasets/<name>/train, as links."""
    source = shared_path("datasets", name, "train")
    for class_dir in sorted(p for p in source.iterdir() if p.is_dir())[:classes]:
        target = folder / class_dir.name
        target.mkdir(parents=True)
        for photo in sorted(class_dir.glob("*.jpg"))[:per_class]:
            (target / photo.name).symlink_to(photo)
    return folder


COLOURS = {"red": (200, 30, 30), "green": (30, 180, 40), "blue": (30, 40, 200)}


def colour_folder(folder: Path, per_class: int = 6, size: int = 24) -> Path:
    """Three trivially separable classes of generated JPEGs (plain colours with a little noise)."""
    for index, (name, rgb) in enumerate(COLOURS.items()):
        (folder / name).mkdir(parents=True)
        for i in range(per_class):
            shade = tuple(min(255, c + 5 * i + index) for c in rgb)
            Image.new("RGB", (size, size), shade).save(folder / name / f"{i:03d}.jpg")
    return folder
