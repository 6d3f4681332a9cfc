"""decode_image on hostile and awkward files: every refusal is an ImageRejected with its code,
every legal image comes out RGB, upright and bounded in size."""

from __future__ import annotations

import io
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from classifier.engine import imaging
from classifier.engine.errors import ImageRejected
from classifier.engine.image_checks import ACCEPTED_TEXT, IMAGE_SIGNATURES, ImageLimits, sniff_image_format
from classifier.engine.imaging import decode_image, decode_in_process
from tests.support.images import image_bytes, jpeg, photo, png_chunk, raw_png, rejected_corpus

CORPUS = rejected_corpus()


@pytest.mark.parametrize("name", list(CORPUS))
def test_it_rejects_hostile_files_with_their_own_code(name):
    _, data, code, _status = CORPUS[name]
    with pytest.raises(ImageRejected) as rejected:
        decode_image(data)
    assert rejected.value.code == code


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("svg", "an SVG drawing"),
        ("html named .jpg", "an HTML page"),
        ("pdf", "a PDF document"),
        ("zip", "a ZIP archive"),
    ],
)
def test_refusals_name_the_file_and_the_accepted_formats(name, what):
    with pytest.raises(ImageRejected) as rejected:
        decode_image(CORPUS[name][1])
    assert what in rejected.value.message
    assert ACCEPTED_TEXT in rejected.value.message


def test_it_rejects_a_file_over_the_byte_limit_before_decoding():
    with pytest.raises(ImageRejected) as rejected:
        decode_image(jpeg(photo((512, 512))), ImageLimits(max_bytes=1000))
    assert rejected.value.code == "file_too_large"


@pytest.mark.parametrize("side", [10_000, 30_000])
def test_pillows_bomb_guard_is_an_error_when_our_pixel_limit_is_higher(side):
    """100 MP passes Pillow's warning threshold, 900 MP its error threshold: both are refusals."""
    with pytest.raises(ImageRejected) as rejected:
        decode_image(raw_png(side, side), ImageLimits(max_pixels=10**10))
    assert rejected.value.code == "decompression_bomb"


def rgb_at(data: bytes, xy=(0, 0)) -> tuple[int, int, int]:
    decoded = decode_image(data)
    assert decoded.image.mode == "RGB"
    return decoded.image.getpixel(xy)


def close_to(actual, expected, tolerance=6) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def test_a_cmyk_jpeg_comes_out_in_the_right_colours():
    assert close_to(rgb_at(jpeg(Image.new("CMYK", (32, 32), (0, 255, 255, 0)))), (255, 0, 0), tolerance=12)


def test_a_16_bit_grey_png_is_scaled_not_clipped():
    grey = Image.fromarray(np.full((8, 8), 32768, dtype=np.uint16))
    assert grey.mode == "I;16"
    assert close_to(rgb_at(image_bytes(grey, "PNG")), (128, 128, 128), tolerance=1)


def test_a_16_bit_colour_png_keeps_its_colours():
    pixel = np.array([65535, 0, 32768], dtype=">u2").tobytes()
    rows = b"".join(b"\x00" + pixel * 4 for _ in range(4))
    assert close_to(rgb_at(raw_png(4, 4, bit_depth=16, color_type=2, rows=rows)), (255, 0, 128), tolerance=1)


@pytest.mark.parametrize(
    ("image", "fmt", "expected"),
    [
        (Image.new("L", (8, 8), 90), "PNG", (90, 90, 90)),
        (Image.new("LA", (8, 8), (0, 0)), "PNG", (255, 255, 255)),
        (Image.new("RGBA", (8, 8), (0, 0, 255, 0)), "PNG", (255, 255, 255)),
        (Image.new("RGBA", (8, 8), (0, 0, 255, 255)), "WEBP", (0, 0, 255)),
        (Image.new("1", (8, 8), 1), "BMP", (255, 255, 255)),
        (Image.new("RGB", (8, 8), (0, 200, 0)), "TIFF", (0, 200, 0)),
        (Image.new("I", (8, 8), 200), "TIFF", (200, 200, 200)),
    ],
    ids=["L", "LA transparent", "RGBA transparent", "RGBA WebP", "1 BMP", "RGB TIFF", "I TIFF"],
)
def test_every_mode_comes_out_as_rgb_on_white(image, fmt, expected):
    assert close_to(rgb_at(image_bytes(image, fmt)), expected, tolerance=3)


def test_a_palette_image_with_a_transparent_index_is_composited_on_white():
    image = Image.new("P", (8, 8), 1)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    assert rgb_at(image_bytes(image, "PNG", transparency=1)) == (255, 255, 255)
    assert rgb_at(image_bytes(image, "GIF")) == (255, 0, 0)


