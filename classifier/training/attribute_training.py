"""Training and scoring the DenseNet-201 SUN-attribute head.

Defaults follow the reference study: multi-label soft-margin loss, SGD with momentum 0.9 from
lr 0.1, the rate times 0.97 after every epoch, batches of 50, 40 epochs. The best epoch on the
validation split is what gets written, in the format the analyzer loads.

Two modes share that loop. `full` fine-tunes the whole DenseNet-201 on augmented photos (two
days on a 2-core CPU: for GPUs). `head` freezes the trunk, embeds every photo once into its
pooled 1920-d features (cached on disk, see attribute_inputs.py) and trains only the classifier
on them (about an hour on a 2-core CPU); it writes the same full-network checkpoint.

Exact resumption: each epoch draws its shuffling and augmentation from `seed + epoch`, and the
resume file keeps the weights, optimizer, scheduler, history and best score after every epoch,
so one run of N epochs and an interrupted run resumed to N epochs end with the same weights.
What is this trainer's own: the database, the loss and mAP; the epochs, resume files and report
writing are the training core's (loop.py, resume.py, reports.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from classifier.engine.attributes import load_attribute_model, save_attribute_checkpoint
from classifier.engine.errors import DatasetError
from classifier.training.attribute_inputs import Inputs, database_features, feature_inputs, photo_inputs
from classifier.training.device import pick_device
from classifier.training.feature_cache import DEFAULT_CACHE_DIR
from classifier.training.formats import ATTRIBUTES_RESUME
from classifier.training.loop import Log, PassResult, RunState, Score, fit, run_pass
from classifier.training.metrics import mean_average_precision
from classifier.training.pretrained import attribute_net
from classifier.training.reports import Curves, attribute_report, format_report, write_report
from classifier.training.resume import read_resume, restore_training, save_resume
from classifier.training.run_files import RunFiles
from classifier.training.splits import Split
from classifier.training.sun_attributes import SunAttributeDatabase, load_or_make_split, name_differences

MODES = ("full", "head")
CURVE_PANELS = {"loss": ["train_loss", "val_loss"], "mAP": ["train_map", "val_map"]}


@dataclass(frozen=True)
class TrainingOptions:
    epochs: int = 40
    batch_size: int = 50
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0
    gamma: float = 0.97
    image_size: int = 224
    augment: bool = True
    weights: str = "imagenet"
    seed: int = 0
    workers: int = 2
    device: str = "auto"
    mode: str = "full"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        for name in ("epochs", "batch_size", "image_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.image_size < 32:
            raise ValueError(f"image_size must be at least 32 (DenseNet halves it five times), got {self.image_size}")
        if not (self.lr > 0 and 0 < self.gamma <= 1 and self.workers >= 0):
            raise ValueError("lr must be > 0, gamma within (0, 1] and workers >= 0")


RESUME_MUST_MATCH = (
    "batch_size",
    "lr",
    "momentum",
    "weight_decay",
    "gamma",
    "image_size",
    "augment",
    "weights",
    "seed",
    "mode",
)
"""What a resumed run must share with the interrupted one; epochs, workers and device may change."""


def score_attributes(
    module: nn.Module, loader: Iterable, device: torch.device, *, optimizer=None, part: str, **kwargs
) -> PassResult:
    """One pass of the multi-label soft-margin loss; outputs are per-attribute sigmoid scores."""
    module.train(optimizer is not None)
    loss = nn.MultiLabelSoftMarginLoss()
    return run_pass(module, loader, device, loss, torch.sigmoid, optimizer=optimizer, part=part, **kwargs)


def _map(result: PassResult) -> float:
    return mean_average_precision(result.targets, result.outputs)


def train_attributes(
    database: SunAttributeDatabase,
    options: TrainingOptions,
    files: RunFiles,
    *,
    split_path: Path | None = None,
    resume: bool = False,
    reference_names: tuple[Sequence[str], str] | None = None,
    cache_dir: Path | None = None,
    log: Log = print,
    progress: bool = True,
) -> dict:
    """Train, keep the best-on-val checkpoint, then score it on the test split; returns the report."""
    device = pick_device(options.device)
    if reference_names is not None:
        differences = name_differences(database.names, *reference_names)
        log(f"attribute names: {len(differences)} differences from {reference_names[1]}")
        for line in differences[:10]:
            log(f"  {line}")
    split_path = Path(split_path or files.split)
    split, created = load_or_make_split(split_path, database, options.seed)
    log(f"split {'written to' if created else 'reused from'} {split_path}: {split.counts()} images")
    if len(split.train) < options.batch_size:
        raise DatasetError(f"The batch size {options.batch_size} exceeds the {len(split.train)} training images.")

    torch.manual_seed(options.seed)
    net = attribute_net(options.weights, len(database.names)).to(device)
    if options.mode == "head":
        net.requires_grad_(False)
        vectors = database_features(
            net, database, options, device, cache_dir=Path(cache_dir or DEFAULT_CACHE_DIR), log=log, progress=progress
        )
        inputs = feature_inputs(vectors, database, options.batch_size)
        net.classifier.requires_grad_(True)
        if options.augment:
            log("head mode: the trunk is frozen and augmentation is off (the cached features are of the plain photos)")
    else:
        inputs = photo_inputs(database, options, device)
    epochs = Epochs(net, inputs, database, options, files, split, device, progress)
    run = RunState()
    if resume:
        state, run = read_resume(files.resume, ATTRIBUTES_RESUME, asdict(options), _DEFAULTS, RESUME_MUST_MATCH)
        restore_training(state, epochs.trained, epochs.optimizer, epochs.scheduler)
        log(f"resuming after epoch {run.epoch} from {files.resume}")
    what = "the head" if options.mode == "head" else "all layers"
    log(f"training {what} on {device} for epochs {run.epoch + 1}..{options.epochs}")
    fit(epochs, run, options.epochs, log=log)
    return finish(database, options, files, split, run, inputs, device=device, log=log, progress=progress)


_DEFAULTS = asdict(TrainingOptions())
"""A resume file written before an option existed ran with that option's default."""


