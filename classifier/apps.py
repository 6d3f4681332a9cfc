import time

from django.apps import AppConfig

PROCESS_STARTED = time.monotonic()  # `/api/health` reports uptime from here (Django set-up)


class ClassifierConfig(AppConfig):
    name = "classifier"
    verbose_name = "Scene classifier"

    def ready(self) -> None:
        from classifier import checks  # registers the system checks

        checks.check_settings()
