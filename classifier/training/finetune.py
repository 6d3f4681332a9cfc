"""Transfer learning on a user's image folders: one network, three ways to train it.

- `linear`: the trunk is frozen, so its features are computed once (and cached on disk) and
  only the head trains, on the cached vectors: minutes on a CPU.
- `finetune`: progressive unfreezing in phases (`--unfreeze 1,3,5` unfreezes the last 1, then
  3, then 5 blocks), the unfrozen blocks at a tenth of the head's learning rate, each phase
  starting from the best weights of the one before.
- `scratch`: every layer from random weights.

What is this trainer's own: image folders as data, cross-entropy, accuracy as the score
(validation loss breaks ties), the phases. The epochs, early stopping after `patience` epochs
without improvement, the resume file written after each epoch and the report writing are the
training core's (loop.py, resume.py, reports.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from classifier.engine.architectures import Architecture, TransferNet, architecture
from classifier.engine.checkpoints import read_checkpoint, state_dict_of
from classifier.engine.custom import save_custom_checkpoint
from classifier.training.device import cpu_threads, pick_device
from classifier.training.feature_cache import DEFAULT_CACHE_DIR
from classifier.training.folders import DEFAULT_RATIOS, load_or_make_split
from classifier.training.formats import FINETUNE_RESUME
from classifier.training.loop import Log, PassResult, RunState, Score, fit, run_pass
from classifier.training.phases import make_optimizer, set_trainable, train_mode, trainable_module
from classifier.training.pretrained import places365_model, places_weights_path, transfer_net
from classifier.training.reports import Curves, classifier_report, format_report, write_report
from classifier.training.resume import read_resume, restore_training, save_resume
from classifier.training.run_files import RunFiles
from classifier.training.transfer_data import FeatureSource, prepare_data

MODES = ("linear", "finetune", "scratch")
DEFAULT_EPOCHS = {"linear": 40, "finetune": 8, "scratch": 30}
"""Per phase. Linear epochs run on cached vectors and cost next to nothing."""
RESUME_MUST_MATCH = (
    "arch",
    "weights",
    "mode",
    "batch_size",
    "lr",
    "backbone_lr_factor",
    "weight_decay",
    "image_size",
    "augment",
    "extra_fc",
    "unfreeze",
    "seed",
)
CURVE_PANELS = {"loss": ["train_loss", "val_loss"], "accuracy": ["train_accuracy", "val_accuracy"]}


@dataclass(frozen=True)
class FinetuneOptions:
    arch: str = "resnet18"
    weights: str | None = None
    """places365, imagenet, none or a path; None picks places365 where it exists, else imagenet."""
    mode: str = "finetune"
    epochs: int | None = None
    batch_size: int = 32
    lr: float = 1e-3
    backbone_lr_factor: float = 0.1
    weight_decay: float = 1e-4
    image_size: int | None = None
    augment: bool = True
    extra_fc: int = 0
    unfreeze: tuple[int, ...] = (1, 3, 5)
    patience: int = 5
    seed: int = 0
    split: tuple[int, int, int] = DEFAULT_RATIOS
    workers: int = 2
    threads: int = 0
    device: str = "auto"
    name: str | None = None

    def __post_init__(self) -> None:
        spec = architecture(self.arch)
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.mode == "scratch" and self.weights not in (None, "none"):
            raise ValueError("--mode scratch trains from random weights; leave out --weights or pass --weights none")
        if self.weights == "none" and self.mode != "scratch":
            raise ValueError(f"--mode {self.mode} keeps pretrained layers; use --mode scratch for random weights")
        for name in ("batch_size", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.epochs is not None and self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, got {self.epochs}")
        if self.image_size is not None and self.image_size < spec.min_size:
            raise ValueError(f"{self.arch} needs images of at least {spec.min_size} px, got {self.image_size}")
        if not self.unfreeze or any(n < 0 for n in self.unfreeze):
            raise ValueError(f"--unfreeze takes block counts like 1,3,5; got {self.unfreeze}")
        if not (self.lr > 0 and self.backbone_lr_factor > 0 and self.weight_decay >= 0):
            raise ValueError("lr and the backbone factor must be > 0, weight decay >= 0")

    @property
    def spec(self) -> Architecture:
        return architecture(self.arch)

    @property
    def size(self) -> int:
        return self.image_size or self.spec.input_size

    @property
    def phase_epochs(self) -> int:
        return self.epochs or DEFAULT_EPOCHS[self.mode]

    @property
    def initial_weights(self) -> str:
        if self.weights is not None:
            return self.weights
        if self.mode == "scratch":
            return "none"
        return "places365" if places365_model(self.spec) is not None else "imagenet"

    @property
    def phases(self) -> tuple[int | None, ...]:
        """Trunk blocks trained in each phase: the last N (finetune), none (linear), all (scratch: None)."""
        return {"linear": (0,), "scratch": (None,)}.get(self.mode, self.unfreeze)

    @property
    def backbone_lr(self) -> float:
        return self.lr if self.mode == "scratch" else self.lr * self.backbone_lr_factor


_DEFAULTS = asdict(FinetuneOptions())


def classify(module: nn.Module, data, part: str, batch_size: int, device, *, generator=None, **kwargs) -> PassResult:
    """One pass of cross-entropy over a part of `data` (training when an optimizer is given)."""
    batches = data.batches(part, batch_size, generator)
    softmax = lambda logits: torch.softmax(logits, dim=1)  # noqa: E731
    total = math.ceil(data.count(part) / batch_size)
    return run_pass(module, batches, device, nn.functional.cross_entropy, softmax, part=part, total=total, **kwargs)


def accuracy(result: PassResult) -> float:
    return float((result.outputs.argmax(axis=1) == result.targets).mean())


def finetune(
    data_dir: Path,
    out_dir: Path,
    options: FinetuneOptions,
    *,
    models_dir: Path = Path("models"),
    cache_dir: Path | None = None,
    resume: bool = False,
    log: Log = print,
    progress: bool = True,
) -> dict:
    """Train on `data_dir`, write the best model and its report into `out_dir`; returns the report."""
    files = RunFiles.in_folder(Path(out_dir))
    name = options.name or Path(out_dir).resolve().name
    with cpu_threads(options.threads):
        device = pick_device(options.device)
        split, created = load_or_make_split(files.split, Path(data_dir), options.split, options.seed)
        log(f"split {'written to' if created else 'reused from'} {files.split}: {split.counts()}")
        log(f"{len(split.classes)} classes: {', '.join(split.classes)}")
        weights = options.initial_weights
        net = transfer_net(
            options.spec, weights, len(split.classes), options.extra_fc, seed=options.seed, models_dir=models_dir
        ).to(device)
        features_of = None
        if options.mode == "linear":
            if weights == "places365":
                weights = str(places_weights_path(options.spec, models_dir))  # its size and date join the cache key
            features_of = FeatureSource(net, weights, Path(cache_dir or DEFAULT_CACHE_DIR), options.batch_size)
        data = prepare_data(
            split,
            options.spec,
            size=options.size,
            workers=options.workers,
            augment=options.augment,
            features_of=features_of,
            log=log,
            progress=progress,
        )
        run = _train(net, data, options, files, split, device, name=name, resume=resume, log=log, progress=progress)
        return _finish(net, data, options, files, split, run, device, log=log, progress=progress)


def _train(net, data, options, files, split, device, *, name, resume, log, progress) -> RunState:
    """The phases in turn, each from the best weights of the one before; a resumed run starts
    in the phase and after the epoch where it stopped."""
    run, saved = RunState(), None
    if resume:
        saved, run = read_resume(files.resume, FINETUNE_RESUME, asdict(options), _DEFAULTS, RESUME_MUST_MATCH)
        log(f"resuming at phase {run.phase + 1}, after epoch {run.epoch}, from {files.resume}")
    for phase, blocks in enumerate(options.phases):
        if phase < run.phase:
            continue
        if phase > run.phase:
            run.next_phase(phase)
            net.load_state_dict(state_dict_of(read_checkpoint(files.checkpoint, install_hint="run again")))
        epochs = Phase(net, blocks, data, options, files, split, name, device, progress)
        if saved and phase == run.phase:
            restore_training(saved, net, epochs.optimizer, epochs.scheduler)
        last = options.phase_epochs
        if not run.phase_done and run.epoch < last:
            log(f"phase {phase + 1}/{len(options.phases)} ({epochs.label}): epochs {run.epoch + 1}..{last}")
        fit(epochs, run, last, patience=options.patience, log=log)
    log(f"training took {run.seconds:.0f} s; best val accuracy {run.best[0]:.1%} at epoch {run.best_step}")
    return run


class Phase:
    """The epochs of one phase (loop.EpochTask): its trunk blocks unfrozen, its optimizer and schedule."""

    def __init__(self, net: TransferNet, blocks, data, options, files, split, name, device, progress):
        self.net, self.data, self.options, self.files, self.split = net, data, options, files, split
        self.name, self.device, self.progress = name, device, progress
        self.unfrozen = set_trainable(net, blocks)
        self.module = trainable_module(net, options.mode)
        self.optimizer = make_optimizer(
            net, self.unfrozen, lr=options.lr, backbone_lr=options.backbone_lr, weight_decay=options.weight_decay
        )
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=options.phase_epochs)
        self.label = "all blocks" if blocks is None else f"last {blocks} of {len(net.blocks)} blocks"
        if options.mode == "linear":
            self.label = "head only, on cached features"

    def train_epoch(self, step: int, run: RunState) -> tuple[dict, Score]:
        generator = torch.Generator().manual_seed(self.options.seed * 100_003 + step)
        train_mode(self.net, self.unfrozen)
        lr = self.optimizer.param_groups[0]["lr"]
        size, device, progress = self.options.batch_size, self.device, self.progress
        trained = classify(
            self.module,
            self.data,
            "train",
            size,
            device,
            generator=generator,
            optimizer=self.optimizer,
            desc=f"epoch {step} train",
            progress=progress,
        )
        self.scheduler.step()
        self.net.eval()
        validated = classify(self.module, self.data, "val", size, device, desc=f"epoch {step} val", progress=progress)
        row = {
            "step": step,
            "phase": run.phase + 1,
            "epoch": run.epoch,
            "lr": lr,
            "train_loss": round(trained.loss, 5),
            "train_accuracy": round(accuracy(trained), 5),
            "val_loss": round(validated.loss, 5),
            "val_accuracy": round(accuracy(validated), 5),
        }
        return row, (accuracy(validated), -validated.loss)

    def after_epoch(self, run: RunState, improved: bool) -> None:
        run.history[-1].update(elapsed=round(run.seconds, 1), best=improved)
        if improved:
            self._save_best(run)
        options = asdict(self.options)
        save_resume(self.files.resume, FINETUNE_RESUME, options, self.net, self.optimizer, self.scheduler, run)

    def summary(self, row: dict, improved: bool) -> str:
        return (
            f"epoch {row['step']} (phase {row['phase']}): train loss {row['train_loss']:.4f} "
            f"acc {row['train_accuracy']:.1%}, val loss {row['val_loss']:.4f} acc {row['val_accuracy']:.1%}, "
            f"{row['seconds']:.0f} s" + (" (best so far, saved)" if improved else "")
        )

    def _save_best(self, run: RunState) -> None:
        options, split, spec = self.options, self.split, self.options.spec
        metrics = {
            "val_accuracy": round(run.best[0], 4),
            "best_step": run.best_step,
            "mode": options.mode,
            "weights": options.initial_weights,
            **{f"{part}_images": len(split.parts[part]) for part in ("train", "val", "test")},
        }
        save_custom_checkpoint(
            self.files.checkpoint,
            self.net,
            name=self.name,
            arch=spec.name,
            classes=split.classes,
            input_size=options.size,
            mean=spec.mean,
            std=spec.std,
            extra_fc=options.extra_fc,
            metrics=metrics,
        )


def _finish(net, data, options, files, split, run: RunState, device, *, log, progress) -> dict:
    """Score the best checkpoint on the test part (val when there is none); write the report files."""
    net.load_state_dict(state_dict_of(read_checkpoint(files.checkpoint, install_hint="run again")))
    net.eval()
    part = "test" if split.parts["test"] else "val"
    result = classify(trainable_module(net, options.mode), data, part, options.batch_size, device, progress=progress)
    report = {
        "checkpoint": str(files.checkpoint),
        "options": {**asdict(options), "weights": options.initial_weights, "image_size": options.size},
        "split_file": str(files.split),
        "training_seconds": round(run.seconds, 1),
        "best_step": run.best_step,
        "val_accuracy": round(run.best[0], 4),
        **classifier_report(result.targets, result.outputs, split.classes, part),
        "history": run.history,
    }
    curves = Curves(files.curves, CURVE_PANELS, "training (epochs counted over all phases)", x="step")
    write_report(report, files.report, curves=curves, confusion=files.confusion)
    log(format_report(report))
    log(f"model {files.checkpoint}; metrics {files.report}; plots {files.confusion}, {files.curves}")
    return report
