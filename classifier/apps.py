import time

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

PROCESS_STARTED = time.monotonic()  # `/api/health` reports uptime from here (Django set-up)


def check_model_settings(config=settings) -> None:
    """Unknown model names stop start-up with the known ones listed, instead of a 503 per request."""
    from classifier.engine.linear_attributes import ATTRIBUTE_SOURCES
    from classifier.engine.places import SCENE_MODELS

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


class ClassifierConfig(AppConfig):
    name = "classifier"
    verbose_name = "Scene classifier"

    def ready(self) -> None:
        check_model_settings()
        from classifier import (
            checks,  # noqa: F401  (registers the model-file check)
            security,  # noqa: F401  (registers the deploy check on private URLs)
        )
