"""Places365 scene networks: one description per model, a factory by name, and a forward pass
that returns the logits together with the feature map the heatmap needs.

Returning both from the same call (instead of a forward hook that stores the map somewhere)
means concurrent requests can never see each other's features, and there is no second pass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision import models

from classifier.engine.checkpoints import load_weights_into, read_checkpoint, state_dict_of

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class SceneModelSpec:
    """Everything the service, `fetch_models` and the docs need to know about one scene network."""

    name: str
    weights_asset: str
    build: Callable[[int], nn.Module]
    num_classes: int = 365
    labels_asset: str = "categories_places365"
    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    heatmap: str = "cam"
    description: str = ""
    published_top1: float | None = None
    published_top5: float | None = None


class SceneNet(nn.Module):
    """A torchvision ResNet split at layer4, so one call yields (logits, layer4 features)."""

    def __init__(self, net: models.ResNet):
        super().__init__()
        self.net = net

    def features(self, x: torch.Tensor) -> torch.Tensor:
        n = self.net
        x = n.maxpool(n.relu(n.bn1(n.conv1(x))))
        return n.layer4(n.layer3(n.layer2(n.layer1(x))))

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.net.fc(torch.flatten(self.net.avgpool(features), 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(x)
        return self.classify(features), features

    @property
    def class_weights(self) -> torch.Tensor:
        """fc weights, one row per class: the CAM of class c is row c dotted with the features."""
        return self.net.fc.weight


def build_resnet18(num_classes: int) -> nn.Module:
    return models.resnet18(weights=None, num_classes=num_classes)


SCENE_MODELS: dict[str, SceneModelSpec] = {
    spec.name: spec
    for spec in (
        SceneModelSpec(
            name="resnet18",
            weights_asset="resnet18_places365",
            build=build_resnet18,
            description="ResNet-18 trained on Places365-Standard by MIT CSAIL (the default: fast).",
            published_top1=54.74,
            published_top5=85.08,
        ),
    )
}


def scene_model_spec(name: str) -> SceneModelSpec:
    try:
        return SCENE_MODELS[name]
    except KeyError:
        raise ValueError(f"Unknown scene model {name!r}; known: {', '.join(sorted(SCENE_MODELS))}") from None


def build_scene_net(spec: SceneModelSpec) -> SceneNet:
    net = SceneNet(spec.build(spec.num_classes))
    return net.eval()


def load_scene_net(spec: SceneModelSpec, path: Path, *, install_hint: str) -> SceneNet:
    """Build the architecture and load an official CSAIL checkpoint (or a plain state_dict)."""
    net = build_scene_net(spec)
    checkpoint = read_checkpoint(path, install_hint=install_hint)
    load_weights_into(net.net, state_dict_of(checkpoint), path=path, install_hint=install_hint)
    return net.eval()
