"""Start-up checks: bad settings and missing Places365 files stop the server, saying what to fix.

`check_settings` runs in `ClassifierConfig.ready`: an unknown model name, a mirror that is no
web address or a typo in SCENEWEB_TRUSTED_PROXIES stops every command and the server at once.

`manage.py check` (and every command that runs the system checks) lists the missing files
cheaply, without loading them. Loading them is not a check: the WSGI module calls
`runtime.load_models_at_start`, once per process, which refuses to start on a model-file error.

Static files: without DEBUG the page links the hashed copies that `collectstatic` makes, and
whitenoise's storage raises ValueError for every page when they were never collected. The
WSGI module says so in the log at start-up, and `classifier.middleware.StaticFilesNotCollected` answers the page
with a 503 naming the missing step instead of a bare 500 (the API needs no static files and
keeps working).
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage
from django.core.checks import Error, Info, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

from classifier.clients import trusted_networks
from classifier.engine.attribute_sources import ATTRIBUTE_SOURCES
from classifier.engine.catalogue import asset_path
from classifier.engine.places import SCENE_MODELS, scene_model_spec
from classifier.gallery import missing_samples_hint

MISSING_MODEL_FILE = "sceneweb.E001"
COLLECTSTATIC = "python manage.py collectstatic --noinput"
log = logging.getLogger("sceneweb")


def check_settings() -> None:
    check_model_settings()
    trusted_networks(tuple(settings.SCENEWEB_TRUSTED_PROXIES))


def check_model_settings(config=settings) -> None:
    """Unknown model names (and a mirror that is no web address) stop start-up with what to set instead."""
    if config.SCENEWEB_SCENE_MODEL not in SCENE_MODELS:
        raise ImproperlyConfigured(
            f"SCENEWEB_SCENE_MODEL={config.SCENEWEB_SCENE_MODEL!r} is not a registered scene model; "
            f"choose one of {', '.join(SCENE_MODELS)} (`python manage.py fetch_models --list` shows them)."
        )
    if config.SCENEWEB_ATTRIBUTES_SOURCE not in ATTRIBUTE_SOURCES:
        raise ImproperlyConfigured(
            f"SCENEWEB_ATTRIBUTES_SOURCE={config.SCENEWEB_ATTRIBUTES_SOURCE!r} is not one of "
            f"{', '.join(ATTRIBUTE_SOURCES)}."
        )
    mirror = config.SCENEWEB_MODELS_MIRROR
    if mirror and not mirror.startswith(("https://", "http://")):
        raise ImproperlyConfigured(
            f"SCENEWEB_MODELS_MIRROR={mirror!r} is not an http(s) base URL; give the address under which "
            "the model files can be fetched by name, e.g. https://models.example.org/places365/."
        )


def install_command(scene_model: str) -> str:
    if scene_model == "resnet18":
        return "python manage.py fetch_models"
    return f"python manage.py fetch_models --model {scene_model}"


def required_model_files(models_dir: Path, scene_model: str) -> list[Path]:
    """What `SceneAnalyzer.from_models_dir` cannot do without (the attribute model is optional)."""
    spec = scene_model_spec(scene_model)
    return [asset_path(models_dir, name) for name in (spec.weights.name, spec.weights.labels, "io_places365")]


@register("sceneweb")
def model_files_check(app_configs=None, **kwargs) -> list[Error]:
    scene_model = settings.SCENEWEB_SCENE_MODEL
    return [
        Error(
            f"{path} is missing; the {scene_model} scene model cannot load.",
            hint=f"Run `{install_command(scene_model)}` (or add `--from DIR` on a machine without internet).",
            id=MISSING_MODEL_FILE,
        )
        for path in required_model_files(Path(settings.SCENEWEB_MODELS_DIR), scene_model)
        if not path.is_file()
    ]


@register("sceneweb")
def sample_gallery_check(app_configs=None, **kwargs) -> list[Info]:
    """A hint, not a warning: the service works without samples (the page just has no gallery)."""
    hint = missing_samples_hint()
    return [Info("The sample gallery is empty.", hint=hint, id="sceneweb.I001")] if hint else []


@register(Tags.security, deploy=True)
def check_private_urls_are_off(app_configs, **kwargs) -> list[Warning]:
    if not settings.SCENEWEB_ALLOW_PRIVATE_URLS:
        return []
    return [
        Warning(
            "SCENEWEB_ALLOW_PRIVATE_URLS is on: visitors' image URLs may reach this server's loopback address.",
            hint="It exists for tests; unset it (or set it to 0) in production.",
            id="sceneweb.W001",
        )
    ]


def missing_static_manifest() -> Path | None:
    """The manifest `collectstatic` writes, when the pages need it (no DEBUG, hashed storage) and it is absent."""
    if settings.DEBUG or not isinstance(staticfiles_storage, ManifestFilesMixin):
        return None
    manifest = Path(staticfiles_storage.path(staticfiles_storage.manifest_name))
    return None if manifest.is_file() else manifest


def static_files_hint(manifest: Path) -> str:
    return (
        f"The page's static files have not been collected ({manifest} is missing): run `{COLLECTSTATIC}` "
        "(once after every install or upgrade), then restart the server. The API works meanwhile."
    )


def warn_if_static_files_missing() -> None:
    if (manifest := missing_static_manifest()) is not None:
        log.error("sceneweb: %s", static_files_hint(manifest))
