"""What an image must pass before its pixels are decoded, and the limits it is held to.

Two stages, cheapest first. `refuse_unless_acceptable` looks at the bytes alone (size, the
format's signature, a second file riding along, a JPEG's scan count) in the calling process.
`check_header` looks at what Pillow read from the header (dimensions, shape, the memory the
decode will allocate) in the decoder child (`decode_sandbox`), before a pixel is decoded.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from PIL import Image

from classifier.engine.errors import ImageRejected
from classifier.engine.jpeg_scans import MAX_SCANS, count_scans

ACCEPTED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "HEIF", "AVIF")
ACCEPTED_TEXT = "JPEG, PNG, WebP, GIF, BMP, TIFF, HEIC/HEIF or AVIF"
IMAGE_SUFFIXES = frozenset(
    (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif", ".avif")
)
"""The file names of those formats: how the sample gallery, the trainers' class folders and a
collection's folders find their photos by name."""

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
# ISO base media files (HEIF, AVIF) begin with an `ftyp` box naming their brands.
AVIF_BRANDS = {b"avif", b"avis"}
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}

# Things people send instead of a photo, named in the refusal so they know what went wrong.
NOT_IMAGE_SIGNATURES = (
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
)
MARKUP_WORDS = ((b"<svg", "an SVG drawing"), (b"<!doctype html", "an HTML page"), (b"<html", "an HTML page"))
ZIP_END = struct.Struct("<4s4xHHIIH")
"""The ZIP end-of-central-directory record: signature, entries, central directory size and
offset, comment length (22 bytes)."""
ROW_POINTER_BYTES = 8
"""Pillow keeps one pointer per row beside the pixels: 400 MB for a 1 x 50,000,000 image."""
WEBP_COST = 4
"""Pillow decodes every WebP through libwebp's animation decoder, which holds about four
full-size RGBA buffers (759 MB at 7000x7000, where PNG RGBA takes 232 MB; docs/benchmarks.md,
"Decoding memory"), and offers no reduced-size decoding: so WebP gets a quarter of the pixel limit."""


@dataclass(frozen=True)
class ImageLimits:
    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 50_000_000
    working_max_side: int = 1024
    """Larger photos are downscaled while decoding: the networks see 224 px and the heatmap
    overlay at most 512 px (`cam.render_overlay`); 1024 leaves a margin over both."""
    max_scans: int = MAX_SCANS
    max_aspect_ratio: float = 32.0
    """A panorama is 4:1 to 10:1; a 1 x 50,000,000 "photo" is an attack on the row pointers."""
    decode_timeout_s: float = 5.0
    """The slowest legal image measured, a 49 MP RGBA PNG, decodes in 2.3 s on the loaded 2-core
    machine (docs/benchmarks.md); the decoder child is killed at this deadline."""
    decode_memory_mb: int = 1024
    """Address space a decode may add in its child: the largest legal image (50 MP, 4 bytes a
    pixel) needs about 250 MB, WebP's quarter of it about 190 MB."""


