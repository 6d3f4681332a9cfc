"""The process's one analyzer, built from settings: loaded once, shared by every request."""

from __future__ import annotations

from functools import cache

from django.conf import settings

from classifier.engine import SceneAnalyzer
from classifier.engine.imaging import ImageLimits


@cache
def get_analyzer() -> SceneAnalyzer:
    return SceneAnalyzer.from_models_dir(
        settings.SCENEWEB_MODELS_DIR,
        scene_model=settings.SCENEWEB_SCENE_MODEL,
        top_k=settings.SCENEWEB_TOP_K,
    )


def image_limits() -> ImageLimits:
    return ImageLimits(max_bytes=settings.SCENEWEB_MAX_UPLOAD_MB * 1024 * 1024, max_pixels=settings.SCENEWEB_MAX_PIXELS)
