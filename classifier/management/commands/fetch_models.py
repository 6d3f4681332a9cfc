"""Install the model and label files: from their public addresses, or from a local folder.

Besides the scene model's files it installs what scores the SUN attributes on a fresh
install (CSAIL's WideResNet-18 and its attribute matrix) and, with `--from DIR`, a trained
DenseNet-201 head found there. Downloads try SCENEWEB_MODELS_MIRROR first, then each public
address; every file is hash-checked (see `classifier.engine.installer`). Then the networks are
converted for the inference mode (`--mode`, else SCENEWEB_INFERENCE_MODE) into
SCENEWEB_INFERENCE_CACHE_DIR, so that no start of the service has to.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from classifier import runtime
from classifier.engine import catalogue, installer, manifest, places
from classifier.engine.acceleration import INFERENCE_MODES
from classifier.engine.analyzer import SceneAnalyzer
from classifier.engine.errors import DownloadFailed
from classifier.management.base import SceneWebCommand

CONVERTING_MODES = ("auto", "openvino", "onnx")
SAMPLES_WAY_OUT = (
    "without internet access, copy photos with `--samples-from DIR` (and the model files with `--from DIR`), "
    "or set SCENEWEB_MODELS_MIRROR to a server that holds the sample photos under their public names "
    "(6.jpg, 12.jpg; see docs/models.md)"
)


class Command(SceneWebCommand):
    requires_system_checks = []  # it makes or reads model files; the missing-model check must not stop it
    help = (
        "Download (or copy with --from) the Places365 weights, label files and the SUN-attribute matrix "
        "into SCENEWEB_MODELS_DIR (--from also installs a trained densenet201_sunattributes.pth found there)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="source", type=Path, help="install from this folder instead of the internet")
        parser.add_argument(
            "--check",
            action="store_true",
            help="only check every file (sha256 against the manifest, then loading it) and report what is present, "
            "missing, changed or broken",
        )
        parser.add_argument("--force", action="store_true", help="reinstall files that are already installed and valid")
        parser.add_argument("--samples-from", type=Path, help="copy the photos in this folder into the sample gallery")
        parser.add_argument(
            "--samples", action="store_true", help="download the sample photos of the official Places365 demo"
        )
        parser.add_argument("--retries", type=int, default=3, help="download attempts per file (default 3)")
        parser.add_argument("--timeout", type=float, default=60.0, help="read timeout in seconds (default 60)")
        parser.add_argument(
            "--model",
            choices=sorted(places.SCENE_MODELS),
            help="install (or --check) this scene model's files instead of SCENEWEB_SCENE_MODEL's",
        )
        parser.add_argument(
            "--mode",
            choices=INFERENCE_MODES,
            help="convert the networks for this inference mode into SCENEWEB_INFERENCE_CACHE_DIR (default: "
            "SCENEWEB_INFERENCE_MODE; `auto` is resolved from this CPU, so run it on the machine that serves)",
        )
        parser.add_argument(
            "--list", dest="list_models", action="store_true", help="list the scene models, their sizes and status"
        )

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
        model: str | None,
        mode: str | None,
        list_models: bool,
        **options,
    ):
        models_dir = Path(settings.SCENEWEB_MODELS_DIR)
        if list_models:
            self._list(models_dir)
            return
        names = self._selection(model or settings.SCENEWEB_SCENE_MODEL)
        if not check:
            policy = installer.DownloadPolicy(read_timeout=timeout, retries=retries, progress=options["verbosity"] > 0)
            self._install(models_dir, [*names, *self._attribute_files(source)], source, force, policy)
            self._install_samples(samples_from, samples, policy)
        statuses = installer.check(models_dir, [n for n in names if not self._is_conversion_source(n)])
        for status in statuses:
            self.stdout.write(f"{status.state:8} {status.filename:32} {status.detail}")
        attributes = installer.check_attribute_source(models_dir, settings.SCENEWEB_ATTRIBUTES_SOURCE)
        self.stdout.write(f"{attributes.state:8} {'attributes: ' + attributes.source:32} {attributes.detail}")
        if any(s.state != "ok" for s in statuses):
            raise CommandError(
                f"Some model files in {models_dir} are missing, changed or broken; {catalogue.FETCH_HINT}."
            )
        if attributes.state == "broken":  # the service would refuse to start with it
            raise CommandError(f"The SUN-attribute files in {models_dir} are broken: {attributes.detail}")
        if not check:
            self._convert(mode or settings.SCENEWEB_INFERENCE_MODE)

    def _convert(self, mode: str) -> None:
        """Build the analyzer once for the modes that convert their networks (openvino, onnx, and
        `auto`, which may pick openvino): the conversion lands in SCENEWEB_INFERENCE_CACHE_DIR."""
        if not mode.startswith(CONVERTING_MODES):
            return
        recipe = runtime.analyzer_recipe()
        inference = dataclasses.replace(recipe.pop("inference"), mode=mode)
        analyzer = SceneAnalyzer.from_models_dir(**recipe, inference=inference)
        if analyzer.inference.mode.startswith(CONVERTING_MODES):
            self.stdout.write(f"ready    {analyzer.inference.mode} networks in {inference.cache_dir}")

    @staticmethod
    def _selection(model: str) -> list[str]:
        """The default files plus every file of the chosen scene model, without repeats."""
        return list(dict.fromkeys((*catalogue.DEFAULT_ASSETS, *installer.model_assets(model))))

    @staticmethod
    def _attribute_files(source: Path | None) -> list[str]:
        """Downloads always bring the matrix; a folder brings what it holds (the service runs without them)."""
        if source is None:
            return list(catalogue.ATTRIBUTE_MATRIX_ASSETS)
        names = (*catalogue.ATTRIBUTE_MATRIX_ASSETS, catalogue.ATTRIBUTE_HEAD_ASSET)
        return [name for name in names if (source / catalogue.asset_spec(name).filename).is_file()]

    @staticmethod
    def _is_conversion_source(name: str) -> bool:
        return catalogue.converted_into(name) is not None

    def _list(self, models_dir: Path) -> None:
        self.stdout.write(f"{'model':18} {'classes':>7} {'heatmap':8} {'MB':>6} {'top-1':>6}  installed")
        for name, spec in places.SCENE_MODELS.items():
            needed = [n for n in installer.model_assets(name) if not self._is_conversion_source(n)]
            present = sum(manifest.is_installed(models_dir, catalogue.asset_spec(n)) for n in needed)
            state = "yes" if present == len(needed) else ("no" if present == 0 else f"{present}/{len(needed)} files")
            size = sum(catalogue.asset_spec(n).approx_size_mb or 0 for n in needed)
            top1 = f"{spec.weights.published_top1:.1f}" if spec.weights.published_top1 else "-"
            marker = " (SCENEWEB_SCENE_MODEL)" if name == settings.SCENEWEB_SCENE_MODEL else ""
            self.stdout.write(
                f"{name:18} {spec.weights.num_classes:>7} {spec.heatmap:8} {size:>6.0f} {top1:>6}  {state}{marker}"
            )

    def _install(
        self, models_dir: Path, names: list[str], source: Path | None, force: bool, policy: installer.DownloadPolicy
    ) -> None:
        for name in dict.fromkeys(names):
            spec = catalogue.asset_spec(name)
            if not force and manifest.is_installed(models_dir, spec):
                self.stdout.write(f"skipped  {spec.filename} (already installed and valid)")
                continue
            if self._is_conversion_source(name) and self._conversion_installed(models_dir, name, source, force):
                continue
            if spec.derived_from and not (source is not None and (source / spec.filename).is_file()):
                installer.install_derived(name, models_dir)
                self.stdout.write(f"converted {spec.filename} from {catalogue.asset_spec(spec.derived_from).filename}")
            elif source is not None:
                installer.install_from_dir(name, models_dir, source)
                self.stdout.write(f"copied   {spec.filename} from {source}")
            else:
                installer.download(name, models_dir, policy=policy, mirror=settings.SCENEWEB_MODELS_MIRROR or None)
                origin = manifest.read_manifest(models_dir)[spec.filename]["source"]
                self.stdout.write(f"fetched  {spec.filename} from {origin}")

    def _conversion_installed(self, models_dir: Path, name: str, source: Path | None, force: bool) -> bool:
        """A Keras source is not needed when its conversion is installed or brought along."""
        derived = catalogue.converted_into(name)
        if force:
            return False
        brought = source is not None and (source / derived.filename).is_file()
        return brought or manifest.is_installed(models_dir, derived)

    def _install_samples(self, samples_from: Path | None, samples: bool, policy: installer.DownloadPolicy) -> None:
        samples_dir = Path(settings.SCENEWEB_SAMPLES_DIR)
        if samples_from is not None:
            installed = installer.install_samples(samples_dir, samples_from)
            self.stdout.write(f"samples  {len(installed)} photos copied to {samples_dir}")
        if samples:
            installed, origin = self._download_samples(samples_dir, policy)
            self.stdout.write(f"samples  {len(installed)} photos downloaded to {samples_dir} from {origin}")

    @staticmethod
    def _download_samples(samples_dir: Path, policy: installer.DownloadPolicy) -> tuple[list[Path], str]:
        """From SCENEWEB_MODELS_MIRROR first (the photos under their public names), then the public addresses."""
        mirror = settings.SCENEWEB_MODELS_MIRROR
        public = tuple(installer.SAMPLE_URLS)
        choices = [("the public addresses", public)]
        if mirror:
            choices.insert(0, (mirror, tuple(f"{mirror.rstrip('/')}/{Path(url).name}" for url in public)))
        failures = []
        for origin, urls in choices:
            try:
                return installer.download_samples(samples_dir, policy=policy, urls=urls), origin
            except DownloadFailed as exc:
                failures.append(str(exc))
        raise CommandError(f"{' '.join(failures)} {SAMPLES_WAY_OUT[0].upper()}{SAMPLES_WAY_OUT[1:]}.")
