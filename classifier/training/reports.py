"""What a run writes and prints at its end: the report JSON, its plots and a short text summary.

Two kinds of report, one writer: a classifier's (`finetune`, `evaluate`: accuracy, per-class
precision/recall/F1, confusion matrix) and the SUN-attribute head's (`train_attributes`,
`evaluate_attributes`: mAP, per-attribute AP, the best and worst attributes).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from classifier.engine.atomic import write_atomically
from classifier.training.metrics import (
    average_precisions,
    chance_average_precision,
    classification_scores,
    mean_average_precision,
)
from classifier.training.plots import plot_confusion_matrix, plot_curves

RANKED = 5
"""Attributes named as the best and as the worst."""


def classifier_report(targets: np.ndarray, probabilities: np.ndarray, classes: Sequence[str], part: str) -> dict:
    return {"split": part, "classes": list(classes), **classification_scores(targets, probabilities, list(classes))}


def attribute_report(names: Sequence[str], targets: np.ndarray, scores: np.ndarray, loss: float, part: str) -> dict:
    aps = average_precisions(targets, scores)
    rows = [
        {"attribute": name, "ap": None if math.isnan(ap) else round(float(ap), 4), "positives": int(positives)}
        for name, ap, positives in zip(names, aps, targets.sum(axis=0), strict=True)
    ]
    ranked = sorted((r for r in rows if r["ap"] is not None), key=lambda r: r["ap"], reverse=True)
    return {
        "split": part,
        "images": len(targets),
        "map": round(mean_average_precision(targets, scores), 4),
        "chance_map": round(chance_average_precision(targets), 4),
        "loss": round(loss, 4),
        "best": ranked[:RANKED],
        "worst": ranked[::-1][:RANKED],
        "per_attribute": rows,
    }


def format_report(report: Mapping) -> str:
    """The printed summary of either kind of report."""
    if "map" in report:
        return "\n".join(
            [
                f"{report['split']} mAP {report['map']:.4f} on {report['images']} images "
                f"(chance {report['chance_map']:.4f}, loss {report['loss']:.4f})",
                "best:  " + ", ".join(f"{r['attribute']} {r['ap']:.3f}" for r in report["best"]),
                "worst: " + ", ".join(f"{r['attribute']} {r['ap']:.3f}" for r in report["worst"]),
            ]
        )
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


def write_json(path: Path, payload: Mapping) -> None:
    write_atomically(Path(path), json.dumps(payload, indent=1))


@dataclass(frozen=True)
class Curves:
    """Training curves of a report's history: one panel per entry (title -> history columns)."""

    path: Path
    panels: Mapping[str, Sequence[str]]
    title: str
    x: str = "epoch"


def write_report(report: Mapping, path: Path, *, curves: Curves | None = None, confusion: Path | None = None) -> None:
    """The report as JSON, its history's curves, and a classifier report's confusion matrix."""
    write_json(path, report)
    if confusion is not None:
        title = f"{report['split']}: accuracy {report['accuracy']:.1%}"
        plot_confusion_matrix(report["confusion_matrix"], report["classes"], confusion, title=title)
    if curves is not None and report.get("history"):
        plot_curves(report["history"], curves.path, curves.panels, x=curves.x, title=curves.title)
