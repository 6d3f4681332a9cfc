"""Images out: the one size rule for shrinking a picture, and the encoders every presenter uses.

The gallery's thumbnails, the panel's display copies and strip, the collection report, the
heatmap overlays of the API and the CLI all come through here, so a photo is always shrunk by
the same rule and written by the same encoder settings. No PyTorch: the decoder children
import this module (through `imaging`).
"""

from __future__ import annotations

import base64
import io
import struct

import numpy as np
from PIL import Image
from zlib_ng import zlib_ng

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# width, height, bit depth 8, colour type 2 (RGB), deflate, PNG's filters, no interlace
PNG_RGB_HEADER = struct.Struct(">IIBBBBB")
PNG_AVERAGE = 3  # the row filter that predicts a byte by the mean of its left and upper neighbours


def fitted_size(size: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """``size`` scaled to fit ``max_side`` (never enlarged; None keeps it), keeping the aspect ratio:
    the working size of a decoded photo and the display size of an overlay."""
    width, height = size
    if not max_side or max(width, height) <= max_side:
        return width, height
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def jpeg_bytes(image: Image.Image, quality: int = 82) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def thumbnail(image: Image.Image, side: int) -> Image.Image:
    """A copy at most ``side`` pixels across (the picture itself is left as it is): the gallery's,
    the strip's, the report's and the panel's display copies."""
    small = image.copy()
    small.thumbnail((side, side), Image.Resampling.BILINEAR)
    return small


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


def data_uri(data: bytes, mime: str) -> str:
    """Bytes the page or a report shows inline (``data:image/jpeg;base64,...``)."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
