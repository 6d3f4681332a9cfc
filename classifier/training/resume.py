"""Resume files: the state of an interrupted run, written after every epoch, read back by `--resume`.

A file holds its trainer's format tag, the run's options, the weights, optimizer and
scheduler states of the part of the network that trains, and `run`: the `RunState` (epochs
done, history, best score), the same payload for both trainers. Files of `train_attributes`
written before kept the run as separate fields (`epoch`, `history`, `best_epoch`,
`best_val_map`); they are read into a `RunState` too. `--resume` refuses a file whose settings differ from this run's in
any option that shapes the result (a trainer's `must_match`): continuing with another learning
rate or batch size would give a model that neither setting describes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path

from torch import nn, optim

from classifier.engine.checkpoints import read_checkpoint, save_atomically
from classifier.engine.errors import SceneWebError
from classifier.training.loop import RunState

AGAIN = "start again without --resume"


def save_resume(
    path: Path,
    tag: str,
    options: dict,
    module: nn.Module,
    optimizer: optim.Optimizer,
    scheduler: optim.lr_scheduler.LRScheduler,
    run: RunState,
) -> None:
    """Written atomically: an interruption while saving leaves the previous epoch's file."""
    state = {"model": module.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}
    save_atomically({"format": tag, "options": options, **state, "run": asdict(run)}, path)


def read_resume(
    path: Path, tag: str, options: dict, defaults: dict, must_match: Sequence[str]
) -> tuple[dict, RunState]:
    """The saved state and run, once the file is known to be this trainer's and to share this
    run's settings. An option missing from an older file ran with its default."""
    path = Path(path)
    if not path.is_file():
        raise SceneWebError(f"Nothing to resume: {path} is missing; {AGAIN}.", code="resume_missing")
    state = read_checkpoint(path, install_hint=AGAIN)
    if state.get("format") != tag:
        raise SceneWebError(f"{path} is not a {tag} file; {AGAIN}.", code="resume_invalid")
    saved = defaults | state["options"]
    changed = [f"{k} {saved[k]!r} -> {options[k]!r}" for k in must_match if _plain(saved[k]) != _plain(options[k])]
    if changed:
        raise SceneWebError(
            f"--resume must keep the interrupted run's settings, but these differ: {'; '.join(changed)}.",
            code="resume_mismatch",
        )
    return state, _saved_run(state, path)


def _saved_run(state: Mapping, path: Path) -> RunState:
    if "run" in state:
        return RunState.restore(state["run"])
    try:  # the separate fields of train_attributes' earlier files
        best = (float(state["best_val_map"]),)
        return RunState(
            epoch=int(state["epoch"]), history=list(state["history"]), best=best, best_step=state["best_epoch"]
        )
    except (KeyError, TypeError, ValueError):
        raise SceneWebError(f"{path} holds no run to resume; {AGAIN}.", code="resume_invalid") from None


def restore_training(
    state: Mapping, module: nn.Module, optimizer: optim.Optimizer, scheduler: optim.lr_scheduler.LRScheduler
) -> None:
    """Weights, optimizer (momentum buffers) and scheduler exactly as they were after the saved epoch."""
    module.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])


def _plain(value):
    """Tuples come back from a saved file as lists."""
    return list(value) if isinstance(value, (tuple, list)) else value
