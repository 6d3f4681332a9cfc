"""Train the DenseNet-201 SUN-attribute head on the SUN Attribute Database."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from classifier.engine import catalogue
from classifier.engine.attributes import ATTRIBUTE_FILENAME
from classifier.engine.errors import SceneWebError
from classifier.engine.labels import read_attribute_names
from classifier.management.base import SceneWebCommand
from classifier.training.attribute_training import MODES, TrainingOptions, train_attributes
from classifier.training.device import cpu_threads
from classifier.training.feature_cache import DEFAULT_CACHE_DIR
from classifier.training.run_files import RunFiles
from classifier.training.sun_attributes import SunAttributeFiles, read_database

DEFAULTS = TrainingOptions()


def add_database_arguments(parser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        required=True,
        help="the folder holding the release's SUNAttributeDB/ and images/ folders, or the folder with images.mat, "
        "attributes.mat and attributeLabels_continuous.mat",
    )
    parser.add_argument(
        "--images", type=Path, help="image folder (default images/ beside the .mat files or beside their folder)"
    )
    parser.add_argument("--images-mat", type=Path, help="images.mat elsewhere than DATA or DATA/SUNAttributeDB")
    parser.add_argument("--attributes-mat", type=Path, help="attributes.mat elsewhere than DATA or DATA/SUNAttributeDB")
    parser.add_argument(
        "--labels-mat", type=Path, help="attributeLabels_continuous.mat elsewhere than DATA or DATA/SUNAttributeDB"
    )
    parser.add_argument(
        "--threads", type=int, help="CPU threads for PyTorch (default one per core; 1 on a busy shared machine)"
    )


def database_from(options: dict):
    return read_database(
        SunAttributeFiles.in_folder(
            options["data"],
            images_mat=options["images_mat"],
            attributes_mat=options["attributes_mat"],
            labels_mat=options["labels_mat"],
            image_dir=options["images"],
        )
    )


def default_checkpoint() -> Path:
    return Path(settings.SCENEWEB_MODELS_DIR) / ATTRIBUTE_FILENAME


class Command(SceneWebCommand):
    refused = (SceneWebError, ValueError)  # a ValueError names a bad option
    requires_system_checks = []  # it makes or reads model files; the missing-model check must not stop it
    help = (
        "Train the DenseNet-201 SUN-attribute head; the best epoch on the validation split is written where "
        "the service loads it (SCENEWEB_MODELS_DIR/densenet201_sunattributes.pth), with the split, a report "
        "and training curves beside it."
    )

    def add_arguments(self, parser):
        add_database_arguments(parser)
        parser.add_argument(
            "--out", type=Path, help=f"checkpoint to write (default SCENEWEB_MODELS_DIR/{ATTRIBUTE_FILENAME})"
        )
        parser.add_argument("--split", type=Path, help="split file to reuse or create (default beside --out)")
        parser.add_argument(
            "--names", type=Path, help="label file to compare attribute names with (default the installed one)"
        )
        parser.add_argument(
            "--mode",
            choices=MODES,
            default=DEFAULTS.mode,
            help="full: fine-tune every layer (for a GPU); head: freeze the trunk, cache its features, train the "
            "classifier only (about an hour on a 2-core CPU)",
        )
        parser.add_argument("--cache-dir", type=Path, help=f"head mode's feature cache (default {DEFAULT_CACHE_DIR})")
        parser.add_argument(
            "--weights",
            default=DEFAULTS.weights,
            help="initial weights: imagenet (torchvision's, downloaded once), none, or a checkpoint path",
        )
        parser.add_argument("--epochs", type=int, default=DEFAULTS.epochs)
        parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
        parser.add_argument("--lr", type=float, default=DEFAULTS.lr, help="initial learning rate")
        parser.add_argument("--momentum", type=float, default=DEFAULTS.momentum)
        parser.add_argument("--weight-decay", type=float, default=DEFAULTS.weight_decay)
        parser.add_argument("--gamma", type=float, default=DEFAULTS.gamma, help="learning-rate factor per epoch")
        parser.add_argument("--image-size", type=int, default=DEFAULTS.image_size, help="training side in pixels")
        parser.add_argument("--no-augment", dest="augment", action="store_false", help="no random resized crop or flip")
        parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help="seed of the split, init and shuffling")
        parser.add_argument("--workers", type=int, default=DEFAULTS.workers, help="data loader processes")
        parser.add_argument("--device", default=DEFAULTS.device, help="auto (GPU when present), cpu or cuda")
        parser.add_argument(
            "--resume", action="store_true", help="continue the interrupted run of --out exactly where it stopped"
        )

    def handle(self, *args, **options):
        files = RunFiles.beside(options["out"] or default_checkpoint())
        training = TrainingOptions(**{name: options[name] for name in TrainingOptions.__dataclass_fields__})
        database = database_from(options)
        self.log(f"{len(database.paths)} images, {len(database.names)} attributes from {options['data']}")
        with cpu_threads(options["threads"]):
            train_attributes(
                database,
                training,
                files,
                split_path=options["split"],
                resume=options["resume"],
                reference_names=self.reference_names(options["names"]),
                cache_dir=options["cache_dir"],
                log=self.log,
                progress=options["verbosity"] > 0,
            )
        self.log("restart the service to show the new attributes")

    def reference_names(self, path: Path | None):
        path = path or catalogue.asset_path(settings.SCENEWEB_MODELS_DIR, "labels_sunattribute")
        if not path.is_file():
            self.log(f"attribute names not compared: {path} is absent")
            return None
        return read_attribute_names(path, expected=None), path.name