class Epochs:
    """The epochs of a run (loop.EpochTask): SGD with an exponentially decaying rate on `inputs`."""

    def __init__(self, net, inputs: Inputs, database, options: TrainingOptions, files, split: Split, device, progress):
        self.net, self.inputs, self.database, self.options = net, inputs, database, options
        self.files, self.split, self.device, self.progress = files, split, device, progress
        self.trained = inputs.part_of(net)
        self.optimizer = torch.optim.SGD(
            self.trained.parameters(), lr=options.lr, momentum=options.momentum, weight_decay=options.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, gamma=options.gamma)
        self.val_loader = inputs.loader(split.val, None)

    def train_epoch(self, step: int, run: RunState) -> tuple[dict, Score]:
        torch.manual_seed(self.options.seed + step)
        shuffle = torch.Generator().manual_seed(self.options.seed + step)
        lr = self.optimizer.param_groups[0]["lr"]
        train_loader = self.inputs.loader(self.split.train, shuffle)
        trained = score_attributes(
            self.trained,
            train_loader,
            self.device,
            optimizer=self.optimizer,
            part="train",
            desc=f"epoch {step} train",
            progress=self.progress,
        )
        self.scheduler.step()
        validated = score_attributes(
            self.trained, self.val_loader, self.device, part="val", desc=f"epoch {step} val", progress=self.progress
        )
        row = {
            "epoch": step,
            "lr": lr,
            "train_loss": trained.loss,
            "train_map": _map(trained),
            "val_loss": validated.loss,
            "val_map": _map(validated),
        }
        return row, (-math.inf if math.isnan(row["val_map"]) else row["val_map"],)

    def after_epoch(self, run: RunState, improved: bool) -> None:
        options, split = self.options, self.split
        if improved:
            metrics = {
                "val_map": round(run.best[0], 4),
                "best_epoch": run.best_step,
                "mode": options.mode,
                "image_size": options.image_size,
                "weights": options.weights,
                **{f"{part}_images": len(getattr(split, part)) for part in ("train", "val", "test")},
                "split_seed": split.seed,
                "dataset": "SUN Attribute Database",
            }
            save_attribute_checkpoint(self.files.checkpoint, self.net, self.database.names, metrics)
        save_resume(
            self.files.resume, ATTRIBUTES_RESUME, asdict(options), self.trained, self.optimizer, self.scheduler, run
        )

    def summary(self, row: dict, improved: bool) -> str:
        return (
            f"epoch {row['epoch']}/{self.options.epochs}: train loss {row['train_loss']:.4f} "
            f"mAP {row['train_map']:.4f}, val loss {row['val_loss']:.4f} mAP {row['val_map']:.4f}, "
            f"{row['seconds']:.0f} s" + (f", best so far -> {self.files.checkpoint}" if improved else "")
        )


def finish(
    database: SunAttributeDatabase,
    options: TrainingOptions,
    files: RunFiles,
    split: Split,
    run: RunState,
    inputs: Inputs,
    *,
    device: torch.device,
    log: Log,
    progress: bool,
) -> dict:
    """Score the best checkpoint on the test split; store the score in it; write the report and curves."""
    best = load_attribute_model(files.checkpoint)
    scored = inputs.part_of(best.net).to(device)
    result = score_attributes(scored, inputs.loader(split.test, None), device, part="test", progress=progress)
    report = attribute_report(database.names, result.targets, result.outputs, result.loss, "test")
    metrics = {**best.metrics, "test_map": report["map"]}
    save_attribute_checkpoint(files.checkpoint, best.net, best.names, metrics)
    report = {"checkpoint": str(files.checkpoint), "metrics": metrics, **report, "history": run.history}
    title = f"DenseNet-201 SUN attributes, {options.mode} mode (best epoch {run.best_step})"
    write_report(report, files.report, curves=Curves(files.curves, CURVE_PANELS, title))
    log(format_report(report))
    log(f"checkpoint {files.checkpoint}; report {files.report}; curves {files.curves}")
    return report
