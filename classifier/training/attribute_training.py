"""Training and scoring the DenseNet-201 SUN-attribute head.

Defaults follow the reference study: multi-label soft-margin loss, SGD with momentum 0.9 from
lr 0.1, the rate times 0.97 after every epoch, batches of 50, 40 epochs. The best epoch on the
validation split is what gets written, in the format the analyzer loads.

Two modes share that loop. `full` fine-tunes the whole DenseNet-201 on augmented photos (two
days on a 2-core CPU: for GPUs). `head` freezes the trunk, embeds every photo once into its
pooled 1920-d features (cached on disk, see feature_cache.py) and trains only the classifier on
them (about an hour on a 2-core CPU); it writes the same full-network checkpoint.

Exact resumption: each epoch draws its shuffling and augmentation from `seed + epoch`, and the
resume file keeps the weights, optimizer, scheduler, history and best score after every epoch,
so one run of N epochs and an interrupted run resumed to N epochs end with the same weights.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional
from torch.utils.data import DataLoader, Subset, TensorDataset
from torchvision import models
from tqdm import tqdm

from classifier.engine.acceleration import fused
from classifier.engine.attributes import build_attribute_net, load_attribute_model, save_attribute_checkpoint
from classifier.engine.checkpoints import load_weights_into, read_checkpoint, save_atomically, state_dict_of
from classifier.engine.errors import DatasetError, SceneWebError
from classifier.engine.places import IMAGENET_MEAN, IMAGENET_STD
from classifier.training.feature_cache import DEFAULT_CACHE_DIR, cache_file, image_set_key, streamed_features
from classifier.training.metrics import average_precisions, chance_average_precision, mean_average_precision
from classifier.training.plots import plot_curves
from classifier.training.pretrained import imagenet_net
from classifier.training.sun_attributes import (
    AttributeImages,
    Split,
    SunAttributeDatabase,
    eval_transform,
    load_or_make_split,
    name_differences,
    read_split,
    train_transform,
)

RESUME_FORMAT = "sceneweb-attributes-resume/1"
WEIGHTS_HINT = "pass --weights imagenet, --weights none or --weights PATH to a DenseNet-201 checkpoint"
RANKED = 5
MODES = ("full", "head")

Log = Callable[[str], None]


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


@dataclass(frozen=True)
class TrainingFiles:
    """Everything a run writes, named after the checkpoint so they sit side by side."""

    checkpoint: Path

    def beside(self, suffix: str) -> Path:
        return self.checkpoint.with_name(self.checkpoint.name.removesuffix(".pth") + suffix)

    @property
    def split(self) -> Path:
        return self.beside(".split.json")

    @property
    def resume(self) -> Path:
        return self.beside(".resume.pth")

    @property
    def report(self) -> Path:
        return self.beside(".report.json")

    @property
    def curves(self) -> Path:
        return self.beside(".curves.png")


@contextmanager
def cpu_threads(count: int | None):
    """PyTorch's intra-op threads for one run, restored afterwards. On a CPU shared with other
    work, fewer threads than cores avoids OpenMP threads spinning while they wait for a core."""
    previous = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {name!r}; use auto, cpu or cuda") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no GPU is available to PyTorch")
    return device


# Initial weights ------------------------------------------------------------------------------

_LEGACY_DENSENET_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)


def _modern_densenet_keys(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision's own DenseNet file names layers `norm.1` where its models say `norm1`, and,
    saved before PyTorch 0.4, has no BatchNorm batch counters (which only momentum=None reads)."""
    renamed = {}
    for key, value in state.items():
        match = _LEGACY_DENSENET_KEY.match(key)
        renamed[match.group(1) + match.group(2) if match else key] = value
    for key, value in expected.items():
        if key.endswith(".num_batches_tracked"):
            renamed.setdefault(key, torch.zeros_like(value))
    return renamed


def _imagenet_net(num_attributes: int) -> nn.Module:
    weights = models.DenseNet201_Weights.IMAGENET1K_V1
    return imagenet_net(
        lambda: build_attribute_net(num_attributes, weights), weights, what="DenseNet-201", hint=WEIGHTS_HINT
    )


def _net_from_file(path: Path, num_attributes: int) -> nn.Module:
    """Any DenseNet-201 file (ImageNet, a former attribute head); a head of another size is replaced."""
    net = build_attribute_net(num_attributes)
    expected = net.state_dict()
    state = _modern_densenet_keys(state_dict_of(read_checkpoint(path, install_hint=WEIGHTS_HINT)), expected)
    fresh_head = {k: v for k, v in expected.items() if k.startswith("classifier.")}
    if any(k not in state or state[k].shape != v.shape for k, v in fresh_head.items()):
        state = {k: v for k, v in state.items() if not k.startswith("classifier.")} | fresh_head
    load_weights_into(net, state, path=path, install_hint=WEIGHTS_HINT)
    return net


