"""Pooled trunk features of a split part, computed once and kept on disk.

The linear mode trains only the head, so the frozen trunk's output for an image never changes:
a second run on the same images, architecture, weights and input size (another learning rate,
more epochs, extra fc layers) reads the features instead of running the network again.
The key hashes everything the features depend on, including each file's size and mtime.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from classifier.engine.architectures import TransferNet
from classifier.engine.checkpoints import save_atomically
from classifier.training.augment import normalise
from classifier.training.folders import Pixels, Sample

CACHE_FORMAT = "sceneweb-features/1"


def file_identity(path: Path) -> list:
    stat = Path(path).stat()
    return [str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns]


def cache_key(samples: Sequence[Sample], *, arch: str, weights: str, size: int, mean, std) -> str:
    """Same images, trunk and preprocessing -> same key; any change -> a new key."""
    weights_file = Path(weights)
    described = {
        "format": CACHE_FORMAT,
        "arch": arch,
        "weights": file_identity(weights_file) if weights_file.is_file() else weights,
        "size": size,
        "mean": list(mean),
        "std": list(std),
        "images": [[*file_identity(s.path), s.label] for s in samples],
    }
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Features:
    vectors: torch.Tensor
    labels: torch.Tensor
    cached: bool
    """True when read from disk (the trunk did not run)."""


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
    path = Path(cache_dir) / f"{key}.pt"
    if path.is_file():
        stored = torch.load(path, map_location="cpu", weights_only=True)
        if stored.get("format") == CACHE_FORMAT:
            return Features(stored["vectors"], stored["labels"], cached=True)
    pixels = load_pixels()
    vectors = compute_features(net, pixels, mean, std, batch_size=batch_size, progress=progress)
    save_atomically({"format": CACHE_FORMAT, "vectors": vectors, "labels": pixels.labels}, path)
    return Features(vectors, pixels.labels, cached=False)
