"""Start-up checks: a server without its Places365 files refuses to start, saying which file and how to fix it.

Two doors lead here: `manage.py check` (and every command that runs the system checks) lists
the missing files cheaply, without loading them; the WSGI module loads the models once per
process and turns any model-file error into a refusal to start, before the first request.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from classifier.engine import assets
from classifier.engine.errors import ModelFileError
from classifier.engine.places import scene_model_spec
from classifier.runtime import get_analyzer

MISSING_MODEL_FILE = "sceneweb.E001"


def install_command(scene_model: str) -> str:
    if scene_model == "resnet18":
        return "python manage.py fetch_models"
    return f"python manage.py fetch_models --model {scene_model}"


def required_model_files(models_dir: Path, scene_model: str) -> list[Path]:
    """What `SceneAnalyzer.from_models_dir` cannot do without (the attribute model is optional)."""
    spec = scene_model_spec(scene_model)
    return [assets.asset_path(models_dir, name) for name in (spec.weights_asset, spec.labels_asset, "io_places365")]


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


def load_models_at_start() -> None:
    """Load the models once for this process (gunicorn's preload: once in the master), or refuse to start."""
    try:
        get_analyzer()
    except ModelFileError as exc:
        raise ImproperlyConfigured(f"sceneweb cannot start: {exc.message}") from None
