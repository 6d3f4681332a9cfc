"""Turning untrusted bytes into one RGB photo, and that photo into the networks' input tensor.

Limits are checked in order of cost: the bytes here (`image_checks.refuse_unless_acceptable`:
size, signature, polyglots, JPEG scans), then in a decoder child process killed at the deadline
and capped in memory (`decode_sandbox`): the header (dimensions, shape, memory, before any pixel
is decoded), then the decode itself. Every failure is an `ImageRejected` in plain words.

This module imports PyTorch only inside `model_input`, so the decoder children start without it.
"""

from __future__ import annotations

import dataclasses
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, partial
from typing import TYPE_CHECKING

import numpy as np
import pillow_heif
from PIL import ExifTags, Image, UnidentifiedImageError

from classifier.engine.decode_sandbox import DecoderPool
from classifier.engine.encoding import fitted_size
from classifier.engine.errors import ImageRejected
from classifier.engine.image_checks import (
    ACCEPTED_FORMATS,
    ACCEPTED_TEXT,
    ImageLimits,
    check_header,
    refuse_unless_acceptable,
)

if TYPE_CHECKING:
    import torch

EXIF_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
QUARTER_TURNS = {
    Image.Transpose.TRANSPOSE,
    Image.Transpose.ROTATE_270,
    Image.Transpose.TRANSVERSE,
    Image.Transpose.ROTATE_90,
}
STRIP_PIXELS = 1 << 20
"""Source pixels converted to RGB at a time while shrinking: bounds the temporaries to a few MB."""
DEFAULT_LIMITS = ImageLimits()
DECODERS = DecoderPool(f"{__name__}:decode_in_child")
"""This process's decoder children (started by the first decode, forgotten by a fork)."""


@dataclass(frozen=True)
class DecodedImage:
    image: Image.Image
    format: str
    original_size: tuple[int, int]
    decode_ms: float


def _orientation(image: Image.Image) -> Image.Transpose | None:
    """The turn or flip the EXIF orientation tag asks for (the mapping of `ImageOps.exif_transpose`)."""
    return EXIF_TRANSPOSE.get(image.getexif().get(ExifTags.Base.Orientation, 1))


def _oriented_size(size: tuple[int, int], turn: Image.Transpose | None) -> tuple[int, int]:
    """The size after EXIF orientation (5-8 turn the picture a quarter)."""
    return size[::-1] if turn in QUARTER_TURNS else size


