"""Decoder bombs that tests and bench/ both build (tests/support/images.py has the other hostile files)."""

from __future__ import annotations

import io

from PIL import Image

EMPTY_SCAN = b"\xff\xda\x00\x08\x01\x01\x00\x00\x00\x00"
"""An SOS segment for one component and no entropy-coded data: 10 bytes that make libjpeg walk
the component's whole block grid once more."""


def scan_bomb_jpeg(side: int = 2000, scans: int = 5000) -> bytes:
    """Issue 18's bomb: a tiny progressive JPEG made by Pillow, then thousands of empty scans
    before its end marker. A valid file of 50 KB that costs libjpeg seconds to minutes."""
    buffer = io.BytesIO()
    Image.new("L", (side, side), 128).save(buffer, "JPEG", progressive=True, quality=50)
    small = buffer.getvalue()
    assert small.endswith(b"\xff\xd9")
    return small[:-2] + EMPTY_SCAN * scans + b"\xff\xd9"
