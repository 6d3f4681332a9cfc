"""Transfer learning on a user's image folders: one network, three ways to train it.

- `linear`: the trunk is frozen, so its features are computed once (and cached on disk) and
  only the head trains, on the cached vectors: minutes on a CPU.
- `finetune`: progressive unfreezing in phases (`--unfreeze 1,3,5` unfreezes the last 1, then
  3, then 5 blocks), the unfrozen blocks at a tenth of the head's learning rate, each phase
  starting from the best weights of the one before.
- `scratch`: every layer from random weights.

Every epoch is scored on the validation part; the best epoch is the checkpoint (in the format
the service loads), training stops after `patience` epochs without improvement, and a resume
file written after each epoch lets an interrupted run continue where it stopped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from classifier.engine import assets
from classifier.engine.architectures import ARCHITECTURES, Architecture, TransferNet, architecture
from classifier.engine.checkpoints import read_checkpoint, save_atomically, state_dict_of
from classifier.engine.custom import CHECKPOINT_FORMAT, load_custom_model, save_custom_checkpoint
from classifier.engine.errors import DatasetError, SceneWebError
from classifier.engine.places import SCENE_MODELS, load_scene_net, migrate_state_dict
from classifier.training.attribute_training import cpu_threads, pick_device
from classifier.training.augment import Augmentation, normalise
from classifier.training.feature_cache import DEFAULT_CACHE_DIR, cache_key, cached_features
from classifier.training.folders import DEFAULT_RATIOS, PARTS, Pixels, Split, load_or_make_split, preload, scan_classes
from classifier.training.pretrained import imagenet_net
from classifier.training.reports import classifier_report, format_report, write_report_files

MODES = ("linear", "finetune", "scratch")
RESUME_FORMAT = "sceneweb-finetune-resume/1"
DEFAULT_EPOCHS = {"linear": 40, "finetune": 8, "scratch": 30}
"""Per phase. Linear epochs run on cached vectors and cost next to nothing."""
WEIGHTS_HINT = "pass --weights places365 (resnet18/resnet50), imagenet, none, or a PATH to a checkpoint"
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

Log = Callable[[str], None]


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
        return "places365" if self.arch in SCENE_MODELS else "imagenet"

    @property
    def phases(self) -> tuple[int | None, ...]:
        """Trunk blocks trained in each phase: the last N (finetune), none (linear), all (scratch: None)."""
        return {"linear": (0,), "scratch": (None,)}.get(self.mode, self.unfreeze)


@dataclass(frozen=True)
class OutputFiles:
    folder: Path

    checkpoint = property(lambda self: self.folder / "model.pth")
    split = property(lambda self: self.folder / "split.json")
    resume = property(lambda self: self.folder / "resume.pth")
    metrics = property(lambda self: self.folder / "metrics.json")
    confusion = property(lambda self: self.folder / "confusion.png")
    curves = property(lambda self: self.folder / "curves.png")


# -- initial weights ---------------------------------------------------------------------------


def _imagenet_source(spec: Architecture) -> nn.Module:
    return imagenet_net(lambda: spec.torchvision_net(spec.imagenet), spec.imagenet, what=spec.name, hint=WEIGHTS_HINT)


def _places_source(spec: Architecture, models_dir: Path) -> nn.Module:
    if spec.name not in SCENE_MODELS:
        raise SceneWebError(
            f"Places365 weights exist here for {', '.join(sorted(set(SCENE_MODELS) & set(ARCHITECTURES)))} only, "
            f"not {spec.name}; {WEIGHTS_HINT}.",
            code="weights_unavailable",
        )
    scene = SCENE_MODELS[spec.name]
    return load_scene_net(scene, places_weights_path(spec, models_dir), install_hint=assets.FETCH_HINT).net


def places_weights_path(spec: Architecture, models_dir: Path) -> Path:
    return assets.asset_path(Path(models_dir), SCENE_MODELS[spec.name].weights_asset)


def _file_source(spec: Architecture, path: Path) -> nn.Module | TransferNet:
    """A former custom model (its trunk is reused) or a torchvision state_dict of the architecture
    (its classifier, of whatever size, is dropped)."""
    checkpoint = read_checkpoint(path, install_hint=WEIGHTS_HINT)
    state = state_dict_of(checkpoint)
    if checkpoint.get("format") == CHECKPOINT_FORMAT:
        if checkpoint.get("arch") != spec.name:
            raise SceneWebError(f"{path} is a {checkpoint.get('arch')} model, not {spec.name}.", code="weights_wrong")
        donor = spec.transfer_net(len(checkpoint["classes"]), int(checkpoint.get("extra_fc", 0)))
        donor.load_state_dict(state)
        return donor
    net = spec.torchvision_net()
    state = migrate_state_dict(state, net)
    expected = net.state_dict()
    trunk = {k: v for k, v in state.items() if k in expected and v.shape == expected[k].shape}
    missing = [k for k in expected if k not in trunk and not k.startswith(("fc.", "classifier."))]
    if missing:
        raise SceneWebError(
            f"{path} does not fit {spec.name}: {len(missing)} trunk weights missing "
            f"(e.g. {missing[0]}); {WEIGHTS_HINT}.",
            code="weights_wrong",
        )
    net.load_state_dict(trunk, strict=False)
    return net


def initial_net(options: FinetuneOptions, num_classes: int, models_dir: Path) -> TransferNet:
    """The network to train: the chosen starting weights in the trunk, a fresh head."""
    spec, weights = options.spec, options.initial_weights
    torch.manual_seed(options.seed)
    if weights == "none":
        return spec.transfer_net(num_classes, options.extra_fc)
    if weights == "imagenet":
        source = _imagenet_source(spec)
    elif weights == "places365":
        source = _places_source(spec, models_dir)
    else:
        source = _file_source(spec, Path(weights))
    if isinstance(source, TransferNet):
        net = TransferNet(source.blocks, source.feature_dim, num_classes, options.extra_fc)
    else:
        net = spec.transfer_net(num_classes, options.extra_fc, source=source)
    return net


# -- data: pixels (with augmentation) or cached features --------------------------------------


class PixelBatches:
    """Batches of decoded images, augmented (training only), normalised for the network."""

    def __init__(self, parts: dict[str, Pixels], mean, std, augmentation: Augmentation | None):
        self.parts, self.mean, self.std, self.augmentation = parts, mean, std, augmentation

    def count(self, part: str) -> int:
        return len(self.parts[part].labels)

    def batches(self, part: str, batch_size: int, generator: torch.Generator | None = None) -> Iterator:
        pixels = self.parts[part]
        order = torch.randperm(self.count(part), generator=generator) if generator else torch.arange(self.count(part))
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            if generator is not None and len(chosen) < 2:
                continue  # BatchNorm cannot train on a single image
            images = pixels.images[chosen].float().div_(255)
            if generator is not None and self.augmentation is not None:
                images = self.augmentation(images, generator)
            yield normalise(images, self.mean, self.std), pixels.labels[chosen]


class FeatureBatches:
    """Batches of cached trunk features (the linear mode)."""

    def __init__(self, parts: dict[str, tuple[torch.Tensor, torch.Tensor]]):
        self.parts = parts

    def count(self, part: str) -> int:
        return len(self.parts[part][1])

    def batches(self, part: str, batch_size: int, generator: torch.Generator | None = None) -> Iterator:
        vectors, labels = self.parts[part]
        order = torch.randperm(len(labels), generator=generator) if generator else torch.arange(len(labels))
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            yield vectors[chosen], labels[chosen]


@dataclass(frozen=True)
class PassResult:
    loss: float
    targets: np.ndarray
    probabilities: np.ndarray

    @property
    def accuracy(self) -> float:
        return float((self.probabilities.argmax(axis=1) == self.targets).mean())


def run_pass(
    module: nn.Module,
    data,
    part: str,
    batch_size: int,
    device: torch.device,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    generator: torch.Generator | None = None,
    desc: str = "",
    progress: bool = True,
) -> PassResult:
    """Training when an optimizer is given, scoring otherwise."""
    training = optimizer is not None
    total, probabilities, targets = 0.0, [], []
    batches = math.ceil(data.count(part) / batch_size)
    with torch.set_grad_enabled(training):
        for inputs, labels in tqdm(
            data.batches(part, batch_size, generator),
            total=batches,
            desc=desc,
            unit="batch",
            leave=False,
            disable=not progress,
        ):
            inputs, labels = inputs.to(device), labels.to(device)
            logits = module(inputs)
            loss = nn.functional.cross_entropy(logits, labels)
            if training:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            total += loss.item() * len(labels)
            probabilities.append(torch.softmax(logits.detach().float(), dim=1).cpu())
            targets.append(labels.cpu())
    if not targets:
        raise DatasetError(f"The {part} part has no images (or fewer than a batch); add images or change --split.")
    count = sum(len(t) for t in targets)
    return PassResult(total / count, torch.cat(targets).numpy(), torch.cat(probabilities).numpy())


# -- phases ------------------------------------------------------------------------------------


def trainable_module(net: TransferNet, mode: str) -> nn.Module:
    """What the optimizer sees and the batches feed: the head alone on features, or the whole net."""
    return net.head if mode == "linear" else net


def set_trainable(net: TransferNet, blocks: int | None) -> list[nn.Module]:
    """Freeze all but the last `blocks` trunk blocks (None: train everything); returns the unfrozen."""
    children = list(net.blocks.children())
    unfrozen = children if blocks is None else children[len(children) - min(blocks, len(children)) :]
    for child in children:
        child.requires_grad_(any(child is u for u in unfrozen))
    net.head.requires_grad_(True)
    return unfrozen


def train_mode(net: TransferNet, unfrozen: list[nn.Module]) -> None:
    """Frozen blocks stay in eval mode, so BatchNorm keeps the statistics of the pretrained weights."""
    net.eval()
    net.head.train()
    for block in unfrozen:
        block.train()


def make_optimizer(net: TransferNet, unfrozen: list[nn.Module], options: FinetuneOptions) -> torch.optim.Optimizer:
    backbone_lr = options.lr if options.mode == "scratch" else options.lr * options.backbone_lr_factor
    groups = [{"params": list(net.head.parameters()), "lr": options.lr}]
    trunk = [p for block in unfrozen for p in block.parameters()]
    if trunk:
        groups.append({"params": trunk, "lr": backbone_lr})
    return torch.optim.AdamW(groups, weight_decay=options.weight_decay)


# -- the run -----------------------------------------------------------------------------------


@dataclass
class RunState:
    phase: int = 0
    epoch: int = 0
    """Epochs done in the current phase."""
    stale: int = 0
    """Epochs since the best one."""
    phase_done: bool = False
    history: list = field(default_factory=list)
    best: tuple[float, float] = (-math.inf, -math.inf)
    """(val accuracy, -val loss) of the best epoch: accuracy first, loss breaks ties."""
    best_step: int | None = None
    seconds: float = 0.0


def _save_resume(files: OutputFiles, options: FinetuneOptions, run: RunState, net, optimizer, scheduler) -> None:
    save_atomically(
        {
            "format": RESUME_FORMAT,
            "options": asdict(options),
            "run": asdict(run),
            "model": net.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
        },
        files.resume,
    )


def _read_resume(files: OutputFiles, options: FinetuneOptions) -> dict:
    if not files.resume.is_file():
        raise SceneWebError(
            f"Nothing to resume: {files.resume} is missing; run without --resume.", code="resume_missing"
        )
    state = read_checkpoint(files.resume, install_hint="run again without --resume")
    if state.get("format") != RESUME_FORMAT:
        raise SceneWebError(f"{files.resume} is not a {RESUME_FORMAT} file.", code="resume_invalid")
    saved, current = state["options"], asdict(options)
    changed = [
        f"{k} {saved.get(k)!r} -> {current[k]!r}"
        for k in RESUME_MUST_MATCH
        if _plain(saved.get(k)) != _plain(current[k])
    ]
    if changed:
        raise SceneWebError(
            f"--resume must keep the interrupted run's settings, but these differ: {'; '.join(changed)}.",
            code="resume_mismatch",
        )
    return state


def _plain(value):
    return list(value) if isinstance(value, (tuple, list)) else value


def _restore_run(saved: dict) -> RunState:
    run = RunState(**saved)
    run.best = tuple(run.best)
    return run


def prepare_data(
    options: FinetuneOptions,
    split: Split,
    net: TransferNet,
    device: torch.device,
    *,
    cache_dir: Path,
    models_dir: Path,
    log: Log,
    progress: bool,
):
    spec = options.spec
    weights = options.initial_weights
    if weights == "places365":
        weights = str(places_weights_path(spec, models_dir))  # the file's size and date join the cache key
    present = [p for p in PARTS if split.parts[p]]

    def pixels(part: str) -> Pixels:
        loaded = preload(
            split.parts[part], options.size, workers=options.workers, desc=f"decode {part}", progress=progress
        )
        for line in loaded.skipped[:5]:
            log(f"skipped unreadable image {line}")
        if len(loaded.skipped) > 5:
            log(f"... and {len(loaded.skipped) - 5} more unreadable images skipped")
        return loaded

    if options.mode != "linear":
        augmentation = Augmentation() if options.augment else None
        return PixelBatches({p: pixels(p) for p in present}, spec.mean, spec.std, augmentation)
    features = {}
    for part in present:
        key = cache_key(
            split.parts[part],
            arch=spec.name,
            weights=weights,
            size=options.size,
            mean=spec.mean,
            std=spec.std,
        )
        found = cached_features(
            cache_dir,
            key,
            net.to(device),
            lambda part=part: pixels(part),
            spec.mean,
            spec.std,
            batch_size=options.batch_size,
            progress=progress,
        )
        log(f"{part} features {'read from' if found.cached else 'computed into'} {cache_dir / key}.pt")
        features[part] = (found.vectors, found.labels)
    if options.augment:
        log("linear mode: augmentation is off (the cached features are of the plain images)")
    return FeatureBatches(features)


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
    files = OutputFiles(Path(out_dir))
    cache_dir = Path(cache_dir or DEFAULT_CACHE_DIR)
    name = options.name or files.folder.resolve().name
    with cpu_threads(options.threads):
        device = pick_device(options.device)
        split, created = load_or_make_split(Path(data_dir), files.split, options.split, options.seed)
        log(f"split {'written to' if created else 'reused from'} {files.split}: {split.counts()}")
        log(f"{len(split.classes)} classes: {', '.join(split.classes)}")
        net = initial_net(options, len(split.classes), models_dir).to(device)
        data = prepare_data(
            options, split, net, device, cache_dir=cache_dir, models_dir=models_dir, log=log, progress=progress
        )
        run = _train(net, data, options, files, split, device, name=name, resume=resume, log=log, progress=progress)
        return _finish(net, data, options, files, split, run, device, log=log, progress=progress)


def _save_best(net: TransferNet, options: FinetuneOptions, files: OutputFiles, split: Split, name: str, run) -> None:
    spec = options.spec
    metrics = {
        "val_accuracy": round(run.best[0], 4),
        "best_step": run.best_step,
        "mode": options.mode,
        "weights": options.initial_weights,
        "train_images": len(split.parts["train"]),
        "val_images": len(split.parts["val"]),
        "test_images": len(split.parts["test"]),
    }
    save_custom_checkpoint(
        files.checkpoint,
        net,
        name=name,
        arch=spec.name,
        classes=split.classes,
        input_size=options.size,
        mean=spec.mean,
        std=spec.std,
        extra_fc=options.extra_fc,
        metrics=metrics,
    )


def _train(net, data, options, files, split, device, *, name, resume, log, progress) -> RunState:
    saved = _read_resume(files, options) if resume else None
    run = _restore_run(saved["run"]) if saved else RunState()
    if saved:
        net.load_state_dict(saved["model"])
        log(f"resuming at phase {run.phase + 1}, after epoch {run.epoch}, from {files.resume}")
    module = trainable_module(net, options.mode)
    epochs = options.phase_epochs
    for phase_index, blocks in enumerate(options.phases):
        if phase_index < run.phase:
            continue
        if phase_index > run.phase:
            run = replace(run, phase=phase_index, epoch=0, stale=0, phase_done=False)
            net.load_state_dict(state_dict_of(read_checkpoint(files.checkpoint, install_hint="run again")))
        unfrozen = set_trainable(net, blocks)
        optimizer = make_optimizer(net, unfrozen, options)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
        if saved and phase_index == run.phase:
            optimizer.load_state_dict(saved["optimizer"])
            scheduler.load_state_dict(saved["scheduler"])
        label = "all blocks" if blocks is None else f"last {blocks} of {len(net.blocks)} blocks"
        if options.mode == "linear":
            label = "head only, on cached features"
        if not run.phase_done and run.epoch < epochs:
            log(f"phase {phase_index + 1}/{len(options.phases)} ({label}): epochs {run.epoch + 1}..{epochs}")
        while not run.phase_done and run.epoch < epochs:
            _epoch(net, module, unfrozen, data, optimizer, scheduler, options, run, device, progress=progress)
            if run.history[-1]["best"]:
                _save_best(net, options, files, split, name, run)
            run.phase_done = run.stale >= options.patience
            _save_resume(files, options, run, net, optimizer, scheduler)
            log(_epoch_summary(run.history[-1]))  # after the saves, so an interruption here loses nothing
            if run.phase_done:
                log(f"early stop: no better val accuracy for {options.patience} epochs")
    log(f"training took {run.seconds:.0f} s; best val accuracy {run.best[0]:.1%} at epoch {run.best_step}")
    return run


def _epoch(net, module, unfrozen, data, optimizer, scheduler, options, run, device, *, progress) -> None:
    started = time.perf_counter()
    run.epoch += 1
    step = len(run.history) + 1
    generator = torch.Generator().manual_seed(options.seed * 100_003 + step)
    train_mode(net, unfrozen)
    lr = optimizer.param_groups[0]["lr"]
    trained = run_pass(
        module,
        data,
        "train",
        options.batch_size,
        device,
        optimizer=optimizer,
        generator=generator,
        desc=f"epoch {step} train",
        progress=progress,
    )
    scheduler.step()
    net.eval()
    validated = run_pass(module, data, "val", options.batch_size, device, desc=f"epoch {step} val", progress=progress)
    score = (validated.accuracy, -validated.loss)
    improved = score > run.best
    if improved:
        run.best, run.best_step, run.stale = score, step, 0
    else:
        run.stale += 1
    seconds = time.perf_counter() - started
    run.seconds += seconds
    run.history.append(
        {
            "step": step,
            "phase": run.phase + 1,
            "epoch": run.epoch,
            "lr": lr,
            "train_loss": round(trained.loss, 5),
            "train_accuracy": round(trained.accuracy, 5),
            "val_loss": round(validated.loss, 5),
            "val_accuracy": round(validated.accuracy, 5),
            "seconds": round(seconds, 1),
            "elapsed": round(run.seconds, 1),
            "best": improved,
        }
    )


def _epoch_summary(row: dict) -> str:
    return (
        f"epoch {row['step']} (phase {row['phase']}): train loss {row['train_loss']:.4f} "
        f"acc {row['train_accuracy']:.1%}, val loss {row['val_loss']:.4f} acc {row['val_accuracy']:.1%}, "
        f"{row['seconds']:.0f} s" + (" (best so far, saved)" if row["best"] else "")
    )


def _finish(net, data, options, files, split, run: RunState, device, *, log, progress) -> dict:
    """Score the best checkpoint on the test part (val when there is none); write the report files."""
    net.load_state_dict(state_dict_of(read_checkpoint(files.checkpoint, install_hint="run again")))
    net.eval()
    part = "test" if split.parts["test"] else "val"
    result = run_pass(trainable_module(net, options.mode), data, part, options.batch_size, device, progress=progress)
    report = classifier_report(result.targets, result.probabilities, split.classes, part)
    report = {
        "checkpoint": str(files.checkpoint),
        "options": {**asdict(options), "weights": options.initial_weights, "image_size": options.size},
        "split_file": str(files.split),
        "training_seconds": round(run.seconds, 1),
        "best_step": run.best_step,
        "val_accuracy": round(run.best[0], 4),
        **report,
        "history": run.history,
    }
    write_report_files(
        report, metrics=files.metrics, confusion=files.confusion, curves=files.curves, history=run.history
    )
    log(format_report(report))
    log(f"model {files.checkpoint}; metrics {files.metrics}; plots {files.confusion}, {files.curves}")
    return report


# -- re-scoring a saved model ----------------------------------------------------------------


def evaluate_folder(
    model_path: Path,
    data_dir: Path,
    *,
    batch_size: int = 64,
    workers: int = 2,
    device: str = "auto",
    out_dir: Path | None = None,
    progress: bool = True,
) -> dict:
    """Score a saved model on every image of `data_dir/<class>/` (or of `data_dir/test/` when present).

    Folder names must be classes of the model; a folder may hold a subset of them."""
    model = load_custom_model(model_path)
    data_dir = Path(data_dir)
    folder = data_dir / "test" if (data_dir / "test").is_dir() else data_dir
    _, samples = scan_classes(folder, model.classes)
    pixels = preload(samples, model.input_size, workers=workers, desc="decode", progress=progress)
    target = pick_device(device)
    data = PixelBatches({"test": pixels}, model.mean, model.std, augmentation=None)
    result = run_pass(model.net.to(target), data, "test", batch_size, target, desc="score", progress=progress)
    report = {
        "checkpoint": str(model_path),
        "data": str(folder),
        "skipped": list(pixels.skipped),
        **classifier_report(result.targets, result.probabilities, model.classes, folder.name),
    }
    if out_dir is not None:
        out_dir = Path(out_dir)
        write_report_files(report, metrics=out_dir / "metrics.json", confusion=out_dir / "confusion.png")
    return report
