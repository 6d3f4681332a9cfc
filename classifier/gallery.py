"""The sample gallery: the photos in SCENEWEB_SAMPLES_DIR, looked up by plain name, and their thumbnails.

A name is only ever matched against the gallery's own listing, so a visitor's `../x` or
`/etc/passwd` is simply an unknown sample.
"""

from __future__ import annotations

import logging
from functools import cache, lru_cache
from pathlib import Path

from django.conf import settings

from classifier.engine.encoding import jpeg_bytes, thumbnail
from classifier.engine.errors import SceneWebError
from classifier.engine.imaging import decode_image
from classifier.runtime import image_limits, sample_photos

THUMBNAIL_SIDE = 160
NO_SAMPLES = (
    "No sample photos in SCENEWEB_SAMPLES_DIR ({folder}), so the page hides its sample gallery; install "
    "them with `.venv/bin/python manage.py fetch_models --samples` (offline: `--samples-from DIR`)."
)
log = logging.getLogger("sceneweb")


class SampleNotFound(SceneWebError):
    code = "sample_not_found"


def list_samples() -> list[str]:
    """The gallery: photo file names in SCENEWEB_SAMPLES_DIR (an absent folder is an empty gallery)."""
    return [photo.name for photo in sample_photos()]


def missing_samples_hint() -> str | None:
    """What an operator should do when the gallery is empty (for `manage.py check` and the log)."""
    return None if list_samples() else NO_SAMPLES.format(folder=settings.SCENEWEB_SAMPLES_DIR)


@cache
def log_missing_samples() -> None:
    """Once per process: visitors see no gallery, the operator reads why in the log."""
    hint = missing_samples_hint()
    if hint:
        log.warning(hint)


def sample_path(name: str) -> Path:
    """Only a plain file name listed in the gallery resolves; anything else is unknown."""
    for photo in sample_photos():
        if photo.name == name:
            return photo
    raise SampleNotFound(f"There is no sample photo called {str(name)[:80]!r}.")


def sample_thumbnail(name: str) -> bytes:
    """A small JPEG for the gallery, so the page never loads full-size samples to show a strip of them."""
    path = sample_path(name)
    return _thumbnail(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=64)
def _thumbnail(path: Path, mtime_ns: int) -> bytes:
    return jpeg_bytes(thumbnail(decode_image(path.read_bytes(), image_limits()).image, THUMBNAIL_SIDE))