def initial_net(weights: str, num_attributes: int) -> nn.Module:
    if weights == "none":
        return build_attribute_net(num_attributes)
    if weights == "imagenet":
        return _imagenet_net(num_attributes)
    return _net_from_file(Path(weights), num_attributes)


# One pass over a loader -----------------------------------------------------------------------


@dataclass(frozen=True)
class PassResult:
    loss: float
    targets: np.ndarray
    scores: np.ndarray

    @property
    def map(self) -> float:
        return mean_average_precision(self.targets, self.scores)


def run_pass(
    net: nn.Module,
    loader: DataLoader,
    device: torch.device,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    desc: str = "",
    progress: bool = True,
) -> PassResult:
    """Training when an optimizer is given, scoring otherwise; scores are sigmoid outputs."""
    training = optimizer is not None
    loss_fn = nn.MultiLabelSoftMarginLoss()
    net.train(training)
    total, count, scores, targets = 0.0, 0, [], []
    with torch.set_grad_enabled(training):
        for images, labels in tqdm(loader, desc=desc, unit="batch", leave=False, disable=not progress):
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            logits = net(images)
            loss = loss_fn(logits, labels)
            if training:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            total += loss.item() * len(images)
            count += len(images)
            scores.append(torch.sigmoid(logits).detach().cpu())
            targets.append(labels.cpu())
    if not count:
        raise DatasetError(f"{desc or 'A pass'} saw no images: the split part is empty or smaller than one batch.")
    return PassResult(total / count, torch.cat(targets).numpy(), torch.cat(scores).numpy())


def _loader(
    dataset: AttributeImages, batch_size: int, workers: int, device: torch.device, generator=None
) -> DataLoader:
    """Shuffled, and without a ragged last batch, exactly when a generator is given (training)."""
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=generator is not None,
        drop_last=generator is not None,
        generator=generator,
        num_workers=workers,
        pin_memory=device.type == "cuda",
    )


# Reports --------------------------------------------------------------------------------------


def attribute_report(names: Sequence[str], result: PassResult, part: str = "test") -> dict:
    aps = average_precisions(result.targets, result.scores)
    rows = [
        {"attribute": name, "ap": None if math.isnan(ap) else round(float(ap), 4), "positives": int(positives)}
        for name, ap, positives in zip(names, aps, result.targets.sum(axis=0), strict=True)
    ]
    ranked = sorted((r for r in rows if r["ap"] is not None), key=lambda r: r["ap"], reverse=True)
    return {
        "split": part,
        "images": len(result.targets),
        "map": round(result.map, 4),
        "chance_map": round(chance_average_precision(result.targets), 4),
        "loss": round(result.loss, 4),
        "best": ranked[:RANKED],
        "worst": ranked[::-1][:RANKED],
        "per_attribute": rows,
    }


def format_report(report: dict) -> str:
    lines = [
        f"{report['split']} mAP {report['map']:.4f} on {report['images']} images "
        f"(chance {report['chance_map']:.4f}, loss {report['loss']:.4f})",
        "best:  " + ", ".join(f"{r['attribute']} {r['ap']:.3f}" for r in report["best"]),
        "worst: " + ", ".join(f"{r['attribute']} {r['ap']:.3f}" for r in report["worst"]),
    ]
    return "\n".join(lines)


def score_split(
    net: nn.Module,
    database: SunAttributeDatabase,
    indices: Sequence[int],
    *,
    image_size: int,
    batch_size: int,
    workers: int,
    device: torch.device,
    part: str = "test",
    progress: bool = True,
) -> dict:
    images = AttributeImages(database, indices, eval_transform(image_size))
    result = run_pass(
        net.to(device), _loader(images, batch_size, workers, device), device, desc=part, progress=progress
    )
    return attribute_report(database.names, result, part)


def write_json(path: Path, payload: dict) -> None:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(path)


# Training -------------------------------------------------------------------------------------


@dataclass
class RunState:
    epoch: int = 0
    history: list | None = None
    best_epoch: int | None = None
    best_val_map: float = -math.inf


def _resume_into(path: Path, options: TrainingOptions, net, optimizer, scheduler) -> RunState:
    if not path.is_file():
        raise SceneWebError(f"Nothing to resume: {path} is missing; start without --resume.", code="resume_missing")
    state = read_checkpoint(path, install_hint="start again without --resume")
    if state.get("format") != RESUME_FORMAT:
        raise SceneWebError(f"{path} is not a {RESUME_FORMAT} file; start without --resume.", code="resume_invalid")
    # A resume file written before an option existed ran with that option's default.
    saved, current = asdict(TrainingOptions()) | state["options"], asdict(options)
    changed = [f"{k} {saved[k]!r} -> {current[k]!r}" for k in RESUME_MUST_MATCH if saved[k] != current[k]]
    if changed:
        raise SceneWebError(
            f"--resume must keep the interrupted run's settings, but these differ: {'; '.join(changed)}.",
            code="resume_mismatch",
        )
    net.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    best_epoch = state.get("best_epoch")
    return RunState(int(state["epoch"]), list(state["history"]), best_epoch, float(state["best_val_map"]))


