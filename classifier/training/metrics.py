"""Scores for trained models, computed with scikit-learn's well-kept implementations."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.metrics import average_precision_score, confusion_matrix, precision_recall_fscore_support


def average_precisions(targets: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Average precision per column (attribute); NaN where the column has no positive example,
    because AP is undefined there and counting it as 0 or 1 would bend the mean."""
    targets, scores = np.asarray(targets), np.asarray(scores)
    if targets.shape != scores.shape or targets.ndim != 2:
        raise ValueError(f"targets {targets.shape} and scores {scores.shape} must be the same N x K shape")
    result = np.full(targets.shape[1], np.nan)
    for column in range(targets.shape[1]):
        if targets[:, column].any():
            result[column] = average_precision_score(targets[:, column], scores[:, column])
    return result


def mean_average_precision(targets: np.ndarray, scores: np.ndarray) -> float:
    """mAP over the columns where AP is defined; NaN when none is."""
    values = average_precisions(targets, scores)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slice: no positives at all
        return float(np.nanmean(values))


def chance_average_precision(targets: np.ndarray) -> float:
    """The mAP that random scores reach on average: each column's share of positives."""
    targets = np.asarray(targets)
    rates = targets.mean(axis=0)
    return float(rates[targets.any(axis=0)].mean())


def top_k_accuracy(targets: np.ndarray, probabilities: np.ndarray, k: int) -> float:
    """Share of images whose true class is among the k highest scores."""
    top = np.argsort(-np.asarray(probabilities), axis=1)[:, :k]
    return float((top == np.asarray(targets)[:, None]).any(axis=1).mean())


def classification_scores(targets: np.ndarray, probabilities: np.ndarray, classes: list[str]) -> dict:
    """Accuracy, top-5 accuracy (when there are more than 5 classes), per-class precision, recall
    and F1, and the confusion matrix (rows: true class, columns: predicted), for N x K scores."""
    targets, probabilities = np.asarray(targets), np.asarray(probabilities)
    labels = list(range(len(classes)))
    predicted = probabilities.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(targets, predicted, labels=labels, zero_division=0)
    scores = {"images": len(targets), "accuracy": round(float((predicted == targets).mean()), 4)}
    if len(classes) > 5:
        scores["top5_accuracy"] = round(top_k_accuracy(targets, probabilities, 5), 4)
    scores["macro_f1"] = round(float(f1.mean()), 4)
    scores["per_class"] = [
        {
            "class": name,
            "precision": round(float(p), 4),
            "recall": round(float(r), 4),
            "f1": round(float(f), 4),
            "support": int(s),
        }
        for name, p, r, f, s in zip(classes, precision, recall, f1, support, strict=True)
    ]
    scores["confusion_matrix"] = confusion_matrix(targets, predicted, labels=labels).tolist()
    return scores
