"""Data augmentation on whole batches, the one kind both trainers use: flip, zoom (random resized
crop), shift, rotation and colour jitter, each drawn per image.

Geometry is one random affine matrix per image applied with a single `grid_sample` call, and
colour is a per-image scale: on a CPU this costs a small fraction of a training step, where
per-image PIL transforms would cost more than the network at 64 px.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Augmentation:
    flip: bool = True
    zoom: tuple[float, float] = (1.0, 1.35)
    """Magnification range: 1.35 shows about 55% of the image's area, as a random resized crop."""
    shift: float = 0.1
    """Largest shift, as a share of the image's side."""
    rotation: float = 10.0
    """Largest rotation, in degrees."""
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2

    def __call__(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """(N, 3, h, w) floats in [0, 1] -> the same shape, augmented."""
        return self.colour(self.geometry(images, generator), generator)

    def geometry(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        n = images.shape[0]

        def uniform(low: float, high: float) -> torch.Tensor:
            return low + (high - low) * torch.rand(n, generator=generator)

        angle = uniform(-self.rotation, self.rotation) * math.pi / 180
        scale = 1.0 / uniform(*self.zoom)
        flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if self.flip else torch.ones(n)
        # The sampling grid maps output to input: a scale below 1 reads a smaller window (zoom in);
        # the shift stays within what the zoom leaves, so borders rarely show.
        room = (1 - scale).clamp(min=0) + self.shift
        cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
        theta = torch.stack(
            [
                torch.stack([cos * flip, -sin, uniform(-1, 1) * room], dim=1),
                torch.stack([sin * flip, cos, uniform(-1, 1) * room], dim=1),
            ],
            dim=1,
        )
        grid = F.affine_grid(theta, list(images.shape), align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    def colour(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        n = images.shape[0]

        def factor(spread: float) -> torch.Tensor:
            return (1 + spread * (2 * torch.rand(n, 1, 1, 1, generator=generator) - 1)).to(images.dtype)

        images = images * factor(self.brightness)
        mean = images.mean(dim=(1, 2, 3), keepdim=True)
        images = (images - mean) * factor(self.contrast) + mean
        grey = images.mean(dim=1, keepdim=True)
        images = (images - grey) * factor(self.saturation) + grey
        return images.clamp(0, 1)


CROP_AND_FLIP = Augmentation(
    zoom=(1.0, 1 / math.sqrt(0.08)), shift=0.0, rotation=0.0, brightness=0.0, contrast=0.0, saturation=0.0
)
"""The SUN-attribute reference study's augmentation: a random crop of 8% to all of the photo's
area (torchvision's RandomResizedCrop scales; square, as the photo is squashed first) resized
to the input size, and a horizontal flip. `finetune` uses the default `Augmentation()`."""


def normalise(images: torch.Tensor, mean, std) -> torch.Tensor:
    """uint8 or [0, 1] float (N, 3, h, w) -> the network's normalised input."""
    if images.dtype == torch.uint8:
        images = images.float().div_(255)
    mean = torch.tensor(mean, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(std, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images - mean) / std