def _save_resume(path: Path, options: TrainingOptions, run: RunState, net, optimizer, scheduler) -> None:
    save_atomically(
        {
            "format": RESUME_FORMAT,
            "epoch": run.epoch,
            "options": asdict(options),
            "model": net.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "history": run.history,
            "best_epoch": run.best_epoch,
            "best_val_map": run.best_val_map,
        },
        path,
    )


def _checkpoint_metrics(options: TrainingOptions, run: RunState, split: Split) -> dict:
    return {
        "val_map": round(run.best_val_map, 4),
        "best_epoch": run.best_epoch,
        "mode": options.mode,
        "image_size": options.image_size,
        "weights": options.weights,
        "train_images": len(split.train),
        "val_images": len(split.val),
        "test_images": len(split.test),
        "split_seed": split.seed,
        "dataset": "SUN Attribute Database",
    }


# What the epoch loop feeds ----------------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    """Batches for one mode, and the part of the DenseNet they feed: photos to the whole network
    (full mode), or cached trunk features to its classifier alone (head mode)."""

    part_of: Callable[[nn.Module], nn.Module]
    loader: Callable[[Sequence[int], torch.Generator | None], DataLoader]
    """Images of the split part given by indices; shuffled and augmented when a generator is given."""


def photo_inputs(database: SunAttributeDatabase, options: TrainingOptions, device: torch.device) -> Inputs:
    def loader(indices: Sequence[int], generator: torch.Generator | None) -> DataLoader:
        size = options.image_size
        transform = train_transform(size, options.augment) if generator else eval_transform(size)
        images = AttributeImages(database, indices, transform)
        return _loader(images, options.batch_size, options.workers, device, generator)

    return Inputs(lambda net: net, loader)


def pooled_features(trunk: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """What torchvision's DenseNet hands its classifier from `trunk` = `net.features`:
    `net(x) == net.classifier(pooled_features(net.features, x))`."""
    return torch.flatten(functional.adaptive_avg_pool2d(functional.relu(trunk(images)), 1), 1)


def database_features(
    net: nn.Module,
    database: SunAttributeDatabase,
    options: TrainingOptions,
    device: torch.device,
    *,
    cache_dir: Path,
    log: Log,
    progress: bool,
) -> torch.Tensor:
    """The frozen trunk's pooled features of every photo, in database order: read from the cache,
    or computed (resuming an interrupted extraction) and cached. The key covers the photos (path,
    size, mtime), the trunk's weights and the input size; random weights count by their seed."""
    weights = f"none (seed {options.seed})" if options.weights == "none" else options.weights
    key = image_set_key(
        [database.image_dir / p for p in database.paths],
        arch="densenet201",
        weights=weights,
        size=options.image_size,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
    )
    all_photos = AttributeImages(database, range(len(database.paths)), eval_transform(options.image_size))
    trunk = fused(net.features.eval())  # the service's default mode: a quarter faster, the same features to 1e-5

    def batches_from(start: int):
        rest = Subset(all_photos, range(start, len(all_photos)))
        for images, _ in _loader(rest, options.batch_size, options.workers, device):
            yield images.to(device, non_blocking=True)

    started = time.perf_counter()
    found = streamed_features(
        cache_dir,
        key,
        lambda images: pooled_features(trunk, images),
        batches_from,
        len(database.paths),
        desc="trunk features",
        progress=progress,
    )
    seconds = time.perf_counter() - started
    where = cache_file(cache_dir, key)
    if found.cached:
        log(f"trunk features of {len(found.vectors)} photos read from {where}")
    else:
        log(f"trunk features of {len(found.vectors)} photos computed into {where} in {seconds:.0f} s")
    return found.vectors


def feature_inputs(vectors: torch.Tensor, database: SunAttributeDatabase, batch_size: int) -> Inputs:
    targets = torch.from_numpy(database.targets)

    def loader(indices: Sequence[int], generator: torch.Generator | None) -> DataLoader:
        rows = torch.as_tensor(list(indices), dtype=torch.long)
        features = TensorDataset(vectors[rows], targets[rows])
        return DataLoader(
            features,
            batch_size=batch_size,
            shuffle=generator is not None,
            drop_last=generator is not None,
            generator=generator,
        )

    return Inputs(lambda net: net.classifier, loader)


# Training -------------------------------------------------------------------------------------


