"""What a training run writes, named once: the best checkpoint, its split, the resume state, the
report and its plots.

The two trainers lay them out differently, and their users rely on both layouts: `finetune`
writes a folder per model (`OUT/model.pth`, `OUT/split.json`, ...), `train_attributes` writes
beside the checkpoint the service loads (`X.pth`, `X.split.json`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunFiles:
    checkpoint: Path
    split: Path
    resume: Path
    report: Path
    curves: Path
    confusion: Path | None = None
    """A classifier's confusion matrix; a multi-label head has none."""

    @classmethod
    def in_folder(cls, folder: Path) -> RunFiles:
        """`finetune`'s layout: one folder per model."""
        folder = Path(folder)
        return cls(
            checkpoint=folder / "model.pth",
            split=folder / "split.json",
            resume=folder / "resume.pth",
            report=folder / "metrics.json",
            curves=folder / "curves.png",
            confusion=folder / "confusion.png",
        )

    @classmethod
    def beside(cls, checkpoint: Path) -> RunFiles:
        """`train_attributes`' layout: every file named after the checkpoint, side by side."""
        checkpoint = Path(checkpoint)
        stem = checkpoint.name.removesuffix(".pth")
        return cls(
            checkpoint=checkpoint,
            **{
                field: checkpoint.with_name(stem + suffix)
                for field, suffix in (
                    ("split", ".split.json"),
                    ("resume", ".resume.pth"),
                    ("report", ".report.json"),
                    ("curves", ".curves.png"),
                )
            },
        )
