"""What is refused before and while decoding (issue 18): JPEG scan bombs, tall and narrow images,
polyglots with trailing bytes; and what is now accepted: I;16B TIFF, HEIC/HEIF and AVIF."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFile

from classifier.engine.errors import ImageRejected
from classifier.engine.image_checks import ACCEPTED_TEXT, ImageLimits, decode_bytes, sniff_image_format
from classifier.engine.imaging import DEFAULT_LIMITS, decode_image, decode_pixels
from classifier.engine.jpeg_scans import MAX_SCANS, count_scans
from tests.support.images import (
    big_endian_16_bit_tiff,
    heif_bytes,
    image_bytes,
    jpeg,
    photo,
    raw_png,
    scan_bomb_jpeg,
    tall_tiff,
    zip_archive,
)


def refusal(data: bytes, limits: ImageLimits = DEFAULT_LIMITS) -> ImageRejected:
    with pytest.raises(ImageRejected) as refused:
        decode_image(data, limits)
    return refused.value


# -- JPEG scans ------------------------------------------------------------------------------------


def test_a_baseline_jpeg_has_one_scan_and_a_progressive_one_about_ten():
    assert count_scans(jpeg(photo((64, 48)))) == 1
    assert 2 <= count_scans(jpeg(photo((64, 48)), progressive=True)) <= 20


def test_a_thumbnail_inside_the_exif_block_is_not_counted():
    payload = b"Exif\0\0" + jpeg(photo((16, 16)))  # a whole JPEG, SOS included, inside APP1
    main = jpeg(photo((64, 48)))
    data = main[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + main[2:]
    assert data.count(b"\xff\xda") == 2
    assert count_scans(data) == 1


def test_the_count_stops_just_past_the_limit():
    assert count_scans(scan_bomb_jpeg(side=64, scans=100_000), stop_after=MAX_SCANS) == MAX_SCANS + 1


def test_a_scan_bomb_is_refused_with_its_own_code_before_decoding():
    refused = refusal(scan_bomb_jpeg())
    assert refused.code == "too_many_scans"
    assert f"more than {MAX_SCANS} scans" in refused.message


def test_a_progressive_camera_photo_still_decodes():
    decoded = decode_image(jpeg(photo((640, 480), (10, 200, 30)), progressive=True))
    assert decoded.image.size == (640, 480)


# -- tall and narrow -----------------------------------------------------------------------------


@pytest.fixture
def no_pixel_allocation(monkeypatch):
    """Fails the test if Pillow starts to load pixels (where it allocates the rows)."""

    def load(self):
        raise AssertionError(f"Pillow allocated {self.size} before the refusal")

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)


@pytest.mark.parametrize(
    "data", [raw_png(1, 50_000_000, color_type=6), tall_tiff()], ids=["1x50,000,000 png", "truncated tall tiff"]
)
def test_a_tall_narrow_image_is_refused_from_its_header_before_any_allocation(data, no_pixel_allocation):
    with pytest.raises(ImageRejected) as refused:
        decode_pixels(data, ImageLimits())
    assert refused.value.code == "extreme_aspect_ratio"
    assert "1x50000000" in refused.value.message
    assert refusal(data).code == "extreme_aspect_ratio"  # and so through the decoder child


def test_row_pointers_count_in_the_memory_budget(no_pixel_allocation):
    """200 MB of pixels fit 256 MB; with Pillow's 8 bytes a row (400 MB) they do not."""
    data = raw_png(1, 50_000_000, color_type=6)
    assert decode_bytes(Image.open(io.BytesIO(data))) == 50_000_000 * (4 + 8)
    limits = ImageLimits(max_aspect_ratio=1e9, decode_memory_mb=256)
    with pytest.raises(ImageRejected) as refused:
        decode_pixels(data, limits)
    assert refused.value.code == "decode_memory"
    assert "572 MB" in refused.value.message


def test_a_wide_panorama_is_still_a_photo():
    assert decode_image(image_bytes(photo((3200, 400)), "PNG")).image.size == (1024, 128)


def test_an_image_larger_than_the_memory_cap_is_refused_from_its_header():
    refused = refusal(image_bytes(photo((2000, 2000)), "PNG"), ImageLimits(decode_memory_mb=8))
    assert refused.code == "decode_memory"


# -- polyglots, 16-bit big-endian ------------------------------------------------------------------


@pytest.mark.parametrize("tail", [b"\0", b"trailing bytes\n" * 100])
def test_a_jpeg_zip_polyglot_with_bytes_after_the_zip_is_refused(tail):
    assert refusal(jpeg(photo((256, 256))) + zip_archive() + tail).code == "polyglot_file"


def test_zip_signature_bytes_without_a_directory_are_not_a_polyglot():
    data = jpeg(photo((64, 48)))
    fake_end = b"PK\x05\x06" + bytes(4) + b"\x01\x00\x01\x00" + (40).to_bytes(4, "little") + bytes(6)
    assert decode_image(data + fake_end).image.size == (64, 48)


def test_a_big_endian_16_bit_tiff_decodes_to_its_levels():
    levels = np.array([[0, 257 * 64, 257 * 128], [257 * 200, 257 * 255, 65535]], dtype=np.uint16)
    data = big_endian_16_bit_tiff(np.repeat(np.repeat(levels, 4, axis=0), 4, axis=1))
    assert Image.open(io.BytesIO(data)).mode == "I;16B"
    decoded = decode_image(data)
    assert decoded.format == "TIFF"
    pixels = np.asarray(decoded.image)
    assert pixels.shape == (8, 12, 3)
    assert (pixels[::4, ::4, 0] == [[0, 64, 128], [200, 255, 255]]).all()
    assert (pixels[..., 0] == pixels[..., 2]).all()


# -- HEIC/HEIF and AVIF ------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_heif_and_avif_are_recognised_and_decoded_in_their_colours(fmt):
    picture = photo((96, 64), (200, 80, 40))
    picture.paste((20, 40, 220), (48, 0, 96, 64))
    data = heif_bytes(picture, fmt, quality=90)
    assert sniff_image_format(data) == fmt
    decoded = decode_image(data)
    assert decoded.format == fmt
    assert decoded.image.size == decoded.original_size == (96, 64)
    left, right = decoded.image.getpixel((10, 30)), decoded.image.getpixel((86, 30))
    assert all(abs(a - b) <= 12 for a, b in zip(left, (200, 80, 40), strict=True))
    assert all(abs(a - b) <= 12 for a, b in zip(right, (20, 40, 220), strict=True))


@pytest.mark.parametrize("fmt", ["HEIF", "AVIF"])
def test_heif_and_avif_are_held_to_the_same_limits(fmt):
    data = heif_bytes(photo((400, 300)), fmt)
    assert refusal(data, ImageLimits(max_pixels=100_000)).code == "too_many_pixels"
    assert refusal(data[: len(data) // 2]).code == "corrupt_image"
    assert decode_image(heif_bytes(photo((2048, 1536)), fmt)).image.size == (1024, 768)


def test_an_avif_that_says_mif1_first_is_still_avif():
    head = b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avifmiaf"
    assert sniff_image_format(head) == "AVIF"
    assert sniff_image_format(b"\x00\x00\x00\x18ftypisom\x00\x00\x00\x00isomavc1") is None  # an MP4 video


def test_the_accepted_formats_name_heic_and_avif():
    assert "HEIC" in ACCEPTED_TEXT and "AVIF" in ACCEPTED_TEXT