def train_attributes(
    database: SunAttributeDatabase,
    options: TrainingOptions,
    files: TrainingFiles,
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
    log(
        f"split {'written to' if created else 'reused from'} {split_path}: "
        f"{len(split.train)} train, {len(split.val)} val, {len(split.test)} test images"
    )
    if len(split.train) < options.batch_size:
        raise DatasetError(f"The batch size {options.batch_size} exceeds the {len(split.train)} training images.")

    torch.manual_seed(options.seed)
    net = initial_net(options.weights, len(database.names)).to(device)
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
    trained = inputs.part_of(net)
    optimizer = torch.optim.SGD(
        trained.parameters(), lr=options.lr, momentum=options.momentum, weight_decay=options.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=options.gamma)
    run = _resume_into(files.resume, options, trained, optimizer, scheduler) if resume else RunState(history=[])
    if resume:
        log(f"resuming after epoch {run.epoch} from {files.resume}")

    val_loader = inputs.loader(split.val, None)
    what = "the head" if options.mode == "head" else "all layers"
    log(f"training {what} on {device} for epochs {run.epoch + 1}..{options.epochs}")
    for epoch in range(run.epoch + 1, options.epochs + 1):
        started = time.perf_counter()
        torch.manual_seed(options.seed + epoch)
        shuffle = torch.Generator().manual_seed(options.seed + epoch)
        lr = optimizer.param_groups[0]["lr"]
        train_loader = inputs.loader(split.train, shuffle)
        trained_pass = run_pass(
            trained, train_loader, device, optimizer=optimizer, desc=f"epoch {epoch} train", progress=progress
        )
        scheduler.step()
        validated = run_pass(trained, val_loader, device, desc=f"epoch {epoch} val", progress=progress)
        row = {
            "epoch": epoch,
            "lr": lr,
            "train_loss": trained_pass.loss,
            "train_map": trained_pass.map,
            "val_loss": validated.loss,
            "val_map": validated.map,
            "seconds": round(time.perf_counter() - started, 1),
        }
        run.history.append(row)
        run.epoch = epoch
        score = -math.inf if math.isnan(validated.map) else validated.map
        improved = run.best_epoch is None or score > run.best_val_map
        if improved:
            run.best_epoch, run.best_val_map = epoch, score
            save_attribute_checkpoint(files.checkpoint, net, database.names, _checkpoint_metrics(options, run, split))
        _save_resume(files.resume, options, run, trained, optimizer, scheduler)
        log(
            f"epoch {epoch}/{options.epochs}: train loss {row['train_loss']:.4f} mAP {row['train_map']:.4f}, "
            f"val loss {row['val_loss']:.4f} mAP {row['val_map']:.4f}, {row['seconds']:.0f} s"
            + (f", best so far -> {files.checkpoint}" if improved else "")
        )
    return finish(database, options, files, split, run, inputs, device=device, log=log, progress=progress)


def finish(
    database: SunAttributeDatabase,
    options: TrainingOptions,
    files: TrainingFiles,
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
    result = run_pass(scored, inputs.loader(split.test, None), device, desc="test", progress=progress)
    report = attribute_report(database.names, result)
    metrics = {**best.metrics, "test_map": report["map"]}
    save_attribute_checkpoint(files.checkpoint, best.net, best.names, metrics)
    report = {"checkpoint": str(files.checkpoint), "metrics": metrics, **report, "history": run.history}
    write_json(files.report, report)
    plot_curves(
        run.history,
        files.curves,
        {"loss": ["train_loss", "val_loss"], "mAP": ["train_map", "val_map"]},
        title=f"DenseNet-201 SUN attributes, {options.mode} mode (best epoch {run.best_epoch})",
    )
    log(format_report(report))
    log(f"checkpoint {files.checkpoint}; report {files.report}; curves {files.curves}")
    return report


def evaluate_checkpoint(
    database: SunAttributeDatabase,
    checkpoint: Path,
    split_path: Path,
    *,
    image_size: int | None = None,
    batch_size: int = 50,
    workers: int = 2,
    device: str = "auto",
    progress: bool = True,
) -> dict:
    """Re-score a checkpoint on the test part of the split it was trained with."""
    model = load_attribute_model(checkpoint)
    if len(model.names) != len(database.names):
        raise DatasetError(
            f"{checkpoint} predicts {len(model.names)} attributes but the database has {len(database.names)}."
        )
    if not Path(split_path).is_file():
        raise DatasetError(f"The split file {split_path} is missing; pass --split with the file written by training.")
    split = read_split(split_path, database)
    report = score_split(
        model.net,
        database,
        split.test,
        image_size=image_size or int(model.metrics.get("image_size", 224)),
        batch_size=batch_size,
        workers=workers,
        device=pick_device(device),
        progress=progress,
    )
    return {"checkpoint": str(checkpoint), "metrics": model.metrics, **report}
