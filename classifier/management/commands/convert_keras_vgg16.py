"""Convert a Keras VGG16-Places365 / Hybrid1365 .h5 into a normal PyTorch checkpoint."""

from __future__ import annotations

from pathlib import Path

from classifier.engine.keras_vgg import DATA_FORMATS, convert_keras_vgg16
from classifier.engine.places import torchvision_builder
from classifier.management.base import SceneWebCommand


class Command(SceneWebCommand):
    requires_system_checks = []  # it makes or reads model files; the missing-model check must not stop it
    help = "Convert Keras VGG16-Places365 (365 classes) or VGG16-Hybrid1365 (1365) weights to a PyTorch checkpoint."

    def add_arguments(self, parser):
        parser.add_argument("source", type=Path, help="the Keras .h5 weights file")
        parser.add_argument("--out", type=Path, required=True, help="where to write the checkpoint (.pth)")
        parser.add_argument("--classes", type=int, choices=(365, 1365), help="default: width of the last layer")
        parser.add_argument(
            "--data-format",
            choices=DATA_FORMATS,
            help="flatten order of the file's first dense layer, when neither its config nor its name says it",
        )

    def handle(self, *args, source: Path, out: Path, classes: int | None, data_format: str | None, **options):
        summary = convert_keras_vgg16(
            source, out, build=torchvision_builder("vgg16"), num_classes=classes, data_format=data_format
        )
        self.stdout.write(
            f"wrote {out}: vgg16, {summary['num_classes']} classes, {summary['data_format']}, "
            f"keras backend {summary['keras_backend'] or 'unknown'}"
        )
