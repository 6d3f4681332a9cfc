"""Class activation maps: computing them and rendering them are separate steps.

`class_activation_map` returns the low-resolution grid in [0, 1] (what the page re-renders
interactively); `render_overlay` colours and blends any grid over a photo.
"""

from __future__ import annotations

import base64
import struct
from functools import cache

import numpy as np
import torch
from PIL import Image
from zlib_ng import zlib_ng

COLORMAP = "jet"  # the colormap of the official Places365 CAM demo
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# width, height, bit depth 8, colour type 2 (RGB), deflate, PNG's filters, no interlace
PNG_RGB_HEADER = struct.Struct(">IIBBBBB")
PNG_AVERAGE = 3  # the row filter that predicts a byte by the mean of its left and upper neighbours


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


def display_size(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    width, height = size
    if not max_side or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def render_overlay(
    image: Image.Image, grid: np.ndarray, *, alpha: float = 0.5, max_side: int | None = 512
) -> Image.Image:
    """Blend the coloured heatmap over the photo (downscaled to `max_side` for display)."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be within [0, 1], got {alpha}")
    size = display_size(image.size, max_side)
    photo = image if image.mode == "RGB" else image.convert("RGB")  # `resize` and `blend` copy anyway
    if photo.size != size:
        photo = photo.resize(size, Image.Resampling.BILINEAR)
    heat = Image.fromarray(colorize(upsample(grid, size)), mode="RGB")
    return Image.blend(photo, heat, alpha)


def png_bytes(image: Image.Image) -> bytes:
    """An RGB image as PNG, fast: every row with PNG's Average filter (numpy, a few uint8 operations
    on the whole image), then Huffman coding alone (LZ77 finds few repeats in a photo), by zlib-ng,
    which writes zlib's stream 4x as fast. Pillow's encoder picks a filter for every row by trying
    them: on a 512 px overlay it took 4-5 times as long, for a file 10% smaller or 1% larger
    depending on the photo (docs/benchmarks.md, "Cost of each output"). Lossless: it decodes to
    the same pixels."""
    if image.mode != "RGB":
        raise ValueError(f"png_bytes encodes RGB images, not {image.mode}")
    rows = np.asarray(image).reshape(image.height, image.width * 3)
    left, up = np.zeros_like(rows), np.zeros_like(rows)
    left[:, 3:], up[1:] = rows[:, :-3], rows[:-1]
    filtered = np.empty((image.height, 1 + rows.shape[1]), dtype=np.uint8)
    filtered[:, 0] = PNG_AVERAGE
    # each byte minus floor((left + up) / 2), computed in uint8 (no overflow), modulo 256 as PNG wants
    np.subtract(rows, (left >> 1) + (up >> 1) + (left & up & 1), out=filtered[:, 1:])
    compressor = zlib_ng.compressobj(1, zlib_ng.DEFLATED, 15, 9, zlib_ng.Z_HUFFMAN_ONLY)
    pixels = compressor.compress(filtered) + compressor.flush()
    header = PNG_RGB_HEADER.pack(image.width, image.height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", pixels) + _png_chunk(b"IEND", b"")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib_ng.crc32(kind + data))


def png_base64(image: Image.Image) -> str:
    return base64.b64encode(png_bytes(image)).decode("ascii")
