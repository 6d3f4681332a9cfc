"""Every training photo, of either trainer, decoded as the service decodes an upload.

`decode_image` checks the file, applies its EXIF orientation (a phone's portrait photo is stored
sideways) and converts it to RGB; the photo is then squashed to the input size as the service's
`model_input` does. A model therefore sees the same pixels in training, in evaluation and in
serving; only the normalisation (`augment.normalise`) comes later, after any augmentation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from classifier.engine.imaging import ImageLimits, decode_image

TRAINING_LIMITS = ImageLimits(
    max_bytes=200 * 2**20, max_pixels=200_000_000, decode_timeout_s=60.0, decode_memory_mb=4096
)
"""A user's own photos may be larger than an upload; the decoding (and downscaling) stays the service's."""


def squashed_pixels(path: Path, size: int) -> np.ndarray:
    """(size, size, 3) uint8: decoded and resized exactly as the service prepares an upload."""
    image = decode_image(Path(path).read_bytes(), TRAINING_LIMITS).image
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)
