"""Class activation maps: computing them and rendering them are separate steps.

`class_activation_map` returns the low-resolution grid in [0, 1] (what the page re-renders
interactively); `render_overlay` colours and blends any grid over a photo (`encoding` writes it).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import torch
from PIL import Image

from classifier.engine.encoding import fitted_size

COLORMAP = "jet"  # the colormap of the official Places365 CAM demo


def class_activation_map(features: torch.Tensor, class_weights: torch.Tensor) -> np.ndarray:
    """CAM of one class: its fc weights (C,) dotted with one image's feature map (C, h, w).

    Min-max normalised to [0, 1]; a flat map (no evidence anywhere) is all zeros.
    """
    if features.dim() != 3 or class_weights.dim() != 1 or features.shape[0] != class_weights.shape[0]:
        raise ValueError(
            f"need features (C, h, w) and weights (C,), got {tuple(features.shape)} and {tuple(class_weights.shape)}"
        )
    cam = torch.einsum("c,chw->hw", class_weights.detach().float(), features.detach().float())
    return normalise(cam.numpy())


def linear_maps(features: torch.Tensor, weights: torch.Tensor) -> np.ndarray:
    """One map per row of a linear layer over a feature map: weights (K, C) at every position of
    features (C, h, w), each map min-max normalised to [0, 1]: (K, h, w). The CAM of K classes, or
    the maps of K attributes whose scorer is linear over the pooled features."""
    if features.dim() != 3 or weights.dim() != 2 or features.shape[0] != weights.shape[1]:
        raise ValueError(
            f"need features (C, h, w) and weights (K, C), got {tuple(features.shape)} and {tuple(weights.shape)}"
        )
    maps = torch.einsum("kc,chw->khw", weights.detach().float(), features.detach().float()).numpy()
    return np.stack([normalise(grid) for grid in maps]) if len(maps) else maps


def normalise(grid: np.ndarray) -> np.ndarray:
    low, high = float(grid.min()), float(grid.max())
    if not np.isfinite(low) or not np.isfinite(high) or high - low < 1e-12:
        return np.zeros_like(grid, dtype=np.float32)
    return ((grid - low) / (high - low)).astype(np.float32)


def upsample(grid: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling of a grid to (width, height), values kept in [0, 1]."""
    heat = Image.fromarray(np.asarray(grid, dtype=np.float32), mode="F").resize(size, Image.Resampling.BILINEAR)
    return np.clip(np.asarray(heat), 0.0, 1.0)


@cache
def _colormap_lut() -> np.ndarray:
    from matplotlib import colormaps

    return (colormaps[COLORMAP](np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)


def colorize(heat: np.ndarray) -> np.ndarray:
    """(h, w) floats in [0, 1] -> (h, w, 3) uint8 RGB (`take` is 4x faster than indexing here)."""
    return np.take(_colormap_lut(), np.clip(np.rint(heat * 255), 0, 255).astype(np.uint8), axis=0)


def render_overlay(
    image: Image.Image, grid: np.ndarray | Sequence[Sequence[float]], *, alpha: float = 0.5, max_side: int | None = 512
) -> Image.Image:
    """Blend the coloured heatmap over the photo (downscaled to `max_side` for display); ``grid`` as
    computed, or as an `Analysis` carries it (lists)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be within [0, 1], got {alpha}")
    size = fitted_size(image.size, max_side)
    photo = image if image.mode == "RGB" else image.convert("RGB")  # `resize` and `blend` copy anyway
    if photo.size != size:
        photo = photo.resize(size, Image.Resampling.BILINEAR)
    heat = Image.fromarray(colorize(upsample(grid, size)), mode="RGB")
    return Image.blend(photo, heat, alpha)
