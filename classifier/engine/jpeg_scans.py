"""Counting a JPEG's scans from its marker segments, before any decoder sees the file.

A progressive JPEG is drawn in scans, and libjpeg walks the whole block grid once per scan
however little the scan holds: one tiny first scan followed by thousands of empty 10-byte
scans is a valid file that costs minutes of CPU at 7000x7000 (issue 18). Cameras and encoders
write one scan (baseline) or about ten (libjpeg's progressive script; mozjpeg's optimised
scripts stay under twenty), so a file with more than `MAX_SCANS` is refused unread.
"""

from __future__ import annotations

MAX_SCANS = 100
"""Five times the most any common encoder writes; 100 scans of the 50 MP pixel limit cost about
a second to decode (docs/benchmarks.md, "Decoder bombs"), the bomb of issue 18 thousands."""

SOS, EOI = 0xDA, 0xD9
STANDALONE = {0x01, *range(0xD0, 0xD8), 0xD8}
"""Markers without a length field: TEM, RST0-7 and SOI."""


def count_scans(data: bytes, stop_after: int = MAX_SCANS) -> int:
    """The number of SOS markers in the JPEG ``data``, counting no further than ``stop_after + 1``.

    Segments are skipped by their length (so a thumbnail inside EXIF is not counted) and the
    entropy-coded data after each SOS by searching for the next 0xFF that starts a marker, so
    the walk costs a few `bytes.find` calls per scan. A malformed stream ends the count: the
    decoder then refuses the file on its own, and quickly.
    """
    scans, position = 0, 2  # after SOI
    while scans <= stop_after:
        position = data.find(b"\xff", position)
        if position < 0 or position + 1 >= len(data):
            break
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker == EOI:
            break
        if marker == 0x00 or marker in STANDALONE:  # stuffed byte or restart marker inside scan data
            position += 2
            continue
        if position + 4 > len(data):
            break
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        if length < 2:
            break
        scans += marker == SOS
        position += 2 + length  # for SOS: past its header, into the entropy-coded data
    return scans