def sniff_image_format(head: bytes) -> str | None:
    """The accepted format whose signature ``head`` starts with, or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head[4:8] == b"ftyp":
        return _iso_media_format(head)
    return next((fmt for signature, fmt in IMAGE_SIGNATURES if head.startswith(signature)), None)


def _iso_media_format(head: bytes) -> str | None:
    """AVIF or HEIF from the `ftyp` box's major and compatible brands (an AVIF often says
    `mif1` first, the generic HEIF brand, and `avif` among the compatible ones)."""
    box_end = min(int.from_bytes(head[:4], "big"), len(head), 256)
    brands = {head[8:12]} | {head[i : i + 4] for i in range(16, box_end - 3, 4)}
    if brands & AVIF_BRANDS:
        return "AVIF"
    return "HEIF" if brands & HEIF_BRANDS else None


def describe_non_image(data: bytes) -> str | None:
    """What a rejected file most likely is (PDF, archive, SVG, HTML), to say so in the refusal."""
    found = next((what for signature, what in NOT_IMAGE_SIGNATURES if data.startswith(signature)), None)
    if found is None:
        head = data[:1024].lstrip().lower()
        found = next((what for word, what in MARKUP_WORDS if word in head), None)
    return found


def hidden_payload(data: bytes) -> str | None:
    """A second file riding along with the image (a polyglot): a ZIP directory near the end,
    or a PDF or markup header near the start where readers and browsers look for one."""
    if _zip_end_record(data):
        return "a ZIP archive"
    head = data[:1024].lower()
    if b"%pdf-" in head:
        return "a PDF document"
    return next((what for word, what in (*MARKUP_WORDS, (b"<script", "a script")) if word in head), None)


def _zip_end_record(data: bytes) -> bool:
    """Whether a ZIP end record sits in the last 64 KB, its comment within the file and its
    central directory just before it. Unzip tools find the record with bytes after it too, so
    trailing bytes do not hide it; the directory check keeps a chance `PK\\5\\6` in compressed
    pixels from counting."""
    window = max(0, len(data) - ZIP_END.size - 0xFFFF - 64)
    position = data.rfind(b"PK\x05\x06", window)
    while position >= 0:
        if position + ZIP_END.size <= len(data):
            _, _, entries, directory_size, _, comment = ZIP_END.unpack_from(data, position)
            directory = position - directory_size
            fits = position + ZIP_END.size + comment <= len(data) and directory >= 0
            if fits and (entries == 0 or data.startswith(b"PK\x01\x02", directory)):
                return True
        position = data.rfind(b"PK\x05\x06", window, position)
    return False


def refuse_unless_acceptable(data: bytes, limits: ImageLimits) -> str:
    """Everything that can be decided from the bytes alone, cheapest first, before any decoder
    sees them; returns the format the signature names."""
    if not data:
        raise ImageRejected("The file is empty.", code="empty_file")
    if len(data) > limits.max_bytes:
        raise ImageRejected(
            f"The file is {len(data) / 2**20:.1f} MB; the limit is {limits.max_bytes / 2**20:.0f} MB.",
            code="file_too_large",
        )
    image_format = sniff_image_format(data)
    if image_format is None:
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
    if image_format == "JPEG" and count_scans(data, limits.max_scans) > limits.max_scans:
        raise ImageRejected(
            f"This JPEG is drawn in more than {limits.max_scans} scans (a camera writes at most a few dozen), "
            "which would take minutes to decode; please save it again as an ordinary JPEG.",
            code="too_many_scans",
        )
    return image_format


def check_header(image: Image.Image, limits: ImageLimits) -> None:
    """The header's dimensions, shape and memory, before a single pixel is decoded."""
    width, height = image.size
    if width < 1 or height < 1:
        raise ImageRejected("The image has no pixels.", code="corrupt_image")
    if max(width, height) > limits.max_aspect_ratio * min(width, height):
        raise ImageRejected(
            f"The image is {width}x{height} pixels, more than {limits.max_aspect_ratio:g} times longer than it is "
            "wide: not a photo of a scene.",
            code="extreme_aspect_ratio",
        )
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
    needed = decode_bytes(image)
    if needed > limits.decode_memory_mb * 2**20:
        raise ImageRejected(
            f"Decoding this {width}x{height} image would take {needed / 2**20:.0f} MB; "
            f"the limit is {limits.decode_memory_mb} MB.",
            code="decode_memory",
        )


def decode_bytes(image: Image.Image) -> int:
    """What Pillow allocates for the decoded image: its pixels and one pointer per row."""
    width, height = image.size
    pixel_bytes = 2 if image.mode.startswith("I;16") else 1 if image.mode in ("1", "L", "P") else 4
    return width * height * pixel_bytes + height * ROW_POINTER_BYTES
