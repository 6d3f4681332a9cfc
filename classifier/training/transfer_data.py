"""What `finetune`'s epochs feed: decoded photos (augmented when training) or cached trunk features.

Both kinds answer `count(part)` and `batches(part, batch_size, generator)`: a generator means
training (shuffled, augmented, no batch of one image), none means scoring in order.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import torch

from classifier.engine.architectures import Architecture, TransferNet
from classifier.training.augment import Augmentation, normalise
from classifier.training.feature_cache import cache_key, cached_features
from classifier.training.folders import FolderSplit, Pixels, preload
from classifier.training.loop import Log
from classifier.training.splits import PARTS


def _order(count: int, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randperm(count, generator=generator) if generator else torch.arange(count)


class PixelBatches:
    """Batches of decoded images, augmented (training only), normalised for the network."""

    def __init__(self, parts: dict[str, Pixels], mean, std, augmentation: Augmentation | None):
        self.parts, self.mean, self.std, self.augmentation = parts, mean, std, augmentation

    def count(self, part: str) -> int:
        return len(self.parts[part].labels)

    def batches(self, part: str, batch_size: int, generator: torch.Generator | None = None) -> Iterator:
        pixels = self.parts[part]
        order = _order(self.count(part), generator)
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            if generator is not None and len(chosen) < 2:
                continue  # BatchNorm cannot train on a single image
            images = pixels.images[chosen].float().div_(255)
            if generator is not None and self.augmentation is not None:
                images = self.augmentation(images, generator)
            yield normalise(images, self.mean, self.std), pixels.labels[chosen]


class FeatureBatches:
    """Batches of cached trunk features (the linear mode)."""

    def __init__(self, parts: dict[str, tuple[torch.Tensor, torch.Tensor]]):
        self.parts = parts

    def count(self, part: str) -> int:
        return len(self.parts[part][1])

    def batches(self, part: str, batch_size: int, generator: torch.Generator | None = None) -> Iterator:
        vectors, labels = self.parts[part]
        order = _order(len(labels), generator)
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            yield vectors[chosen], labels[chosen]


class FeatureSource(NamedTuple):
    """The frozen trunk whose features the linear mode trains on, and where they are cached."""

    trunk: TransferNet
    weights: str
    """The starting weights as the cache key names them (a file by its path, size and date)."""
    cache_dir: Path
    batch_size: int


def prepare_data(
    split: FolderSplit,
    spec: Architecture,
    *,
    size: int,
    workers: int,
    augment: bool,
    features_of: FeatureSource | None,
    log: Log,
    progress: bool,
) -> PixelBatches | FeatureBatches:
    """Every present part of `split` decoded at `size`, or, given `features_of`, its trunk's features
    of them (read from the cache, or computed and cached)."""
    present = [p for p in PARTS if split.parts[p]]

    def pixels(part: str) -> Pixels:
        loaded = preload(split.parts[part], size, workers=workers, desc=f"decode {part}", progress=progress)
        for line in loaded.skipped[:5]:
            log(f"skipped unreadable image {line}")
        if len(loaded.skipped) > 5:
            log(f"... and {len(loaded.skipped) - 5} more unreadable images skipped")
        return loaded

    if features_of is None:
        augmentation = Augmentation() if augment else None
        return PixelBatches({p: pixels(p) for p in present}, spec.mean, spec.std, augmentation)
    source, features = features_of, {}
    for part in present:
        key = cache_key(
            split.parts[part], arch=spec.name, weights=source.weights, size=size, mean=spec.mean, std=spec.std
        )
        found = cached_features(
            source.cache_dir,
            key,
            source.trunk,
            lambda part=part: pixels(part),
            spec.mean,
            spec.std,
            batch_size=source.batch_size,
            progress=progress,
        )
        log(f"{part} features {'read from' if found.cached else 'computed into'} {source.cache_dir / key}.pt")
        features[part] = (found.vectors, found.labels)
    if augment:
        log("linear mode: augmentation is off (the cached features are of the plain images)")
    return FeatureBatches(features)
