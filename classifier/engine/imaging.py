"""Turning untrusted bytes into one RGB photo, and that photo into the networks' input tensor.

Limits are checked in order of cost: byte count, then the header's pixel count (before any
pixel is decoded), then the decode itself. Every failure is an `ImageRejected` in plain words.
"""

from __future__ import annotations

import io
import struct
import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from classifier.engine.errors import ImageRejected

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
ACCEPTED_TEXT = "JPEG, PNG, WebP, GIF, BMP or TIFF"


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 50_000_000
    working_max_side: int = 1024
    """Larger photos are downscaled right after decoding: the networks see 224 px anyway."""


@dataclass(frozen=True)
class DecodedImage:
    image: Image.Image
    format: str
    original_size: tuple[int, int]
    decode_ms: float


def _open(data: bytes, limits: ImageLimits) -> Image.Image:
    if not data:
        raise ImageRejected("The file is empty.", code="empty_file")
    if len(data) > limits.max_bytes:
        raise ImageRejected(
            f"The file is {len(data) / 2**20:.1f} MB; the limit is {limits.max_bytes / 2**20:.0f} MB.",
            code="file_too_large",
            status=413,
        )
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError:
        raise ImageRejected(
            f"This is not an image format we accept; please send {ACCEPTED_TEXT}.", code="unsupported_format"
        ) from None
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageRejected("The image has no pixels.", code="corrupt_image")
    if width * height > limits.max_pixels:
        raise ImageRejected(
            f"The image is {width}x{height} pixels; the limit is {limits.max_pixels / 1e6:.0f} megapixels.",
            code="too_many_pixels",
            status=413,
        )
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB on white: transparency composited, 16-bit and CMYK scaled and converted properly."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / peak * 255.0, 0, 255).astype(np.uint8), mode="L")
    if image.mode == "P":
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def decode_image(data: bytes, limits: ImageLimits = ImageLimits()) -> DecodedImage:
    """Validate and decode; the first frame of an animation; EXIF orientation applied."""
    started = time.perf_counter()
    image = _open(data, limits)
    image_format = image.format or "unknown"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.seek(0)
            image.load()
            image = ImageOps.exif_transpose(image) or image
            original_size = image.size
            image = _to_rgb(image)
            image.thumbnail((limits.working_max_side, limits.working_max_side), Image.Resampling.BILINEAR)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ImageRejected(
            "The image would decompress to too many pixels.", code="decompression_bomb", status=413
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as exc:
        raise ImageRejected(f"The image is truncated or corrupt ({exc}).", code="corrupt_image") from None
    return DecodedImage(image, image_format, original_size, (time.perf_counter() - started) * 1000)


def model_input(image: Image.Image, size: int, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """The official Places365 preprocessing: squash to size x size, scale to [0, 1], normalise."""
    resized = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    array = np.asarray(resized, dtype=np.float32) / 255.0
    array = (array - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return torch.from_numpy(array.transpose(2, 0, 1).copy()).unsqueeze(0)