def _rgb_converter(image: Image.Image) -> Callable[[Image.Image], Image.Image]:
    """How to turn this image's pixels (any strip of them) into RGB on white: 16-bit and integer
    grey scaled to 8 bits, transparency composited. Decided once for the whole image, so every
    strip is scaled alike."""
    if image.mode.startswith("I;16"):  # Pillow has no extrema for the big-endian I;16B
        return partial(_scaled_grey, peak=65535)
    if image.mode == "I":
        return partial(_scaled_grey, peak=65535 if image.getextrema()[1] > 255 else 255)
    if image.mode in ("P", "RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        return _on_white
    if image.mode == "RGB":
        return _as_is
    return partial(Image.Image.convert, mode="RGB")


def _as_is(strip: Image.Image) -> Image.Image:
    return strip


def _scaled_grey(strip: Image.Image, *, peak: int) -> Image.Image:
    """Integer maths on one strip: v * 255 // peak, the 8-bit value a 16-bit (or int) grey level maps to."""
    levels = np.clip(np.asarray(strip), 0, peak).astype(np.uint32)
    return Image.fromarray((levels * 255 // peak).astype(np.uint8)).convert("RGB")


def _on_white(strip: Image.Image) -> Image.Image:
    rgba = strip.convert("RGBA")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")


def shrink_to_rgb(image: Image.Image, max_side: int) -> Image.Image:
    """A loaded image as RGB of at most ``max_side`` pixels, in bounded memory.

    The old way (whole image to RGB, then `thumbnail`) cost over 1.2 GB for a 7000x7000 16-bit
    PNG: float64 arrays and several full-size RGBA copies. Here the image is taken a strip of
    rows at a time: each strip is converted to RGB and box-averaged by the whole factor that
    `thumbnail` would reduce by (Pillow's ``reducing_gap=2``), then the small result is resized
    like `thumbnail` does. The only full-size buffer is the decoded image itself.
    """
    width, height = image.size
    final = fitted_size(image.size, max_side)
    factor = (max(1, width // (2 * final[0])), max(1, height // (2 * final[1])))
    to_rgb = _rgb_converter(image)
    if to_rgb is _as_is:  # already RGB: reduced whole, or not copied at all
        shrunk = image.reduce(factor) if factor != (1, 1) else image
    else:
        rows = factor[1] * max(1, STRIP_PIXELS // (width * factor[1]))
        shrunk = Image.new("RGB", (-(-width // factor[0]), -(-height // factor[1])))
        for top in range(0, height, rows):
            strip = to_rgb(image.crop((0, top, width, min(height, top + rows))))
            shrunk.paste(strip.reduce(factor) if factor != (1, 1) else strip, (0, top // factor[1]))
    if shrunk.size == final:
        return image.copy() if shrunk is image else shrunk  # a plain image, not tied to the file's bytes
    # The box leaves out what the last, partial block of the reduction adds, as `thumbnail` does.
    return shrunk.resize(final, Image.Resampling.BILINEAR, box=(0, 0, width / factor[0], height / factor[1]))


def decode_image(data: bytes, limits: ImageLimits = DEFAULT_LIMITS) -> DecodedImage:
    """Validate and decode; the first frame of an animation; EXIF orientation applied.

    The entry point every door uses (API, panel, URLs, samples, CLI, training): the bytes are
    checked here, the pixels decoded in a child process (`DECODERS`) that is killed past
    ``limits.decode_timeout_s`` and fails past ``limits.decode_memory_mb``.
    """
    started = time.perf_counter()
    refuse_unless_acceptable(data, limits)
    answer = DECODERS.run(
        data, dataclasses.asdict(limits), timeout_s=limits.decode_timeout_s, memory_mb=limits.decode_memory_mb
    )
    image = _working_image(answer.header, answer.payload, limits)
    original_size = tuple(answer.header["original_size"])
    return DecodedImage(image, answer.header["format"], original_size, (time.perf_counter() - started) * 1000)


def decode_in_process(data: bytes, limits: ImageLimits = DEFAULT_LIMITS) -> DecodedImage:
    """`decode_image` without the child process: no deadline and no memory cap (bench/ compares
    the two; never for a visitor's file)."""
    started = time.perf_counter()
    refuse_unless_acceptable(data, limits)
    image, image_format, original_size = decode_pixels(data, limits)
    return DecodedImage(image, image_format, original_size, (time.perf_counter() - started) * 1000)


def decode_in_child(data: bytes, options: dict) -> tuple[dict, bytes]:
    """What a decoder child runs: the working-size RGB photo as raw bytes and what it is."""
    image, image_format, original_size = decode_pixels(data, ImageLimits(**options))
    return {"format": image_format, "original_size": original_size, "size": image.size}, image.tobytes()


def _working_image(header: dict, pixels: bytes, limits: ImageLimits) -> Image.Image:
    """The child's answer as an image, once it is checked to be what was asked for."""
    width, height = (int(side) for side in header["size"])
    if not (0 < width <= limits.working_max_side and 0 < height <= limits.working_max_side):
        raise ImageRejected("The decoder answered with an image of the wrong size.", code="decoder_crashed")
    if len(pixels) != width * height * 3:
        raise ImageRejected("The decoder answered with the wrong number of pixels.", code="decoder_crashed")
    return Image.frombytes("RGB", (width, height), pixels)


@cache
def _register_heif() -> None:
    """HEIC/HEIF through pillow-heif (libheif); AVIF is Pillow's own. No thumbnails, depth or
    auxiliary images: only the primary picture is ever decoded."""
    pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)


def decode_pixels(data: bytes, limits: ImageLimits) -> tuple[Image.Image, str, tuple[int, int]]:
    """Pillow's part of the decode (run in a decoder child): header checks, then the pixels, shrunk
    to the working size, RGB and upright.

    Any exception Pillow raises on these untrusted bytes is a rejection of the file, not a
    fault of the service: its plugins raise many kinds (OSError, SyntaxError, struct.error...).
    A MemoryError is not: it is the child's memory cap, answered as such (`decode_sandbox`).
    """
    _register_heif()
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
        check_header(image, limits)
        image_format = image.format or "unknown"
        turn = _orientation(image)
        original_size = _oriented_size(image.size, turn)
        image.seek(0)
        # JPEG decodes at 1/2, 1/4 or 1/8 scale when that still covers the working size.
        image.draft(None, (limits.working_max_side, limits.working_max_side))
        image.load()
        image = shrink_to_rgb(image, limits.working_max_side)
        if turn is not None:
            image = image.transpose(turn)
    except (ImageRejected, MemoryError):
        raise
    except Image.DecompressionBombError:
        raise ImageRejected("The image would decompress to too many pixels.", code="decompression_bomb") from None
    except UnidentifiedImageError:
        raise ImageRejected(
            f"The file looks like an image but cannot be read; please send {ACCEPTED_TEXT}.", code="corrupt_image"
        ) from None
    except Exception as exc:
        raise ImageRejected(f"The image is truncated or corrupt ({exc}).", code="corrupt_image") from None
    return image, image_format, original_size


def model_input(image: Image.Image, size: int, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """The official Places365 preprocessing: squash to size x size, scale to [0, 1], normalise."""
    import torch  # here, not at the top: the decoder children import this module and never need it

    photo = image if image.mode == "RGB" else image.convert("RGB")  # `convert` copies even an RGB photo
    resized = photo.resize((size, size), Image.Resampling.BILINEAR)
    array = np.asarray(resized, dtype=np.float32) / 255.0
    array = (array - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return torch.from_numpy(array.transpose(2, 0, 1).copy()).unsqueeze(0)
