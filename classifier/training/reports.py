"""What a classifier run writes and prints: the metrics JSON, the confusion matrix and curves PNGs,
and a short text summary. `finetune` and `evaluate` write the same report."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from classifier.training.attribute_training import write_json
from classifier.training.metrics import classification_scores
from classifier.training.plots import plot_confusion_matrix, plot_curves

CURVE_PANELS = {"loss": ["train_loss", "val_loss"], "accuracy": ["train_accuracy", "val_accuracy"]}


def classifier_report(targets: np.ndarray, probabilities: np.ndarray, classes: Sequence[str], part: str) -> dict:
    return {"split": part, "classes": list(classes), **classification_scores(targets, probabilities, list(classes))}


def format_report(report: dict) -> str:
    top5 = f", top-5 {report['top5_accuracy']:.1%}" if "top5_accuracy" in report else ""
    lines = [
        f"{report['split']}: accuracy {report['accuracy']:.1%}{top5} on {report['images']} images "
        f"(chance {1 / len(report['classes']):.1%}), macro F1 {report['macro_f1']:.3f}",
        f"{'class':<24} {'precision':>9} {'recall':>7} {'f1':>6} {'images':>7}",
    ]
    lines += [
        f"{row['class'][:24]:<24} {row['precision']:>9.3f} {row['recall']:>7.3f} {row['f1']:>6.3f} {row['support']:>7}"
        for row in report["per_class"]
    ]
    return "\n".join(lines)


def write_report_files(
    report: dict, *, metrics: Path, confusion: Path, curves: Path | None = None, history: list | None = None
) -> None:
    metrics.parent.mkdir(parents=True, exist_ok=True)
    write_json(metrics, report)
    title = f"{report['split']}: accuracy {report['accuracy']:.1%}"
    plot_confusion_matrix(report["confusion_matrix"], report["classes"], confusion, title=title)
    if curves is not None and history:
        plot_curves(history, curves, CURVE_PANELS, x="step", title="training (epochs counted over all phases)")
