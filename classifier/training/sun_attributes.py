"""The SUN Attribute Database as its authors ship it, and the split the project trains on.

The release is two archives, unpacked side by side: `SUNAttributeDB/` with three MATLAB files,
and `images/` with the photos (`images/<letter>/<scene>/<file>.jpg`):

- `images.mat`: cell array `images`, one relative path per image (`a/abbey/sun_aaa....jpg`);
- `attributes.mat`: cell array `attributes`, the 102 attribute names;
- `attributeLabels_continuous.mat`: `labels_cv`, images x attributes, each value the share of
  the three annotators who saw the attribute (0, 1/3, 2/3 or 1);
- `images/`: the photos, under the relative paths of `images.mat`.

`--data` may name the folder holding both, or `SUNAttributeDB/` itself; a copy with `images/`
inside the .mat files' folder is found too.

Every missing or malformed piece is a `DatasetError` that names the file and what was expected,
because a user who downloaded 14,340 photos wants to know which part to fetch again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
import torch

from classifier.engine.atomic import write_atomically
from classifier.engine.errors import DatasetError, ImageRejected
from classifier.training.formats import ATTRIBUTES_SPLIT, read_split_file
from classifier.training.photos import squashed_pixels
from classifier.training.splits import PARTS, Split, load_or_make

IMAGES_MAT = "images.mat"
ATTRIBUTES_MAT = "attributes.mat"
LABELS_MAT = "attributeLabels_continuous.mat"
IMAGE_FOLDER = "images"
RELEASE_FOLDER = "SUNAttributeDB"
DOWNLOAD_HINT = "download the SUN Attribute Database (https://cs.brown.edu/~gmpatter/sunattributes.html) again"

PRESENCE_THRESHOLD = 0.5
"""At least 2 of 3 votes (value > 1/3). Votes are 0, 1/3, 2/3 or 1, so any threshold between 1/3
and 2/3 gives the same answer; 1/2 keeps a 1/3 stored in single precision from counting."""

SPLIT_FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}


@dataclass(frozen=True)
class SunAttributeFiles:
    images_mat: Path
    attributes_mat: Path
    labels_mat: Path
    image_dir: Path

    @classmethod
    def in_folder(
        cls,
        data: Path,
        *,
        images_mat: Path | None = None,
        attributes_mat: Path | None = None,
        labels_mat: Path | None = None,
        image_dir: Path | None = None,
    ) -> SunAttributeFiles:
        """The release found from `data` (see the module's docstring); each piece can be pointed elsewhere."""
        data = Path(data)
        mats = data / RELEASE_FOLDER if not (data / IMAGES_MAT).exists() and (data / RELEASE_FOLDER).is_dir() else data
        if image_dir is None:
            places = (mats / IMAGE_FOLDER, mats.parent / IMAGE_FOLDER)
            image_dir = next((place for place in places if place.is_dir()), places[0])
        return cls(
            Path(images_mat or mats / IMAGES_MAT),
            Path(attributes_mat or mats / ATTRIBUTES_MAT),
            Path(labels_mat or mats / LABELS_MAT),
            Path(image_dir),
        )


@dataclass(frozen=True)
class SunAttributeDatabase:
    image_dir: Path
    paths: tuple[str, ...]
    names: tuple[str, ...]
    votes: np.ndarray
    """images x attributes, the share of annotators who saw each attribute."""

    @property
    def targets(self) -> np.ndarray:
        return binarise(self.votes)


def binarise(votes: np.ndarray) -> np.ndarray:
    """1.0 where at least 2 of the 3 annotators saw the attribute, else 0.0."""
    return (np.asarray(votes) > PRESENCE_THRESHOLD).astype(np.float32)


def _variable(path: Path, key: str, expected: str) -> np.ndarray:
    if not path.is_file():
        raise DatasetError(f"{path} is missing: expected {expected} (variable '{key}'); {DOWNLOAD_HINT}.")
    try:
        content = scipy.io.loadmat(path)
    except NotImplementedError:
        raise DatasetError(
            f"{path} is a MATLAB v7.3 (HDF5) file; re-save it in MATLAB with `save(..., '-v7')` "
            f"or use the original release file."
        ) from None
    except (scipy.io.matlab.MatReadError, ValueError, TypeError, OSError, EOFError) as exc:
        raise DatasetError(f"{path} is not a readable MATLAB file ({exc}); {DOWNLOAD_HINT}.") from exc
    if key not in content:
        found = ", ".join(k for k in content if not k.startswith("__")) or "nothing"
        raise DatasetError(f"{path} has no variable '{key}' (it holds {found}); expected {expected}.")
    return content[key]


def _text(item) -> str | None:
    """One cell of a MATLAB cell array of strings, however loadmat nested it."""
    while isinstance(item, np.ndarray) and item.dtype == object and item.size == 1:
        item = item.item()
    if isinstance(item, str):
        return item
    if isinstance(item, np.ndarray) and item.dtype.kind == "U":
        return "".join(item.ravel().tolist())
    return None


def _strings(path: Path, key: str, expected: str) -> tuple[str, ...]:
    cells = np.asarray(_variable(path, key, expected))
    if cells.dtype != object:
        raise DatasetError(f"{path}: '{key}' is a {cells.dtype} array, expected {expected} (a cell array of text).")
    strings = []
    for number, item in enumerate(cells.ravel(), start=1):
        text = _text(item)
        if not text:
            raise DatasetError(f"{path}: entry {number} of '{key}' is not text; expected {expected}.")
        strings.append(text.strip())
    if not strings:
        raise DatasetError(f"{path}: '{key}' is empty; expected {expected}.")
    return tuple(strings)


def _votes(path: Path, images: int, attributes: int) -> np.ndarray:
    expected = f"an images x attributes ({images} x {attributes}) matrix of vote shares"
    votes = _variable(path, "labels_cv", expected)
    if not np.issubdtype(np.asarray(votes).dtype, np.number):
        raise DatasetError(f"{path}: 'labels_cv' holds {votes.dtype} values; expected {expected}.")
    votes = np.asarray(votes, dtype=np.float64)
    if votes.shape != (images, attributes):
        raise DatasetError(f"{path}: 'labels_cv' is {' x '.join(map(str, votes.shape))}; expected {expected}.")
    if not np.all(np.isfinite(votes)) or votes.min() < 0 or votes.max() > 1:
        raise DatasetError(f"{path}: 'labels_cv' has values outside 0..1; expected {expected}.")
    return votes


def _check_images_exist(image_dir: Path, paths: Sequence[str]) -> None:
    if not image_dir.is_dir():
        raise DatasetError(
            f"The image folder {image_dir} is missing: expected the photos under the paths of images.mat "
            f"(e.g. {image_dir / paths[0]}) in {IMAGE_FOLDER}/ beside the .mat files or beside their folder "
            "(the release's two archives unpacked side by side); pass --images DIR if they are elsewhere."
        )
    missing = [p for p in paths if not (image_dir / p).is_file()]
    if missing:
        raise DatasetError(
            f"{len(missing)} of {len(paths)} images listed in images.mat are not under {image_dir} "
            f"(e.g. {', '.join(missing[:3])}); {DOWNLOAD_HINT}."
        )


def read_database(files: SunAttributeFiles) -> SunAttributeDatabase:
    paths = _strings(files.images_mat, "images", "a cell array of relative image paths")
    names = _strings(files.attributes_mat, "attributes", "a cell array of attribute names")
    votes = _votes(files.labels_mat, len(paths), len(names))
    _check_images_exist(files.image_dir, paths)
    return SunAttributeDatabase(files.image_dir, paths, names, votes)


def name_differences(names: Sequence[str], reference: Sequence[str], reference_label: str) -> list[str]:
    """Plain-words differences between the dataset's attribute names and the service's label file."""
    differences = []
    if len(names) != len(reference):
        differences.append(f"the dataset has {len(names)} attributes, {reference_label} has {len(reference)}")
    for number, (ours, theirs) in enumerate(zip(names, reference, strict=False), start=1):
        if ours != theirs:
            differences.append(f"attribute {number}: dataset '{ours}', {reference_label} '{theirs}'")
    return differences


# The split (the protocol of splits.py) -------------------------------------------------------


def make_split(count: int, seed: int) -> Split[int]:
    """Shuffled 80/10/10 with a fixed seed: the same database and seed always give the same split."""
    order = np.random.default_rng(seed).permutation(count).tolist()
    n_train = round(count * SPLIT_FRACTIONS["train"])
    n_val = round(count * SPLIT_FRACTIONS["val"])
    cuts = {"train": order[:n_train], "val": order[n_train : n_train + n_val], "test": order[n_train + n_val :]}
    return Split({part: tuple(indices) for part, indices in cuts.items()}, seed)


def write_split(path: Path, split: Split[int], database: SunAttributeDatabase) -> None:
    """Image paths rather than indices, so the file stays right if images.mat is re-ordered."""
    payload = {
        "format": ATTRIBUTES_SPLIT,
        "seed": split.seed,
        "images": len(database.paths),
        **{part: [database.paths[i] for i in split.parts[part]] for part in PARTS},
    }
    write_atomically(path, json.dumps(payload, indent=1))


def read_split(path: Path, database: SunAttributeDatabase) -> Split[int]:
    remedy = "delete it (a new split is made) or pass --split with another file name"
    payload = read_split_file(path, ATTRIBUTES_SPLIT, key="train", remedy=remedy)
    index = {p: i for i, p in enumerate(database.paths)}
    parts = {}
    for part in PARTS:
        listed = payload.get(part) or []
        unknown = [p for p in listed if p not in index]
        if unknown:
            raise DatasetError(
                f"Split file {path} lists {len(unknown)} {part} images that this database does not have "
                f"(e.g. {unknown[0]}); it was made for another copy of the data; {remedy}."
            )
        parts[part] = tuple(index[p] for p in listed)
    if sum(map(len, parts.values())) != len(set().union(*map(set, parts.values()))):
        raise DatasetError(f"Split file {path} lists an image in more than one part; {remedy}.")
    return Split(parts, int(payload.get("seed", 0)))


def load_or_make_split(path: Path, database: SunAttributeDatabase, seed: int) -> tuple[Split[int], bool]:
    """The saved split when there is one (the test set must never move), else a new one, saved."""
    make = lambda: make_split(len(database.paths), seed)  # noqa: E731
    return load_or_make(path, database, make=make, read=read_split, write=write_split)


# Photos as tensors -----------------------------------------------------------------------------


class AttributeImages(torch.utils.data.Dataset):
    """Some photos of the database, squashed to `size` as the service does (uint8, not yet
    normalised: augmentation works on the batch), with their binary targets."""

    def __init__(self, database: SunAttributeDatabase, indices: Sequence[int], size: int):
        self.image_dir = database.image_dir
        self.paths = [database.paths[i] for i in indices]
        self.targets = torch.from_numpy(database.targets[list(indices)])
        self.size = size

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, item: int) -> tuple[torch.Tensor, torch.Tensor]:
        path = self.image_dir / self.paths[item]
        try:
            pixels = squashed_pixels(path, self.size)
        except (ImageRejected, OSError) as exc:
            reason = getattr(exc, "message", exc)
            raise DatasetError(f"Image {path} cannot be read ({reason}); {DOWNLOAD_HINT}.") from exc
        return torch.tensor(pixels).permute(2, 0, 1).contiguous(), self.targets[item]
