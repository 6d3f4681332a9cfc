"""The commands' one base class: a domain error ends the command with its plain words, not a traceback."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from classifier.engine.errors import SceneWebError


class SceneWebCommand(BaseCommand):
    """`handle` calls library code; a `SceneWebError` it raises (and, for commands that list it in
    `refused`, a `ValueError` naming a bad option) becomes a `CommandError`: Django prints the
    message and exits with status 1 (`--traceback` still shows the chain)."""

    refused: tuple[type[Exception], ...] = (SceneWebError,)

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except self.refused as exc:
            raise CommandError(getattr(exc, "message", str(exc))) from exc

    def log(self, line: str) -> None:
        """A line of output that does not tear the progress bar it interrupts."""
        with tqdm.external_write_mode():
            self.stdout.write(line)
