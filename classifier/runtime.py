"""The process's one analyzer, and the engine's limits and policies, built from settings; the one
path from a photo's bytes to its analysis (`analyse_bytes`); loading the models at start-up.

The lowest module of the web layer: it imports no other `classifier` web module, and importing
it changes nothing (no thread count, no environment). The process-wide thread setting is
applied once, when `get_analyzer` builds the analyzer.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from PIL import Image

from classifier.engine import SceneAnalyzer
from classifier.engine.acceleration import InferenceSettings, apply_thread_setting
from classifier.engine.analyzer import Analysis
from classifier.engine.catalogue import ATTRIBUTE_HEAD_ASSET, ATTRIBUTE_MATRIX_ASSETS, asset_spec
from classifier.engine.errors import ModelFileError
from classifier.engine.fetch import FetchPolicy
from classifier.engine.image_checks import IMAGE_SUFFIXES
from classifier.engine.imaging import DecodedImage, ImageLimits, decode_image
from classifier.engine.manifest import changed_since_install
from classifier.engine.places import scene_model_spec

WARM_UP_PASSES = 2


def warm_up(passes: int = WARM_UP_PASSES) -> None:
    """Decodes and analyses of a photo-sized noise JPEG (heatmap on) in this process, before it serves.

    PyTorch and oneDNN build their kernels lazily, per thread count and per shape, the
    side-by-side pool starts its threads on first use, and the decoder child starts on the first
    decode (0.5-0.75 s): without this, a fresh worker's first analyses took 4-6 times as long as
    its tenth (docs/benchmarks.md, "Warm-up").
    """
    photo = warm_up_photo()
    for _ in range(passes):
        get_analyzer().analyze(decode_image(photo, image_limits()))


def warm_up_photo() -> bytes:
    """A photo-sized noise JPEG, made in memory: what the warm-ups analyse."""
    photo = io.BytesIO()
    Image.effect_noise((960, 720), 64).convert("RGB").save(photo, "JPEG", quality=90)
    return photo.getvalue()


@dataclass(frozen=True)
class Analysed:
    """A photo as every door decodes it (working size, upright, RGB) and what the analyzer says of it."""

    photo: DecodedImage
    analysis: Analysis


def analyse_bytes(data: bytes, **options) -> Analysed:
    """The one path from a photo's bytes to its analysis for the API, the panel and the `analyze`
    command: decoded under the settings' limits, analysed by the process's analyzer. `options` are
    `SceneAnalyzer.analyze`'s (heatmap, cam_class, outputs, top_k, attribute_maps); the engine
    checks them."""
    photo = decode_image(data, image_limits())
    return Analysed(photo, get_analyzer().analyze(photo, **options))


def load_models_at_start() -> None:
    """Load the models once for this process (gunicorn's preload: once in the master), or refuse to start."""
    try:
        verify_model_files(Path(settings.SCENEWEB_MODELS_DIR), settings.SCENEWEB_SCENE_MODEL)
        get_analyzer()
    except ModelFileError as exc:
        raise ImproperlyConfigured(f"sceneweb cannot start: {exc.message}") from None


def verify_model_files(models_dir: Path, scene_model: str) -> None:
    """Files the service loads whose bytes are not those `fetch_models` installed (a bit flip, a copy
    over the top) stop the start: such a file may load and serve wrong answers. Hashing them costs
    about 0.1 s per 100 MB, once per start (docs/benchmarks.md)."""
    spec = scene_model_spec(scene_model)
    names = (spec.weights.name, spec.weights.labels, "io_places365", *ATTRIBUTE_MATRIX_ASSETS, ATTRIBUTE_HEAD_ASSET)
    for name in dict.fromkeys(names):
        if changed := changed_since_install(models_dir, asset_spec(name)):
            raise ModelFileError(f"{changed}; reinstall it with `python manage.py fetch_models --force`.")


@cache
def get_analyzer() -> SceneAnalyzer:
    recipe = analyzer_recipe()
    apply_thread_setting(recipe["inference"].threads)
    return SceneAnalyzer.from_models_dir(**recipe)


def analyzer_recipe() -> dict:
    """The arguments of `SceneAnalyzer.from_models_dir` the settings ask for: plain values, so a
    process elsewhere (a Ray actor) builds the same analyzer without Django."""
    return {
        "models_dir": settings.SCENEWEB_MODELS_DIR,
        "scene_model": settings.SCENEWEB_SCENE_MODEL,
        "attributes_source": settings.SCENEWEB_ATTRIBUTES_SOURCE,
        "custom_models": settings.SCENEWEB_CUSTOM_MODELS,
        "top_k": settings.SCENEWEB_TOP_K,
        "inference": inference_settings(),
    }


def inference_settings() -> InferenceSettings:
    """The inference mode and threads; an unknown mode stops the start with the list of known ones.

    int8 ranges are calibrated on the sample gallery: typical photos the operator chose.
    """
    return InferenceSettings(
        mode=settings.SCENEWEB_INFERENCE_MODE,
        threads=settings.SCENEWEB_TORCH_THREADS,
        parallel=settings.SCENEWEB_PARALLEL_MODELS,
        calibration=tuple(sample_photos()),
        device=settings.SCENEWEB_DEVICE,
        cache_dir=inference_cache_dir(),
    )


def inference_cache_dir() -> Path:
    """SCENEWEB_INFERENCE_CACHE_DIR (relative: from the project root), else `converted/` in the models folder."""
    chosen = settings.SCENEWEB_INFERENCE_CACHE_DIR
    if not chosen:
        return Path(settings.SCENEWEB_MODELS_DIR) / "converted"
    return Path(chosen) if Path(chosen).is_absolute() else Path(settings.BASE_DIR) / chosen


def sample_photos() -> list[Path]:
    """The photos in SCENEWEB_SAMPLES_DIR, by name (an absent folder holds none): the gallery and the
    int8 calibration set."""
    folder = Path(settings.SCENEWEB_SAMPLES_DIR)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def image_limits() -> ImageLimits:
    """What every door (API, panel, URLs, samples, CLI) holds an image to, `decode_image`'s deadline
    and memory cap included."""
    return ImageLimits(
        max_bytes=settings.SCENEWEB_MAX_UPLOAD_MB * 1024 * 1024,
        max_pixels=settings.SCENEWEB_MAX_PIXELS,
        decode_timeout_s=settings.SCENEWEB_DECODE_TIMEOUT,
        decode_memory_mb=settings.SCENEWEB_DECODE_MEMORY_MB,
    )


def fetch_policy() -> FetchPolicy:
    """How a visitor's image URL may be fetched: the same byte limit as an upload."""
    return FetchPolicy(
        max_bytes=settings.SCENEWEB_MAX_UPLOAD_MB * 1024 * 1024,
        connect_timeout=settings.SCENEWEB_FETCH_CONNECT_TIMEOUT,
        total_timeout=settings.SCENEWEB_FETCH_TIMEOUT,
        max_redirects=3,
        allow_loopback=settings.SCENEWEB_ALLOW_PRIVATE_URLS,
    )