def test_an_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (16, 16), color).convert("P") for color in ((255, 0, 0), (0, 0, 255))]
    data = image_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    decoded = decode_image(data)
    assert decoded.format == "GIF"
    assert close_to(decoded.image.getpixel((8, 8)), (255, 0, 0))


def test_exif_orientation_is_applied():
    """Stored 40 wide, red left / blue right; orientation 6 means turn it a quarter clockwise."""
    stored = Image.new("RGB", (40, 20), (255, 0, 0))
    stored.paste((0, 0, 255), (20, 0, 40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode_image(jpeg(stored, exif=exif.tobytes(), quality=95))
    assert decoded.image.size == (20, 40)
    assert decoded.original_size == (20, 40)
    assert close_to(decoded.image.getpixel((10, 5)), (255, 0, 0), tolerance=30)
    assert close_to(decoded.image.getpixel((10, 35)), (0, 0, 255), tolerance=30)


def test_a_large_legal_photo_is_downscaled_while_decoding():
    decoded = decode_image(jpeg(photo((4000, 3000))))
    assert decoded.original_size == (4000, 3000)
    assert decoded.image.size == (1024, 768)
    assert decoded.format == "JPEG"


@pytest.mark.parametrize(
    ("fmt", "name"),
    [("JPEG", "JPEG"), ("PNG", "PNG"), ("GIF", "GIF"), ("BMP", "BMP"), ("TIFF", "TIFF"), ("WEBP", "WEBP")],
)
def test_it_recognises_every_accepted_format_by_its_signature(fmt, name):
    assert sniff_image_format(image_bytes(photo((4, 4)), fmt)) == name


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prefix=st.sampled_from([b"", *(signature for signature, _ in IMAGE_SIGNATURES), b"RIFF\0\0\0\0WEBPVP8 "]),
    body=st.binary(max_size=2048),
)
def test_random_bytes_only_ever_give_a_clean_rejection(prefix, body):
    try:
        decoded = decode_image(prefix + body)
    except ImageRejected as rejected:
        assert rejected.code != ImageRejected.code and rejected.message  # a named reason, in words
    else:
        assert decoded.image.mode == "RGB"


# Shrinking before converting (bounded memory) must give the image the old order gave:
# the whole picture converted to RGB on white, then `thumbnail`. The reference below is that
# old order, written out; strips are made small so the seams between them are exercised.

SMALL = ImageLimits(working_max_side=120)


def pattern(size=(533, 371)) -> np.ndarray:
    """Smooth gradients with some texture, values in [0, 1]: (height, width, 4)."""
    y, x = np.mgrid[0 : size[1], 0 : size[0]].astype(np.float64)
    channels = [x / size[0], y / size[1], 0.5 + 0.5 * np.sin(x / 9.0) * np.cos(y / 7.0), 0.3 + 0.7 * (x / size[0])]
    return np.stack(channels, axis=-1)


def reference_rgb(image: Image.Image, max_side: int) -> Image.Image:
    """The old decoder's order: everything to RGB at full size (float64 for 16-bit), then thumbnail."""
    image.draft(None, (max_side, max_side))  # JPEG's reduced-scale decoding, as both decoders do
    if image.mode in ("I;16", "I"):
        values = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if image.mode == "I;16" or values.max() > 255 else 255.0
        image = Image.fromarray(np.clip(values / peak * 255.0, 0, 255).astype(np.uint8))
    if image.mode in ("P", "RGBA", "LA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    image = image.convert("RGB")
    image.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return image


def as_mode(mode: str) -> tuple[Image.Image, str]:
    levels = pattern()
    rgba8 = Image.fromarray((levels * 255).round().astype(np.uint8), mode="RGBA")
    made = {
        "L": (rgba8.getchannel("B"), "PNG"),
        "LA": (Image.merge("LA", [rgba8.getchannel("B"), rgba8.getchannel("A")]), "PNG"),
        "RGB": (rgba8.convert("RGB"), "PNG"),
        "RGBA": (rgba8, "PNG"),
        "P": (rgba8.convert("RGB").quantize(64), "PNG"),
        "P transparent": (rgba8.convert("RGB").quantize(64), "PNG"),
        "1": (rgba8.getchannel("B").convert("1"), "BMP"),
        "I;16": (Image.fromarray((levels[..., 2] * 65535).round().astype(np.uint16)), "PNG"),
        "I": (Image.fromarray((levels[..., 2] * 200).round().astype(np.int32)), "TIFF"),
        "F": (Image.fromarray((levels[..., 2] * 300).astype(np.float32)), "TIFF"),
        "CMYK": (rgba8.convert("RGB").convert("CMYK"), "TIFF"),
        "CMYK JPEG": (rgba8.convert("RGB").convert("CMYK"), "JPEG"),
    }
    return made[mode]


@pytest.mark.parametrize(
    "mode", ["L", "LA", "RGB", "RGBA", "P", "P transparent", "1", "I;16", "I", "F", "CMYK", "CMYK JPEG"]
)
def test_shrinking_first_gives_the_image_converting_first_gave(mode, monkeypatch):
    monkeypatch.setattr(imaging, "STRIP_PIXELS", 20_000)  # about 40 strips of 533 x 38 rows
    image, fmt = as_mode(mode)
    options = {"transparency": 3} if mode == "P transparent" else {"quality": 95} if fmt == "JPEG" else {}
    data = image_bytes(image, fmt, **options)
    stored = Image.open(io.BytesIO(data))
    assert stored.mode == mode.split()[0]
    expected = np.asarray(reference_rgb(stored, SMALL.working_max_side), dtype=np.int16)
    decoded = decode_in_process(data, SMALL).image  # in this process, where STRIP_PIXELS is patched
    assert decoded.mode == "RGB"
    assert decoded.size == (expected.shape[1], expected.shape[0]) == (120, 84)
    assert np.abs(np.asarray(decoded, dtype=np.int16) - expected).max() <= 1


def gradient_png_16_bit(width: int, height: int) -> bytes:
    """A grey PNG, 16 bits per pixel, whose level rises from 0 (left) to 65535 (right), written row by
    row so the test never holds the 98 MB of pixels itself."""
    levels = (np.arange(width, dtype=np.uint64) * 65535 // (width - 1)).astype(">u2").tobytes()
    packer = zlib.compressobj(1)
    idat = b"".join(packer.compress(b"\0" + levels) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 16, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def test_a_7000_pixel_16_bit_png_decodes_to_the_right_small_image_without_full_size_copies():
    """Before, the conversion made float64 copies of every pixel (400 MB and more) before shrinking.

    Pillow's own buffers are invisible to tracemalloc, numpy's are not: the bound catches any
    full-size array coming back. docs/benchmarks.md has the process's real peak per format."""
    data = gradient_png_16_bit(7000, 7000)
    tracemalloc.start()
    try:
        decoded = decode_in_process(data)  # in this process, where tracemalloc sees it
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 40 * 2**20, f"{peak / 2**20:.0f} MB traced"
    assert decoded.original_size == (7000, 7000)
    assert decoded.image.size == (1024, 1024)
    pixels = np.asarray(decoded.image, dtype=np.int16)
    assert (pixels == pixels[:1, :, :1]).all(), "every row and channel the same grey"
    # Output column j covers source columns around (j + 0.5) * 7000 / 1024, whose 8-bit level is
    # that fraction of 255 (v * 255 // 65535).
    expected = (np.arange(1024) + 0.5) / 1024 * 255
    assert np.abs(pixels[0, :, 0] - expected).max() <= 1.5
    assert pixels[0, 0, 0] <= 1 and pixels[0, -1, 0] >= 254


def test_exif_orientation_is_applied_to_a_large_photo_that_is_shrunk():
    stored = Image.new("RGB", (3000, 1000), (255, 0, 0))
    stored.paste((0, 0, 255), (1500, 0, 3000, 1000))
    exif = Image.Exif()
    exif[0x0112] = 8  # a quarter turn counter-clockwise: the right half ends on top
    decoded = decode_image(image_bytes(stored, "PNG", exif=exif.tobytes()))
    assert decoded.original_size == (1000, 3000)
    assert decoded.image.size == (341, 1024)
    assert close_to(decoded.image.getpixel((170, 100)), (0, 0, 255))
    assert close_to(decoded.image.getpixel((170, 900)), (255, 0, 0))


def test_webp_gets_a_quarter_of_the_pixel_limit_as_it_costs_four_times_the_memory():
    limits = ImageLimits(max_pixels=200_000)
    picture = photo((300, 300))  # 90,000 pixels: over a quarter of the limit
    assert decode_image(image_bytes(picture, "PNG"), limits).image.size == (300, 300)
    with pytest.raises(ImageRejected) as rejected:
        decode_image(image_bytes(picture, "WEBP"), limits)
    assert rejected.value.code == "too_many_pixels"
    assert "JPEG or PNG" in rejected.value.message
    assert decode_image(image_bytes(photo((200, 200)), "WEBP"), limits).image.size == (200, 200)
