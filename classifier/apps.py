import time

from django.apps import AppConfig
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

PROCESS_STARTED = time.monotonic()  # `/api/health` reports uptime from here (Django set-up)


def check_model_settings(config=settings) -> None:
    """Unknown model names (and a mirror that is no web address) stop start-up with what to set instead."""
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
    mirror = config.SCENEWEB_MODELS_MIRROR
    if mirror and not mirror.startswith(("https://", "http://")):
        raise ImproperlyConfigured(
            f"SCENEWEB_MODELS_MIRROR={mirror!r} is not an http(s) base URL; give the address under which "
            "the model files can be fetched by name, e.g. https://models.example.org/places365/."
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
