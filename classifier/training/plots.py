"""Training curves as PNG files.

Uses matplotlib's object API with the Agg canvas (no pyplot, no display, no global state), so
plotting is safe from a management command, a worker thread or a test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def plot_curves(
    history: Sequence[Mapping[str, float]],
    path: Path,
    panels: Mapping[str, Sequence[str]],
    *,
    x: str = "epoch",
    title: str = "",
) -> Path:
    """One panel per entry of `panels` (title -> history keys drawn as lines), side by side."""
    figure = Figure(figsize=(5 * len(panels), 4), layout="constrained")
    FigureCanvasAgg(figure)
    xs = [row[x] for row in history]
    for axes, (panel, keys) in zip(figure.subplots(1, len(panels), squeeze=False)[0], panels.items(), strict=True):
        for key in keys:
            axes.plot(xs, [row.get(key, float("nan")) for row in history], marker="o", label=key.replace("_", " "))
        axes.set_title(panel)
        axes.set_xlabel(x)
        axes.grid(alpha=0.3)
        axes.legend()
    if title:
        figure.suptitle(title)
    return _save(figure, path)


def plot_confusion_matrix(
    matrix: Sequence[Sequence[int]], classes: Sequence[str], path: Path, *, title: str = ""
) -> Path:
    """Counts per (true, predicted) class, coloured by the share of each true class's images."""
    counts = np.asarray(matrix, dtype=float)
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    side = max(4.0, 0.5 * len(classes) + 2)
    figure = Figure(figsize=(side + 1, side), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    figure.colorbar(image, ax=axes, label="share of the true class")
    ticks = range(len(classes))
    axes.set_xticks(ticks, classes, rotation=60, ha="right")
    axes.set_yticks(ticks, classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    if len(classes) <= 30:
        for (row, column), count in np.ndenumerate(counts):
            colour = "white" if shares[row, column] > 0.6 else "black"
            axes.text(column, row, f"{count:.0f}", ha="center", va="center", fontsize=8, color=colour)
    if title:
        axes.set_title(title)
    return _save(figure, path)


def _save(figure: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    return path
