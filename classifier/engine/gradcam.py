"""Grad-CAM for networks without global average pooling (AlexNet, VGG16).

CAM needs fc weights that act directly on a pooled feature map; these networks put fully
connected layers in between, so the weight of each feature channel for class c is instead the
spatial mean of d score_c / d features (Selvaraju et al., 2017). The gradients come from the
same forward pass that produced the scores: the trunk runs without autograd, only the head is
recorded, and each grid is one backward pass through the head.

Everything lives in one `GradCamPass` object bound to a `with` block: no hooks, no module
globals, and the graph is released when the block ends, so nothing leaks between requests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import torch

from classifier.engine.cam import normalise


def grad_cam_grid(features: torch.Tensor, gradients: torch.Tensor) -> np.ndarray:
    """One image's Grad-CAM: ReLU(sum_k mean(grad_k) * features_k), min-max normalised to [0, 1].

    `features` and `gradients` are (C, h, w); the grid is (h, w), the layout CAM returns.
    """
    if features.dim() != 3 or features.shape != gradients.shape:
        raise ValueError(
            f"need features and gradients of one shape (C, h, w), got {tuple(features.shape)} and "
            f"{tuple(gradients.shape)}"
        )
    weights = gradients.detach().float().mean(dim=(1, 2))
    grid = torch.relu(torch.einsum("c,chw->hw", weights, features.detach().float()))
    return normalise(grid.numpy())


class GradCamPass:
    """Scores of one image and, on demand, the Grad-CAM grid of any class."""

    def __init__(self, scores: torch.Tensor, features: torch.Tensor):
        self._scores = scores
        self._features = features
        self.logits = scores.detach()
        self.features = features.detach()

    def grid(self, index: int) -> np.ndarray:
        if self._scores is None:
            raise RuntimeError("this Grad-CAM pass has ended; run the network again")
        if not 0 <= index < self._scores.shape[1]:
            raise ValueError(f"class index must be within 0..{self._scores.shape[1] - 1}, got {index}")
        with torch.inference_mode(False), torch.enable_grad():
            (gradients,) = torch.autograd.grad(self._scores[0, index], self._features, retain_graph=True)
        return grad_cam_grid(self.features[0], gradients[0])

    def close(self) -> None:
        self._scores = self._features = None


@contextmanager
def grad_cam_pass(
    features_of: Callable[[torch.Tensor], torch.Tensor],
    classify: Callable[[torch.Tensor], torch.Tensor],
    batch: torch.Tensor,
) -> Iterator[GradCamPass]:
    """Run trunk then head once, recording only the head; autograd is on inside this scope only.

    Works inside the caller's `torch.inference_mode()` (as in the analyzer): the recorded part
    runs with inference mode locally off, on a fresh copy of the batch.
    """
    with torch.inference_mode(False), torch.enable_grad():
        with torch.no_grad():
            features = features_of(batch.clone())
        features = features.detach().requires_grad_(True)
        scores = classify(features)
    run = GradCamPass(scores, features)
    try:
        yield run
    finally:
        run.close()
