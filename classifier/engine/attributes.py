"""The DenseNet-201 SUN-attribute head: build, save and load the project's checkpoint format.

No public weights exist for it; `manage.py train_attributes` makes them. The checkpoint keeps
the attribute names and training metrics beside the weights so a file explains itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn
from torchvision import models

from classifier.engine.catalogue import ATTRIBUTE_FILENAME
from classifier.engine.checkpoints import load_checkpoint_into, read_checkpoint, save_atomically
from classifier.engine.errors import ModelFileError

CHECKPOINT_FORMAT = "sceneweb-attributes/1"
ARCHITECTURE = "densenet201"
TRAIN_HINT = (
    "train it with `python manage.py train_attributes --data DIR` on the SUN Attribute Database "
    f"(see docs/training.md, 'SUN attributes'), which writes models/{ATTRIBUTE_FILENAME}"
)


def build_attribute_net(num_attributes: int = 102, weights: models.WeightsEnum | None = None) -> nn.Module:
    """torchvision DenseNet-201 with a fresh num_attributes-way head; `weights` start the trunk (training)."""
    net = models.densenet201(weights=weights)
    net.classifier = nn.Linear(net.classifier.in_features, num_attributes)
    return net


def attribute_checkpoint(net: nn.Module, names: Sequence[str], metrics: Mapping | None = None) -> dict:
    return {
        "format": CHECKPOINT_FORMAT,
        "arch": ARCHITECTURE,
        "attribute_names": list(names),
        "metrics": dict(metrics or {}),
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
    }


def save_attribute_checkpoint(path: Path, net: nn.Module, names: Sequence[str], metrics: Mapping | None = None) -> None:
    save_atomically(attribute_checkpoint(net, names, metrics), path)


@dataclass
class AttributeModel:
    """The trained head as an `attribute_sources.AttributeSource`."""

    net: nn.Module
    names: tuple[str, ...]
    metrics: dict = field(default_factory=dict)
    name: ClassVar[str] = ARCHITECTURE
    source: ClassVar[str] = ARCHITECTURE
    score_meaning: ClassVar[str] = "probabilities (one sigmoid per attribute, 0 to 1)"
    description: ClassVar[str] = "the DenseNet-201 head trained on the SUN Attribute Database"

    def scores(self, batch: torch.Tensor) -> torch.Tensor:
        """Independent sigmoid per attribute (multi-label), shape (N, attributes)."""
        return torch.sigmoid(self.net(batch))

    def feature_map(self, batch: torch.Tensor) -> torch.Tensor:
        """The last (ReLU'd) dense-block map that the head pools, as torchvision's forward computes it;
        needs the eager network (`attribute_maps`)."""
        return torch.relu(self.net.features(batch))

    def scores_from_features(self, features: torch.Tensor) -> torch.Tensor:
        """`scores` from a `feature_map` already computed: pooled and classified as torchvision's forward does."""
        return torch.sigmoid(self.net.classifier(torch.flatten(nn.functional.adaptive_avg_pool2d(features, 1), 1)))

    @property
    def map_weights(self) -> torch.Tensor:
        return self.net.classifier.weight


def load_attribute_model(path: Path) -> AttributeModel:
    checkpoint = read_checkpoint(path, install_hint=TRAIN_HINT)
    if checkpoint.get("format") != CHECKPOINT_FORMAT or checkpoint.get("arch") != ARCHITECTURE:
        raise ModelFileError(
            f"Attribute file {path} is not a {CHECKPOINT_FORMAT} {ARCHITECTURE} checkpoint "
            f"(format={checkpoint.get('format')!r}, arch={checkpoint.get('arch')!r}); {TRAIN_HINT}.",
            code="weights_invalid",
        )
    names = checkpoint.get("attribute_names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ModelFileError(f"Attribute file {path} has no attribute names; {TRAIN_HINT}.", code="weights_invalid")
    net = build_attribute_net(len(names))
    load_checkpoint_into(net, checkpoint, path=path, install_hint=TRAIN_HINT)
    return AttributeModel(net.eval(), tuple(names), dict(checkpoint.get("metrics") or {}))
