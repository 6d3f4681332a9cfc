"""Turning untrusted bytes into one RGB photo, and that photo into the networks' input tensor.

Limits are checked in order of cost: byte count, then the header's pixel count (before any
pixel is decoded), then the decode itself. Every failure is an `ImageRejected` in plain words.
"""

from __future__ import annotations

import io
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import torch
from PIL import ExifTags, Image, UnidentifiedImageError

from classifier.engine.errors import ImageRejected

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
ACCEPTED_TEXT = "JPEG, PNG, WebP, GIF, BMP or TIFF"

# How each accepted format's files begin. Pillow is only ever asked to open these.
IMAGE_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)

# Things people send instead of a photo, named in the refusal so they know what went wrong.
NOT_IMAGE_SIGNATURES = (
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
)
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
WEBP_COST = 4
"""Pillow decodes every WebP through libwebp's animation decoder, which holds about four
full-size RGBA buffers (759 MB at 7000x7000, where PNG RGBA takes 232 MB; docs/benchmarks.md,
"Decoding memory"), and offers no reduced-size decoding: so WebP gets a quarter of the pixel limit."""
MARKUP_WORDS = ((b"<svg", "an SVG drawing"), (b"<!doctype html", "an HTML page"), (b"<html", "an HTML page"))


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 50_000_000
    working_max_side: int = 1024
    """Larger photos are downscaled while decoding: the networks see 224 px and the heatmap
    overlay at most 512 px (`cam.render_overlay`); 1024 leaves a margin over both."""


@dataclass(frozen=True)
class DecodedImage:
    image: Image.Image
    format: str
    original_size: tuple[int, int]
    decode_ms: float


def sniff_image_format(head: bytes) -> str | None:
    """The accepted format whose signature ``head`` starts with, or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    return next((fmt for signature, fmt in IMAGE_SIGNATURES if head.startswith(signature)), None)


def describe_non_image(data: bytes) -> str | None:
    """What a rejected file most likely is (PDF, archive, SVG, HTML), to say so in the refusal."""
    found = next((what for signature, what in NOT_IMAGE_SIGNATURES if data.startswith(signature)), None)
    if found is None:
        head = data[:1024].lstrip().lower()
        found = next((what for word, what in MARKUP_WORDS if word in head), None)
    return found


def hidden_payload(data: bytes) -> str | None:
    """A second file riding along with the image (a polyglot): a ZIP directory at the end,
    or a PDF or markup header near the start where readers and browsers look for one."""
    end_of_zip = data.rfind(b"PK\x05\x06", max(0, len(data) - 65_557))
    if end_of_zip >= 0 and len(data) - end_of_zip >= 22:
        (comment_length,) = struct.unpack_from("<H", data, end_of_zip + 20)
        if end_of_zip + 22 + comment_length == len(data):
            return "a ZIP archive"
    head = data[:1024].lower()
    if b"%pdf-" in head:
        return "a PDF document"
    return next((what for word, what in (*MARKUP_WORDS, (b"<script", "a script")) if word in head), None)


def _refuse_unless_acceptable(data: bytes, limits: ImageLimits) -> None:
    """Everything that can be decided from the bytes alone, cheapest first, before Pillow sees them."""
    if not data:
        raise ImageRejected("The file is empty.", code="empty_file")
    if len(data) > limits.max_bytes:
        raise ImageRejected(
            f"The file is {len(data) / 2**20:.1f} MB; the limit is {limits.max_bytes / 2**20:.0f} MB.",
            code="file_too_large",
        )
    if sniff_image_format(data) is None:
        what = describe_non_image(data)
        raise ImageRejected(
            f"This is {what}, not a photo; please send {ACCEPTED_TEXT}."
            if what
            else f"This is not an image format we accept; please send {ACCEPTED_TEXT}.",
            code="unsupported_format",
        )
    payload = hidden_payload(data)
    if payload:
        raise ImageRejected(
            f"This file is an image and {payload} at once; please send a plain image.", code="polyglot_file"
        )


def _check_header(image: Image.Image, limits: ImageLimits) -> None:
    """The header's dimensions, before a single pixel is decoded."""
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageRejected("The image has no pixels.", code="corrupt_image")
    if width * height > limits.max_pixels:
        raise ImageRejected(
            f"The image is {width}x{height} pixels; the limit is {limits.max_pixels / 1e6:.0f} megapixels.",
            code="too_many_pixels",
        )
    if image.format == "WEBP" and width * height > limits.max_pixels // WEBP_COST:
        raise ImageRejected(
            f"The WebP image is {width}x{height} pixels; WebP takes {WEBP_COST} times the memory of other formats "
            f"to decode, so its limit is {limits.max_pixels / WEBP_COST / 1e6:.1f} megapixels. "
            "Please send it as JPEG or PNG, or smaller.",
            code="too_many_pixels",
        )
    if width * height > (Image.MAX_IMAGE_PIXELS or width * height):
        # Pillow only warns below twice its limit; we treat its warning threshold as a refusal.
        raise ImageRejected("The image would decompress to too many pixels.", code="decompression_bomb")


def _orientation(image: Image.Image) -> Image.Transpose | None:
    """The turn or flip the EXIF orientation tag asks for (the mapping of `ImageOps.exif_transpose`)."""
    return EXIF_TRANSPOSE.get(image.getexif().get(ExifTags.Base.Orientation, 1))


def _oriented_size(size: tuple[int, int], turn: Image.Transpose | None) -> tuple[int, int]:
    """The size after EXIF orientation (5-8 turn the picture a quarter)."""
    return size[::-1] if turn in QUARTER_TURNS else size


def working_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """``size`` scaled to fit ``max_side`` (never enlarged), keeping the aspect ratio."""
    width, height = size
    if max(width, height) <= max_side:
        return size
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _rgb_converter(image: Image.Image) -> Callable[[Image.Image], Image.Image]:
    """How to turn this image's pixels (any strip of them) into RGB on white: 16-bit and integer
    grey scaled to 8 bits, transparency composited. Decided once for the whole image, so every
    strip is scaled alike."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        _, high = image.getextrema()
        peak = 65535 if image.mode.startswith("I;16") or high > 255 else 255
        return partial(_scaled_grey, peak=peak)
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
    final = working_size(image.size, max_side)
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


def decode_image(data: bytes, limits: ImageLimits = ImageLimits()) -> DecodedImage:
    """Validate and decode; the first frame of an animation; EXIF orientation applied.

    Any exception Pillow raises on these untrusted bytes is a rejection of the file, not a
    fault of the service: its plugins raise many kinds (OSError, SyntaxError, struct.error...).
    """
    started = time.perf_counter()
    _refuse_unless_acceptable(data, limits)
    try:
        image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
        _check_header(image, limits)
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
    except ImageRejected:
        raise
    except Image.DecompressionBombError:
        raise ImageRejected("The image would decompress to too many pixels.", code="decompression_bomb") from None
    except UnidentifiedImageError:
        raise ImageRejected(
            f"The file looks like an image but cannot be read; please send {ACCEPTED_TEXT}.", code="corrupt_image"
        ) from None
    except Exception as exc:
        raise ImageRejected(f"The image is truncated or corrupt ({exc}).", code="corrupt_image") from None
    return DecodedImage(image, image_format, original_size, (time.perf_counter() - started) * 1000)


def model_input(image: Image.Image, size: int, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """The official Places365 preprocessing: squash to size x size, scale to [0, 1], normalise."""
    resized = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    array = np.asarray(resized, dtype=np.float32) / 255.0
    array = (array - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    return torch.from_numpy(array.transpose(2, 0, 1).copy()).unsqueeze(0)
