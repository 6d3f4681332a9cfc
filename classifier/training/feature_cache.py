"""Pooled trunk features computed once and kept on disk, for the trainers that train only a head.

A frozen trunk's output for an image never changes, so a second run on the same images,
architecture, weights and input size (another learning rate, more epochs, extra fc layers)
reads the features instead of running the network again. The key hashes everything the
features depend on, including each photo's path, size and mtime: another photo set, trunk or
resolution gets another file, never stale features.

Two ways in: `cached_features` for a split part already decoded into memory (`finetune`'s
linear mode), and `streamed_features` for a whole database embedded batch by batch (the
SUN-attribute head mode: an hour of CPU for 14,340 photos), which saves its progress so an
interrupted extraction resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from classifier.engine.architectures import TransferNet
from classifier.engine.checkpoints import save_atomically
from classifier.training.augment import normalise
from classifier.training.folders import Pixels, Sample

CACHE_FORMAT = "sceneweb-features/2"
"""2: photos are decoded as the service decodes them (EXIF orientation included); /1 files are never read."""
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "sceneweb" / "features"
SAVE_EVERY = 2000
"""Images between two saves of an extraction in progress: a few minutes of CPU at most is lost."""


def file_identity(path: Path) -> list:
    stat = Path(path).stat()
    return [str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns]


def _digest(images: list, *, arch: str, weights: str, size: int, mean, std) -> str:
    weights_file = Path(weights)
    described = {
        "format": CACHE_FORMAT,
        "arch": arch,
        "weights": file_identity(weights_file) if weights_file.is_file() else weights,
        "size": size,
        "mean": list(mean),
        "std": list(std),
        "images": images,
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:32]


def cache_key(samples: Sequence[Sample], *, arch: str, weights: str, size: int, mean, std) -> str:
    """Same images and labels (stored with the features), trunk and preprocessing -> same key."""
    images = [[*file_identity(s.path), s.label] for s in samples]
    return _digest(images, arch=arch, weights=weights, size=size, mean=mean, std=std)


def image_set_key(paths: Sequence[Path], *, arch: str, weights: str, size: int, mean, std) -> str:
    """Same photos, trunk and preprocessing -> same key. Labels stay out: the SUN votes live in
    their own file and can be corrected without making the features stale."""
    images = [file_identity(p) for p in paths]
    return _digest(images, arch=arch, weights=weights, size=size, mean=mean, std=std)


@dataclass(frozen=True)
class Features:
    vectors: torch.Tensor
    labels: torch.Tensor | None
    cached: bool
    """True when read from disk (the trunk did not run)."""


def cache_file(cache_dir: Path, key: str) -> Path:
    return Path(cache_dir) / f"{key}.pt"


def _read(path: Path) -> dict | None:
    if not path.is_file():
        return None
    stored = torch.load(path, map_location="cpu", weights_only=True)
    return stored if isinstance(stored, dict) and stored.get("format") == CACHE_FORMAT else None


def _write(path: Path, vectors: torch.Tensor, labels: torch.Tensor | None) -> None:
    save_atomically({"format": CACHE_FORMAT, "vectors": vectors, "labels": labels}, path)


def compute_features(
    net: TransferNet, pixels: Pixels, mean, std, *, batch_size: int, desc: str = "features", progress: bool = True
) -> torch.Tensor:
    net.eval()
    chunks = []
    with torch.inference_mode():
        for start in tqdm(
            range(0, len(pixels.labels), batch_size), desc=desc, unit="batch", leave=False, disable=not progress
        ):
            chunks.append(net.embed(normalise(pixels.images[start : start + batch_size], mean, std)))
    return torch.cat(chunks) if chunks else torch.empty(0, net.feature_dim)


def cached_features(
    cache_dir: Path, key: str, net: TransferNet, load_pixels, mean, std, *, batch_size: int, progress: bool = True
) -> Features:
    """Features from `cache_dir/<key>.pt`, or computed (from `load_pixels()`) and stored there."""
    path = cache_file(cache_dir, key)
    stored = _read(path)
    if stored is not None:
        return Features(stored["vectors"], stored["labels"], cached=True)
    pixels = load_pixels()
    vectors = compute_features(net, pixels, mean, std, batch_size=batch_size, progress=progress)
    _write(path, vectors, pixels.labels)
    return Features(vectors, pixels.labels, cached=False)


def streamed_features(
    cache_dir: Path,
    key: str,
    embed: Callable[[torch.Tensor], torch.Tensor],
    batches_from: Callable[[int], Iterable[torch.Tensor]],
    count: int,
    *,
    save_every: int = SAVE_EVERY,
    desc: str = "features",
    progress: bool = True,
) -> Features:
    """The features of `count` images in order, from `cache_dir/<key>.pt` or computed by `embed`
    over `batches_from(start)` (the images from number `start` on). Every `save_every` images
    the vectors so far go to `<key>.partial.pt`; a later call starts after them."""
    path = cache_file(cache_dir, key)
    stored = _read(path)
    if stored is not None:
        return Features(stored["vectors"], None, cached=True)
    partial = path.with_name(f"{key}.partial.pt")
    earlier = _read(partial)
    chunks = [earlier["vectors"]] if earlier is not None else []
    done, unsaved = sum(map(len, chunks)), 0
    with torch.inference_mode(), tqdm(total=count, initial=done, desc=desc, unit="img", disable=not progress) as bar:
        for batch in batches_from(done):
            chunks.append(embed(batch).cpu())
            bar.update(len(batch))
            unsaved += len(batch)
            if unsaved >= save_every:
                chunks = [torch.cat(chunks)]
                _write(partial, chunks[0], None)
                unsaved = 0
    vectors = torch.cat(chunks)
    if len(vectors) != count:
        raise RuntimeError(f"{len(vectors)} feature vectors for {count} images; delete {partial} and run again")
    _write(path, vectors, None)
    partial.unlink(missing_ok=True)
    return Features(vectors, None, cached=False)
