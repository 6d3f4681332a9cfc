"""Images out (`classifier.engine.encoding`): one size rule for the decoder and the overlays, and
the encoders every presenter uses."""

from __future__ import annotations

import base64
import io
import zlib

import numpy as np
import pytest
from PIL import Image

from classifier.engine import cam, encoding
from classifier.engine.imaging import shrink_to_rgb
from tests.support.paths import shared_path


@pytest.mark.parametrize(
    ("size", "max_side", "fitted"),
    [
        ((2000, 1000), 512, (512, 256)),
        ((1000, 2000), 512, (256, 512)),
        ((300, 200), 512, (300, 200)),  # never enlarged
        ((2000, 1000), None, (2000, 1000)),  # no limit: the overlay at the photo's own size
        ((5000, 3), 1024, (1024, 1)),  # a side never rounds to nothing
    ],
)
def test_a_size_is_fitted_within_its_longest_side(size, max_side, fitted):
    assert encoding.fitted_size(size, max_side) == fitted


def test_the_decoder_and_the_overlay_shrink_by_the_same_rule():
    photo = Image.new("RGB", (1999, 1333), (40, 80, 120))
    assert shrink_to_rgb(photo, 512).size == cam.render_overlay(photo, [[0.0]], max_side=512).size


def test_a_thumbnail_is_a_small_copy_and_the_picture_is_left_whole():
    picture = Image.new("RGB", (800, 400), (200, 10, 10))
    small = encoding.thumbnail(picture, 96)
    assert small.size == (96, 48) and picture.size == (800, 400)
    jpeg = Image.open(io.BytesIO(encoding.jpeg_bytes(small, quality=75)))
    assert jpeg.format == "JPEG" and jpeg.size == (96, 48)


def test_a_png_round_trips_and_its_base64_and_data_uri_are_the_same_bytes():
    image = Image.new("RGB", (10, 6), (1, 2, 3))
    png = encoding.png_bytes(image)
    decoded = Image.open(io.BytesIO(base64.b64decode(encoding.png_base64(image))))
    assert decoded.format == "PNG" and decoded.size == (10, 6) and decoded.getpixel((0, 0)) == (1, 2, 3)
    assert encoding.data_uri(png, "image/png") == "data:image/png;base64," + encoding.png_base64(image)


def photo_overlay() -> Image.Image:
    """What the API encodes: a real photo at 960x720 with a heatmap blended over it, 512 px wide."""
    photo = Image.open(shared_path("samples", "cam_example.jpg")).convert("RGB").resize((960, 720))
    grid = np.outer(np.linspace(0, 1, 7), np.linspace(1, 0, 7)).astype(np.float32)
    return cam.render_overlay(photo, grid)


def noise(size: tuple[int, int]) -> Image.Image:
    return Image.fromarray(np.random.default_rng(7).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


@pytest.mark.parametrize(
    "make",
    [
        photo_overlay,
        lambda: noise((257, 33)),  # every byte value, odd width
        lambda: Image.new("RGB", (9, 5), (255, 255, 255)),  # left + up = 510: the mean must not overflow
        lambda: Image.new("RGB", (1, 1), (3, 200, 255)),
        lambda: noise((1, 40)),
    ],
    ids=["photo overlay", "noise", "white", "one pixel", "one column"],
)
def test_the_png_decodes_to_exactly_the_pixels_it_was_given(make):
    image = make()
    encoded = encoding.png_bytes(image)
    Image.open(io.BytesIO(encoded)).verify()  # signature, chunk CRCs
    decoded = Image.open(io.BytesIO(encoded))
    assert decoded.format == "PNG" and decoded.mode == "RGB" and decoded.size == image.size
    assert np.array_equal(np.asarray(decoded), np.asarray(image))


def idat_rows(encoded: bytes, width: int) -> np.ndarray:
    """The filtered rows inside a PNG (one IDAT chunk, as png_bytes writes it)."""
    start = encoded.index(b"IDAT") + 4
    length = int.from_bytes(encoded[start - 8 : start - 4], "big")
    return np.frombuffer(zlib.decompress(encoded[start : start + length]), np.uint8).reshape(-1, 1 + 3 * width)


def test_every_png_row_uses_the_average_filter_and_a_photo_overlay_shrinks_to_under_half():
    overlay = photo_overlay()
    encoded = encoding.png_bytes(overlay)
    assert set(idat_rows(encoded, overlay.width)[:, 0]) == {encoding.PNG_AVERAGE}
    assert len(encoded) < 0.5 * overlay.width * overlay.height * 3


def test_png_bytes_refuses_what_is_not_rgb():
    with pytest.raises(ValueError, match="RGB images, not RGBA"):
        encoding.png_bytes(Image.new("RGBA", (4, 4)))
