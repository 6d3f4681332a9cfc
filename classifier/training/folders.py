"""Image folders as training data: finding the classes, splitting, and decoding once into memory.

A data folder is either `<class>/*.jpg` or `train/`, `val/`, `test/` each holding class
folders. Parts that are missing are carved from the training images by a stratified split with
a fixed seed; the split is written beside the model (relative paths), so a later run, a resumed
run and `evaluate` see exactly the same images in each part (the protocol of splits.py).

Images are decoded as the service decodes them (photos.py), once, into a uint8 tensor: at
100x100 px the whole Intel-scenes set is 260 MB at most, and no epoch pays for JPEG decoding again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from classifier.engine.atomic import write_atomically
from classifier.engine.errors import DatasetError, ImageRejected
from classifier.engine.image_checks import IMAGE_SUFFIXES
from classifier.training.formats import FINETUNE_SPLIT, read_split_file
from classifier.training.photos import squashed_pixels
from classifier.training.splits import PARTS, Split, load_or_make

DEFAULT_RATIOS = (70, 20, 10)


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int


@dataclass(frozen=True)
class FolderSplit(Split[Sample]):
    classes: tuple[str, ...]
    ratios: tuple[int, int, int]


def is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def class_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def scan_classes(root: Path, classes: Sequence[str] | None = None) -> tuple[tuple[str, ...], list[Sample]]:
    """Every image under `root/<class>/`; `classes` fixes the order (and refuses unknown folders)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"The data folder {root} does not exist.", code="dataset_missing")
    folders = class_folders(root)
    names = tuple(classes) if classes is not None else tuple(f.name for f in folders)
    unknown = sorted({f.name for f in folders} - set(names))
    if unknown:
        raise DatasetError(f"{root} has class folders the model does not know: {', '.join(unknown)}.")
    samples = [
        Sample(path, names.index(folder.name))
        for folder in folders
        for path in sorted(folder.rglob("*"))
        if is_image(path)
    ]
    if not samples:
        raise DatasetError(
            f"{root} holds no images in class folders; lay it out as {root}/<class>/*.jpg "
            "or with train/ val/ test/ folders each holding class folders."
        )
    return names, samples


def parse_ratios(text: str) -> tuple[int, int, int]:
    try:
        ratios = tuple(int(part) for part in text.split("/"))
    except ValueError:
        ratios = ()
    if len(ratios) != 3 or any(r < 0 for r in ratios) or ratios[0] <= 0 or ratios[1] <= 0 or sum(ratios) != 100:
        raise ValueError(f"--split must be train/val/test percentages adding up to 100, like 70/20/10; got {text!r}")
    return ratios


