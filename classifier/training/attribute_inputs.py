"""What the SUN-attribute epochs feed, in each mode: photos to the whole DenseNet-201 (`full`),
or the frozen trunk's cached pooled features to its classifier alone (`head`).

`options` below is the run's `attribute_training.TrainingOptions` (not imported: that module
imports this one)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset

from classifier.engine.acceleration import fused
from classifier.engine.catalogue import IMAGENET_MEAN, IMAGENET_STD
from classifier.training.augment import CROP_AND_FLIP, normalise
from classifier.training.feature_cache import cache_file, image_set_key, streamed_features
from classifier.training.loop import Log
from classifier.training.sun_attributes import AttributeImages, SunAttributeDatabase


@dataclass(frozen=True)
class Inputs:
    """Batches for one mode, and the part of the DenseNet they feed."""

    part_of: Callable[[nn.Module], nn.Module]
    loader: Callable[[Sequence[int], torch.Generator | None], Iterable[tuple[torch.Tensor, torch.Tensor]]]
    """Batches of the split part given by indices; shuffled and augmented when a generator is given."""


def batches(dataset: Dataset, batch_size: int, generator=None, *, workers: int = 0, pin: bool = False) -> DataLoader:
    """Shuffled, and without a ragged last batch (BatchNorm cannot train on one image), exactly
    when a generator is given (training)."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=generator is not None,
        drop_last=generator is not None,
        generator=generator,
        num_workers=workers,
        pin_memory=pin,
    )


class PhotoBatches:
    """Batches of squashed photos from `loader`, augmented (when given `generator`: training) as
    whole batches, then normalised: the service's preprocessing, plus augmentation in training."""

    def __init__(self, loader: DataLoader, generator: torch.Generator | None, augment: bool):
        self.loader = loader
        self.augmentation = CROP_AND_FLIP if augment and generator is not None else None
        # Drawn from the shuffling generator: the epoch's seed decides the crops too, whatever the workers.
        seed = int(torch.randint(2**62, (1,), generator=generator)) if generator is not None else 0
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for images, targets in self.loader:
            images = images.float().div_(255)
            if self.augmentation is not None:
                images = self.augmentation(images, self.generator)
            yield normalise(images, IMAGENET_MEAN, IMAGENET_STD), targets


def photo_inputs(database: SunAttributeDatabase, options, device: torch.device) -> Inputs:
    def loader(indices: Sequence[int], generator: torch.Generator | None) -> PhotoBatches:
        images = AttributeImages(database, indices, options.image_size)
        pin = device.type == "cuda"
        loaded = batches(images, options.batch_size, generator, workers=options.workers, pin=pin)
        return PhotoBatches(loaded, generator, options.augment)

    return Inputs(lambda net: net, loader)


def pooled_features(trunk: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """What torchvision's DenseNet hands its classifier from `trunk` = `net.features`:
    `net(x) == net.classifier(pooled_features(net.features, x))`."""
    return torch.flatten(functional.adaptive_avg_pool2d(functional.relu(trunk(images)), 1), 1)


def database_features(
    net: nn.Module,
    database: SunAttributeDatabase,
    options,
    device: torch.device,
    *,
    cache_dir: Path,
    log: Log,
    progress: bool,
) -> torch.Tensor:
    """The frozen trunk's pooled features of every photo, in database order: read from the cache,
    or computed (resuming an interrupted extraction) and cached. The key covers the photos (path,
    size, mtime), the trunk's weights and the input size; random weights count by their seed."""
    weights = f"none (seed {options.seed})" if options.weights == "none" else options.weights
    key = image_set_key(
        [database.image_dir / p for p in database.paths],
        arch="densenet201",
        weights=weights,
        size=options.image_size,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
    )
    all_photos = AttributeImages(database, range(len(database.paths)), options.image_size)
    trunk = fused(net.features.eval())  # the service's default mode: a quarter faster, the same features to 1e-5

    def batches_from(start: int):
        rest = Subset(all_photos, range(start, len(all_photos)))
        for images, _ in batches(rest, options.batch_size, workers=options.workers, pin=device.type == "cuda"):
            yield normalise(images.to(device, non_blocking=True), IMAGENET_MEAN, IMAGENET_STD)

    started = time.perf_counter()
    found = streamed_features(
        cache_dir,
        key,
        lambda images: pooled_features(trunk, images),
        batches_from,
        len(database.paths),
        desc="trunk features",
        progress=progress,
    )
    seconds = time.perf_counter() - started
    where = cache_file(cache_dir, key)
    if found.cached:
        log(f"trunk features of {len(found.vectors)} photos read from {where}")
    else:
        log(f"trunk features of {len(found.vectors)} photos computed into {where} in {seconds:.0f} s")
    return found.vectors


def feature_inputs(vectors: torch.Tensor, database: SunAttributeDatabase, batch_size: int) -> Inputs:
    targets = torch.from_numpy(database.targets)

    def loader(indices: Sequence[int], generator: torch.Generator | None) -> DataLoader:
        rows = torch.as_tensor(list(indices), dtype=torch.long)
        return batches(TensorDataset(vectors[rows], targets[rows]), batch_size, generator)

    return Inputs(lambda net: net.classifier, loader)
