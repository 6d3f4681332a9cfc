"""Images out (`classifier.engine.encoding`): one size rule for the decoder and the overlays, and
the encoders every presenter uses."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from classifier.engine import cam, encoding
from classifier.engine.imaging import shrink_to_rgb


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
