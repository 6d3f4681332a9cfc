"""Install the model and label files: from their public addresses, or from a local folder."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from classifier.engine import assets
from classifier.engine.errors import SceneWebError


class Command(BaseCommand):
    help = "Download (or copy with --from) the Places365 weights and label files into SCENEWEB_MODELS_DIR."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="source", type=Path, help="install from this folder instead of the internet")
        parser.add_argument(
            "--check", action="store_true", help="only load every file and report what is present, missing or broken"
        )
        parser.add_argument("--force", action="store_true", help="reinstall files that are already installed and valid")
        parser.add_argument("--samples-from", type=Path, help="copy the photos in this folder into the sample gallery")
        parser.add_argument(
            "--samples", action="store_true", help="download the sample photos of the official Places365 demo"
        )
        parser.add_argument("--retries", type=int, default=3, help="download attempts per file (default 3)")
        parser.add_argument("--timeout", type=float, default=60.0, help="read timeout in seconds (default 60)")

    def handle(
        self,
        *args,
        source: Path | None,
        check: bool,
        force: bool,
        samples_from: Path | None,
        samples: bool,
        retries: int,
        timeout: float,
        **options,
    ):
        models_dir = Path(settings.SCENEWEB_MODELS_DIR)
        try:
            if not check:
                self._install(
                    models_dir,
                    source,
                    force,
                    assets.DownloadPolicy(read_timeout=timeout, retries=retries, progress=options["verbosity"] > 0),
                )
                self._install_samples(samples_from, samples)
        except SceneWebError as exc:
            raise CommandError(exc.message) from exc
        statuses = assets.check(models_dir)
        for status in statuses:
            self.stdout.write(f"{status.state:8} {status.filename:32} {status.detail}")
        if any(s.state != "ok" for s in statuses):
            raise CommandError(f"Some model files in {models_dir} are missing or broken; {assets.FETCH_HINT}.")

    def _install(self, models_dir: Path, source: Path | None, force: bool, policy: assets.DownloadPolicy) -> None:
        for name in assets.DEFAULT_ASSETS:
            spec = assets.asset_spec(name)
            if not force and assets.is_installed(models_dir, spec):
                self.stdout.write(f"skipped  {spec.filename} (already installed and valid)")
                continue
            if source is not None:
                assets.install_from_dir(name, models_dir, source)
                self.stdout.write(f"copied   {spec.filename} from {source}")
            else:
                assets.download(name, models_dir, policy=policy)
                self.stdout.write(f"fetched  {spec.filename} from {spec.url}")

    def _install_samples(self, samples_from: Path | None, samples: bool) -> None:
        samples_dir = Path(settings.SCENEWEB_SAMPLES_DIR)
        if samples_from is not None:
            installed = assets.install_samples(samples_dir, samples_from)
            self.stdout.write(f"samples  {len(installed)} photos copied to {samples_dir}")
        if samples:
            installed = assets.download_samples(samples_dir)
            self.stdout.write(f"samples  {len(installed)} photos downloaded to {samples_dir}")
