"""Images for the tests, generated on the spot (nothing is stored in the repository): encoded
photos, and a corpus of hostile and awkward files.

`rejected_corpus()` maps a name to (file name, bytes, expected code, expected HTTP status); the
engine tests feed them to `decode_image`, the web tests post them to the API.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import numpy as np
import pillow_heif
from PIL import Image

from classifier.testing.bombs import scan_bomb_jpeg


def image_bytes(image: Image.Image, fmt: str = "JPEG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def raw_png(width: int, height: int, *, bit_depth: int = 8, color_type: int = 0, rows: bytes = b"") -> bytes:
    """A PNG written by hand, so its header can claim anything (sizes, depths) Pillow would not write."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(rows, 9))
        + png_chunk(b"IEND", b"")
    )


def photo(size=(64, 48), color=(200, 80, 40)) -> Image.Image:
    return Image.new("RGB", size, color)


def jpeg(image: Image.Image | None = None, **options) -> bytes:
    return image_bytes(image or photo(), "JPEG", **options)


def zip_archive() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("payload.txt", "hello from inside an archive")
    return buffer.getvalue()


def html_in_png_text_chunk() -> bytes:
    """A valid PNG whose first kilobyte carries a script a browser sniffing the bytes would run."""
    png = image_bytes(photo(), "PNG")
    ihdr_end = 8 + 25
    text = png_chunk(b"tEXt", b"Comment\x00<html><script>alert(1)</script></html>")
    return png[:ihdr_end] + text + png[ihdr_end:]


def zero_bomb_png() -> bytes:
    """8000 x 8000 black pixels (64 megapixels) squeezed into a few kilobytes."""
    return image_bytes(Image.new("1", (8000, 8000), 0), "PNG", optimize=True)


def rejected_corpus() -> dict[str, tuple[str, bytes, str, int]]:
    whole = jpeg(photo((256, 256)))
    return {
        "empty file": ("empty.jpg", b"", "empty_file", 400),
        "truncated jpeg": ("cut.jpg", whole[: len(whole) // 2], "corrupt_image", 400),
        "jpeg signature then garbage": ("fake.jpg", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8, "corrupt_image", 400),
        "png header claiming 100000 x 100000": ("bomb.png", raw_png(100_000, 100_000), "decompression_bomb", 413),
        "all-zero 64 megapixel png": ("zeros.png", zero_bomb_png(), "too_many_pixels", 413),
        "svg": (
            "drawing.svg",
            b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>',
            "unsupported_format",
            400,
        ),
        "html named .jpg": ("photo.jpg", b"<!DOCTYPE html><html><body>hi</body></html>", "unsupported_format", 400),
        "pdf": ("scan.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", "unsupported_format", 400),
        "zip": ("photos.zip", zip_archive(), "unsupported_format", 400),
        "jpeg with a zip appended": ("gifar.jpg", whole + zip_archive(), "polyglot_file", 400),
        "jpeg with a zip and one more byte appended": (
            "gifar1.jpg",
            whole + zip_archive() + b"\0",
            "polyglot_file",
            400,
        ),
        "progressive jpeg of 5000 empty scans": ("scans.jpg", scan_bomb_jpeg(), "too_many_scans", 413),
        "1 x 50,000,000 rgba png": ("tall.png", raw_png(1, 50_000_000, color_type=6), "extreme_aspect_ratio", 400),
        "truncated 1 x 50,000,000 tiff": ("tall.tif", tall_tiff(), "extreme_aspect_ratio", 400),
        "png carrying html": ("script.png", html_in_png_text_chunk(), "polyglot_file", 400),
        "random bytes": (
            "noise.bin",
            bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8)),
            "unsupported_format",
            400,
        ),
        "13 megapixel webp (a quarter of the pixel limit)": ("big.webp", large_webp(), "too_many_pixels", 413),
    }


def large_webp() -> bytes:
    """4000 x 3300 pixels of one colour in 34 KB: under the pixel limit, over WebP's quarter of it
    (Pillow's WebP decoder holds four full-size buffers)."""
    return image_bytes(Image.new("RGB", (4000, 3300), (90, 120, 200)), "WEBP", quality=10, method=0)


def tall_tiff(width: int = 1, height: int = 50_000_000) -> bytes:
    """A little-endian grey TIFF whose header claims ``width`` x ``height`` with one strip of all its
    bytes, of which only 1 KB is there: 1.5 KB that made Pillow allocate 624 MB of row pointers."""
    entries = [  # tag, type (3 short, 4 long), value
        (256, 4, width),
        (257, 4, height),
        (258, 3, 8),
        (259, 3, 1),
        (262, 3, 1),
        (273, 4, 8 + 2 + 12 * 8 + 4),  # the strip starts right after the directory
        (278, 4, height),
        (279, 4, width * height),
    ]
    directory = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHI", tag, kind, 1)
        + struct.pack("<I" if kind == 4 else "<HH", value, *([0] if kind == 3 else []))
        for tag, kind, value in entries
    )
    return b"II*\x00" + struct.pack("<I", 8) + directory + struct.pack("<I", 0) + bytes(1024)


def big_endian_16_bit_tiff(levels: np.ndarray) -> bytes:
    """A grey TIFF stored as I;16B (16 bits a pixel, most significant byte first)."""
    image = Image.frombytes("I;16B", (levels.shape[1], levels.shape[0]), levels.astype(">u2").tobytes())
    return image_bytes(image, "TIFF")


def heif_bytes(image: Image.Image, fmt: str = "HEIF", **options) -> bytes:
    """HEIC through pillow-heif's encoder (x265), AVIF through Pillow's own (libavif)."""
    pillow_heif.register_heif_opener()
    return image_bytes(image, fmt, **options)
