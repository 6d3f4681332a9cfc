"""The three ways a photo comes in (upload, URL, sample), each ending as bytes for `decode_image`.

The API view and the Dash panel both read photos through here, so a sample name or a URL is
checked the same way whichever door it came through.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from PIL import Image

from classifier.engine.assets import SAMPLE_SUFFIXES
from classifier.engine.errors import SceneWebError
from classifier.engine.fetch import fetch_image
from classifier.engine.imaging import decode_image
from classifier.runtime import fetch_policy, image_limits

THUMBNAIL_SIDE = 160


class SampleNotFound(SceneWebError):
    code = "sample_not_found"
    status = 404


def list_samples() -> list[str]:
    """The gallery: photo file names in SCENEWEB_SAMPLES_DIR (an absent folder is an empty gallery)."""
    folder = Path(settings.SCENEWEB_SAMPLES_DIR)
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SAMPLE_SUFFIXES)


def sample_path(name: str) -> Path:
    """Only a plain file name listed in the gallery resolves; anything else (`../x`, `/etc/passwd`) is unknown."""
    if not isinstance(name, str) or name not in list_samples():
        raise SampleNotFound(f"There is no sample photo called {str(name)[:80]!r}.")
    return Path(settings.SCENEWEB_SAMPLES_DIR) / name


def sample_bytes(name: str) -> bytes:
    return sample_path(name).read_bytes()


def url_bytes(url: str) -> bytes:
    if not isinstance(url, str) or not url.strip():
        raise SceneWebError("Please give the address of an image.", code="url_missing")
    return fetch_image(url.strip(), fetch_policy())


def sample_thumbnail(name: str) -> bytes:
    """A small JPEG for the gallery, so the page never loads full-size samples to show a strip of them."""
    path = sample_path(name)
    return _thumbnail(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=64)
def _thumbnail(path: Path, mtime_ns: int) -> bytes:
    photo = decode_image(path.read_bytes(), image_limits()).image
    photo.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.BILINEAR)
    return jpeg_bytes(photo)


def jpeg_bytes(image: Image.Image, quality: int = 82) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