def stratified_split(
    samples: Sequence[Sample], ratios: Sequence[int], seed: int, num_classes: int
) -> dict[str, list[Sample]]:
    """Each class shuffled with `seed` and cut by the ratios (at least one val image per class)."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[Sample]] = {p: [] for p in PARTS}
    for label in range(num_classes):
        members = [s for s in samples if s.label == label]
        order = rng.permutation(len(members))
        n_val = max(1, round(len(members) * ratios[1] / sum(ratios))) if ratios[1] else 0
        n_test = round(len(members) * ratios[2] / sum(ratios))
        cut = {"val": order[:n_val], "test": order[n_val : n_val + n_test], "train": order[n_val + n_test :]}
        for part, indices in cut.items():
            parts[part].extend(members[i] for i in indices)
    return parts


def _carve(samples: list[Sample], missing: Sequence[str], ratios: tuple[int, int, int], seed: int, classes) -> dict:
    """Split `samples` (train images) into train plus the missing parts, keeping the ratios between them."""
    wanted = dict(zip(PARTS, ratios, strict=True))
    kept = (wanted["train"], *(wanted[p] if p in missing else 0 for p in ("val", "test")))
    carved = stratified_split(samples, [k * 100 / sum(kept) for k in kept], seed, len(classes))
    return {p: carved[p] for p in ("train", *missing)}


def make_split(data: Path, ratios: tuple[int, int, int], seed: int) -> FolderSplit:
    data = Path(data)
    if (data / "train").is_dir():
        classes, train = scan_classes(data / "train")
        present = {p: scan_classes(data / p, classes)[1] for p in ("val", "test") if (data / p).is_dir()}
        missing = [p for p in ("val", "test") if p not in present and (p == "val" or ratios[2])]
        parts = {"test": [], **present, **_carve(train, missing, ratios, seed, classes)}
    else:
        classes, samples = scan_classes(data)
        parts = stratified_split(samples, ratios, seed, len(classes))
    if len(classes) < 2:
        raise DatasetError(f"{data} has {len(classes)} class folder; a classifier needs at least two.")
    return FolderSplit({p: tuple(parts[p]) for p in PARTS}, seed, classes, ratios)


def write_split(path: Path, split: FolderSplit, data: Path) -> None:
    payload = {
        "format": FINETUNE_SPLIT,
        "data": str(Path(data).resolve()),
        "seed": split.seed,
        "ratios": list(split.ratios),
        "classes": list(split.classes),
        "parts": {part: [[str(s.path.relative_to(data)), s.label] for s in split.parts[part]] for part in PARTS},
    }
    write_atomically(path, json.dumps(payload, indent=0))


def read_split(path: Path, data: Path) -> FolderSplit:
    payload = read_split_file(path, FINETUNE_SPLIT, key="parts", remedy="delete it to make a new split")
    parts = {
        part: tuple(Sample(Path(data) / rel, int(label)) for rel, label in payload["parts"][part]) for part in PARTS
    }
    absent = [s.path for samples in parts.values() for s in samples if not s.path.is_file()]
    if absent:
        raise DatasetError(
            f"{len(absent)} images listed in {path} are missing from {data} (e.g. {absent[0]}); "
            "delete the split file to split the folder afresh."
        )
    return FolderSplit(parts, int(payload["seed"]), tuple(payload["classes"]), tuple(payload["ratios"]))


def load_or_make_split(path: Path, data: Path, ratios: tuple[int, int, int], seed: int) -> tuple[FolderSplit, bool]:
    """The split saved beside the model if there is one (same images every run), else a new one."""
    return load_or_make(path, data, make=lambda: make_split(data, ratios, seed), read=read_split, write=write_split)


# -- pixels --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pixels:
    """A split part decoded into memory: images (N, 3, size, size) uint8 and labels (N,)."""

    images: torch.Tensor
    labels: torch.Tensor
    skipped: tuple[str, ...] = ()


def preload(
    samples: Sequence[Sample], size: int, *, workers: int = 2, desc: str = "decode", progress: bool = True
) -> Pixels:
    """Decode every image once (`workers` threads: Pillow decodes without holding the GIL).
    Unreadable files are skipped and named: a run should not die on 3 broken JPEGs of 10,000."""
    images = np.empty((len(samples), size, size, 3), dtype=np.uint8)
    labels, skipped, kept = [], [], 0

    def decode(sample: Sample) -> np.ndarray | str:
        try:
            return squashed_pixels(sample.path, size)
        except (ImageRejected, OSError) as exc:
            return f"{sample.path}: {getattr(exc, 'message', exc)}"

    with ThreadPoolExecutor(max(1, workers)) as pool:
        decoded = pool.map(decode, samples)
        for sample, result in tqdm(
            zip(samples, decoded, strict=True),
            total=len(samples),
            desc=desc,
            unit="img",
            leave=False,
            disable=not progress,
        ):
            if isinstance(result, str):
                skipped.append(result)
                continue
            images[kept] = result
            labels.append(sample.label)
            kept += 1
    tensor = torch.from_numpy(images[:kept]).permute(0, 3, 1, 2).contiguous()
    return Pixels(tensor, torch.tensor(labels, dtype=torch.long), tuple(skipped))
