"""The training loop both trainers run: one pass over batches, and the epochs with the best-epoch rule.

Split as PyTorch Lightning splits a loop from its task, in plain PyTorch: this module knows
nothing of images, losses or metrics. A trainer hands `fit` an `EpochTask` (train one epoch and
score it on validation, keep the best checkpoint, save the resume state, say what happened);
`fit` numbers the epochs, times them, keeps the history and the best score, and stops early
after `patience` epochs without a better one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from classifier.engine.errors import DatasetError

Log = Callable[[str], None]
Score = tuple[float, ...]
"""Higher is better, compared as a tuple: the first value decides, the next ones break ties."""


@dataclass(frozen=True)
class PassResult:
    loss: float
    """Mean loss per example."""
    targets: np.ndarray
    outputs: np.ndarray
    """The network's outputs after `activation` (probabilities or per-label scores), one row an example."""


def run_pass(
    module: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    device: torch.device,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    activation: Callable[[torch.Tensor], torch.Tensor],
    *,
    optimizer: torch.optim.Optimizer | None = None,
    part: str = "",
    desc: str | None = None,
    total: int | None = None,
    progress: bool = True,
) -> PassResult:
    """Training when an optimizer is given, scoring otherwise, on the `part` of the split that
    `batches` yields (`desc` labels the progress bar). Train/eval modes are the caller's: a partly
    frozen network keeps some blocks in eval mode while the rest trains."""
    training = optimizer is not None
    loss_sum, count, outputs, targets = 0.0, 0, [], []
    with torch.set_grad_enabled(training):
        for inputs, labels in tqdm(
            batches, total=total, desc=desc or part, unit="batch", leave=False, disable=not progress
        ):
            inputs, labels = inputs.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            logits = module(inputs)
            loss = loss_fn(logits, labels)
            if training:
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            loss_sum += loss.item() * len(labels)
            count += len(labels)
            outputs.append(activation(logits.detach().float()).cpu())
            targets.append(labels.cpu())
    if not count:
        raise DatasetError(
            f"The {part or 'split'} part has no images (or fewer than one batch to train on); "
            "add images or change the split."
        )
    return PassResult(loss_sum / count, torch.cat(targets).numpy(), torch.cat(outputs).numpy())


@dataclass
class RunState:
    """Where a run stands: what the resume file keeps besides the weights and the optimizer."""

    phase: int = 0
    """The stage of a run trained in stages (progressive unfreezing); 0 for a run of one stage."""
    epoch: int = 0
    """Epochs done in the current phase."""
    stale: int = 0
    """Epochs since the best one."""
    phase_done: bool = False
    """Stopped early: no better score for `patience` epochs."""
    history: list = field(default_factory=list)
    best: Score = (-math.inf,)
    best_step: int | None = None
    """The best epoch, counted over all phases; None before the first."""
    seconds: float = 0.0

    @classmethod
    def restore(cls, saved: dict) -> RunState:
        run = cls(**saved)
        run.best = tuple(run.best)
        return run

    def next_phase(self, phase: int) -> None:
        self.phase, self.epoch, self.stale, self.phase_done = phase, 0, 0, False


class EpochTask(Protocol):
    """What a trainer does in `fit`'s epochs; the trainer's data, loss and metrics live here."""

    def train_epoch(self, step: int, run: RunState) -> tuple[dict, Score]:
        """Train one epoch (its shuffling seeded from `step`), score it on validation: the
        epoch's row of the history and its score."""

    def after_epoch(self, run: RunState, improved: bool) -> None:
        """The row is in `run.history`: write the best checkpoint if `improved`, then the resume file."""

    def summary(self, row: dict, improved: bool) -> str:
        """One line for the log."""


def fit(task: EpochTask, run: RunState, epochs: int, *, patience: int | None = None, log: Log = print) -> RunState:
    """Epochs `run.epoch + 1 .. epochs` of the current phase, unless stopped early; `run` is updated
    in place after each, before the task saves it, so an interruption loses one epoch at most."""
    while not run.phase_done and run.epoch < epochs:
        started = time.perf_counter()
        run.epoch += 1
        step = len(run.history) + 1
        row, score = task.train_epoch(step, run)
        improved = run.best_step is None or score > run.best
        if improved:
            run.best, run.best_step, run.stale = score, step, 0
        else:
            run.stale += 1
        seconds = time.perf_counter() - started
        run.seconds += seconds
        run.history.append({**row, "seconds": round(seconds, 1)})
        run.phase_done = patience is not None and run.stale >= patience
        task.after_epoch(run, improved)
        log(task.summary(run.history[-1], improved))  # after the saves: an interruption here loses nothing
        if run.phase_done:
            log(f"early stop: no better validation score for {patience} epochs")
    return run
