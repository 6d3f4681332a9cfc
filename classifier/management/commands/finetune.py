"""Train a scene classifier on your own image folders (transfer learning)."""

from __future__ import annotations

import argparse
from pathlib import Path

from django.conf import settings

from classifier.engine.architectures import TRANSFER_ARCHITECTURES
from classifier.engine.errors import SceneWebError
from classifier.management.base import SceneWebCommand
from classifier.training.finetune import DEFAULT_EPOCHS, MODES, FinetuneOptions, finetune
from classifier.training.folders import parse_ratios

DEFAULTS = FinetuneOptions()


def block_counts(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected block counts like 1,3,5, got {text!r}") from None


def ratios(text: str) -> tuple[int, int, int]:
    try:
        return parse_ratios(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class Command(SceneWebCommand):
    refused = (SceneWebError, ValueError)  # a ValueError names a bad option
    requires_system_checks = []  # it makes model files; a missing-model check must not stop it
    help = (
        "Train a classifier on DATA (<class>/*.jpg, or train/ val/ test/ holding class folders) and write the "
        "best model, its split, metrics JSON, confusion matrix and training curves into OUT. Serve the model by "
        "adding OUT/model.pth to SCENEWEB_CUSTOM_MODELS."
    )

    def add_arguments(self, parser):
        parser.add_argument("--data", type=Path, required=True, help="image folders, one per class")
        parser.add_argument("--out", type=Path, required=True, help="folder for model.pth and the reports")
        parser.add_argument("--arch", default=DEFAULTS.arch, choices=list(TRANSFER_ARCHITECTURES))
        parser.add_argument(
            "--weights",
            help="places365 (the installed Places365 network; resnet18, resnet50, vgg16, wideresnet18), "
            "imagenet (torchvision's, downloaded once), none (scratch), or a checkpoint PATH; "
            "default places365 where it exists, else imagenet",
        )
        parser.add_argument("--mode", default=DEFAULTS.mode, choices=MODES)
        parser.add_argument(
            "--epochs",
            type=int,
            help=f"epochs per phase (default: {', '.join(f'{m} {n}' for m, n in DEFAULT_EPOCHS.items())})",
        )
        parser.add_argument("--batch-size", type=int, default=DEFAULTS.batch_size)
        parser.add_argument("--lr", type=float, default=DEFAULTS.lr, help="learning rate of the head (AdamW)")
        parser.add_argument(
            "--backbone-lr-factor",
            type=float,
            default=DEFAULTS.backbone_lr_factor,
            help="finetune mode: the unfrozen blocks learn at lr times this",
        )
        parser.add_argument("--weight-decay", type=float, default=DEFAULTS.weight_decay)
        parser.add_argument("--image-size", type=int, help="input side in pixels (default the architecture's own)")
        parser.add_argument(
            "--augment",
            action=argparse.BooleanOptionalAction,
            default=DEFAULTS.augment,
            help="flip, zoom, shift, rotation, colour jitter",
        )
        parser.add_argument("--extra-fc", type=int, default=0, choices=range(4), help="hidden fc layers in the head")
        parser.add_argument(
            "--unfreeze",
            type=block_counts,
            default=DEFAULTS.unfreeze,
            help="finetune mode: trunk blocks trained in each phase, last ones first (default 1,3,5; 0 = head only)",
        )
        parser.add_argument("--patience", type=int, default=DEFAULTS.patience, help="epochs without a better val")
        parser.add_argument("--split", type=ratios, default=DEFAULTS.split, help="train/val/test percent (70/20/10)")
        parser.add_argument("--seed", type=int, default=DEFAULTS.seed, help="seed of the split, init and shuffling")
        parser.add_argument("--workers", type=int, default=DEFAULTS.workers, help="threads decoding the images")
        parser.add_argument("--threads", type=int, default=0, help="PyTorch CPU threads (default one per core)")
        parser.add_argument("--device", default=DEFAULTS.device, help="auto (GPU when present), cpu or cuda")
        parser.add_argument("--name", help="the model's name on the page (default the OUT folder's name)")
        parser.add_argument(
            "--cache-dir", type=Path, help="linear mode's feature cache (default ~/.cache/sceneweb/features)"
        )
        parser.add_argument("--resume", action="store_true", help="continue the interrupted run in OUT")

    def handle(self, *args, **options):
        training = FinetuneOptions(**{name: options[name] for name in FinetuneOptions.__dataclass_fields__})
        report = finetune(
            options["data"],
            options["out"],
            training,
            models_dir=Path(settings.SCENEWEB_MODELS_DIR),
            cache_dir=options["cache_dir"],
            resume=options["resume"],
            log=self.log,
            progress=options["verbosity"] > 0,
        )
        self.log(
            f"to serve it: SCENEWEB_CUSTOM_MODELS={Path(report['checkpoint']).resolve()} (a path relative to "
            "SCENEWEB_MODELS_DIR works too), then restart the service"
        )
