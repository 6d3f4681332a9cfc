"""Resume files: one payload for both trainers (the `RunState` under `run`), and the layout of
train_attributes' earlier files still read."""

from __future__ import annotations

import pytest
import torch

from classifier.engine.checkpoints import save_atomically
from classifier.engine.errors import SceneWebError
from classifier.training.formats import ATTRIBUTES_RESUME, FINETUNE_RESUME
from classifier.training.loop import RunState
from classifier.training.resume import read_resume, save_resume

OPTIONS = {"lr": 0.1}


def training_state():
    torch.manual_seed(0)
    module = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1, momentum=0.9)
    return module, optimizer, torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.97)


def test_both_trainers_save_and_read_the_same_run_record(tmp_path):
    run = RunState(phase=1, epoch=2, history=[{"step": 1}, {"step": 2}], best=(0.5, -0.1), best_step=2, seconds=3.0)
    for tag in (FINETUNE_RESUME, ATTRIBUTES_RESUME):
        save_resume(tmp_path / "resume.pth", tag, OPTIONS, *training_state(), run)
        state, resumed = read_resume(tmp_path / "resume.pth", tag, OPTIONS, OPTIONS, ["lr"])
        assert resumed == run
        assert set(state) == {"format", "options", "model", "optimizer", "scheduler", "run"}


def test_an_attribute_resume_file_of_the_earlier_layout_still_resumes(tmp_path):
    module, optimizer, scheduler = training_state()
    history = [{"epoch": 1, "val_map": 0.4}, {"epoch": 2, "val_map": 0.6}]
    earlier = {
        "format": ATTRIBUTES_RESUME,
        "options": OPTIONS,
        "model": module.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": 2,
        "history": history,
        "best_epoch": 2,
        "best_val_map": 0.6,
    }
    save_atomically(earlier, tmp_path / "head.resume.pth")
    _, run = read_resume(tmp_path / "head.resume.pth", ATTRIBUTES_RESUME, OPTIONS, OPTIONS, ["lr"])
    assert (run.epoch, run.history, run.best, run.best_step) == (2, history, (0.6,), 2)


def test_a_resume_file_without_a_run_is_refused_with_what_to_do(tmp_path):
    module = training_state()[0]
    payload = {"format": FINETUNE_RESUME, "options": OPTIONS, "model": module.state_dict()}
    save_atomically(payload, tmp_path / "resume.pth")
    with pytest.raises(SceneWebError, match="holds no run to resume; start again without --resume"):
        read_resume(tmp_path / "resume.pth", FINETUNE_RESUME, OPTIONS, OPTIONS, ["lr"])
