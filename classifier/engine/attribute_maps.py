"""Where each SUN attribute is in the photo: the attribute scorer's own linear layer over the
feature map before pooling, exactly as the scene CAM uses the scene classifier's fc layer.

Both attribute sources end in global average pooling followed by a linear map: CSAIL's matrix
W (102 x 512) over WideResNet-18's pooled layer4 output, and the DenseNet-201 head's
`classifier` over its pooled (ReLU'd) last feature map. Pooling and a linear map commute, so
W applied at every position of the map gives, per attribute, how much each region adds to its
score (the bias and the head's sigmoid change no ranking, so they are left out).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from classifier.engine import cam
from classifier.engine.scores import rounded_grid


@dataclass(frozen=True)
class AttributeMap:
    label: str
    grid: list[list[float]]
    """The attribute's map in [0, 1] at the feature map's resolution (at 224 px: 14 x 14 for
    WideResNet-18, 7 x 7 for DenseNet-201)."""


def attribute_maps(
    features: torch.Tensor, weights: torch.Tensor, names: Sequence[str], labels: Sequence[str]
) -> list[AttributeMap]:
    """Maps for the attributes called `labels`, from one image's feature map (1, C, h, w) or (C, h, w)
    and the attribute scorer's weights (attributes, C) whose rows follow `names`."""
    if features.dim() == 4:
        features = features[0]
    rows = [list(names).index(label) for label in labels]
    grids = cam.linear_maps(features, weights[rows]) if rows else []
    return [AttributeMap(label, rounded_grid(grid)) for label, grid in zip(labels, grids, strict=True)]
