"""The training core's epoch loop on a scripted task: the best-epoch rule, early stopping, and
the order in which a task saves and reports (the trainers' end-to-end tests cover the rest)."""

from __future__ import annotations

import pytest

from classifier.training.loop import RunState, fit


class Scripted:
    """An EpochTask whose validation scores are given in advance; it records what the loop asked."""

    def __init__(self, scores):
        self.scores, self.calls = list(scores), []

    def train_epoch(self, step, run):
        self.calls.append(("train", step, run.epoch))
        return {"step": step}, (self.scores[step - 1],)

    def after_epoch(self, run, improved):
        self.calls.append(("saved", run.history[-1]["step"], improved, run.phase_done))

    def summary(self, row, improved):
        return f"epoch {row['step']}" + (" best" if improved else "")


def test_the_best_epoch_is_the_highest_score_and_patience_stops_the_phase():
    task, lines = Scripted([0.5, 0.7, 0.6, 0.7, 0.65, 0.9]), []
    run = fit(task, RunState(), epochs=6, patience=3, log=lines.append)
    assert (run.best, run.best_step, run.epoch, run.stale) == ((0.7,), 2, 5, 3)  # a tie is no improvement
    assert run.phase_done
    assert lines == ["epoch 1 best", "epoch 2 best", "epoch 3", "epoch 4", "epoch 5",
                     "early stop: no better validation score for 3 epochs"]  # fmt: skip
    assert task.calls[-1] == ("saved", 5, False, True)  # the stop is in the saved state
    assert all("seconds" in row for row in run.history)


def test_a_restored_run_continues_after_its_last_epoch_and_keeps_its_best():
    saved = {"phase": 0, "epoch": 2, "stale": 1, "phase_done": False, "history": [{"step": 1}, {"step": 2}]}
    run = RunState.restore({**saved, "best": [0.8, -0.1], "best_step": 1, "seconds": 3.0})
    task = Scripted([None, None, 0.7, 0.9])
    fit(task, run, epochs=4, log=lambda line: None)
    assert [call[:2] for call in task.calls if call[0] == "train"] == [("train", 3), ("train", 4)]
    assert (run.best, run.best_step) == ((0.9,), 4)


def test_without_patience_every_epoch_runs():
    run = fit(Scripted([0.9, 0.1, 0.1, 0.1]), RunState(), epochs=4, log=lambda line: None)
    assert (run.epoch, run.best_step, run.phase_done) == (4, 1, False)


def test_a_pass_over_no_batches_says_the_part_is_empty():
    import torch

    from classifier.engine.errors import DatasetError
    from classifier.training.loop import run_pass

    with pytest.raises(DatasetError, match="The val part has no images"):
        run_pass(torch.nn.Identity(), [], torch.device("cpu"), torch.nn.functional.mse_loss, torch.sigmoid, part="val")
