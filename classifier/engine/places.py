"""Places365 scene networks: the registry of scene models (the code of each architecture paired
with the catalogue's record of its weights), a factory by name, and a forward pass that returns
the logits together with the feature map the heatmap needs.

Returning both from the same call (instead of a forward hook that stores the map somewhere)
means concurrent requests can never see each other's features, and there is no second pass.
Networks with global average pooling (ResNet, WideResNet, DenseNet) get class activation maps
from their fc weights; those without (AlexNet, VGG16) get Grad-CAM, computed in `gradcam.py`
from the same forward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models

from classifier.engine import cam, gradcam
from classifier.engine.catalogue import SceneWeights, scene_weights
from classifier.engine.checkpoints import load_checkpoint_into, read_checkpoint
from classifier.engine.wideresnet import build_wideresnet18

# -- the networks, split where the heatmap reads them ---------------------------------------


class CamPass:
    """The result of one forward pass of a network with global average pooling."""

    def __init__(self, logits: torch.Tensor, features: torch.Tensor, class_weights: torch.Tensor):
        self.logits = logits
        self.features = features
        self._class_weights = class_weights

    def grid(self, index: int) -> np.ndarray:
        """CAM of one class: its fc weights dotted with the feature map, in [0, 1]."""
        return cam.class_activation_map(self.features[0], self._class_weights[index])


class SceneNet(nn.Module):
    """A torchvision ResNet split at layer4, so one call yields (logits, layer4 features).

    Subclasses split the other families; every one answers `heatmap_pass`, which the analyzer
    uses to get the logits and a heatmap grid per class out of a single forward pass.
    """

    heatmap = "cam"

    def __init__(self, net: nn.Module):
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

    @contextmanager
    def heatmap_pass(self, batch: torch.Tensor) -> Iterator[CamPass]:
        logits, features = self(batch)
        yield CamPass(logits, features, self.class_weights)


class DenseNetSceneNet(SceneNet):
    """torchvision DenseNet: the CAM reads the final (ReLU'd) dense-block output."""

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.net.features(x))

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.net.classifier(torch.flatten(F.adaptive_avg_pool2d(features, 1), 1))

    @property
    def class_weights(self) -> torch.Tensor:
        return self.net.classifier.weight


class ConvClassifierSceneNet(SceneNet):
    """AlexNet / VGG16: fully connected layers after the last pool, so Grad-CAM on that pool."""

    heatmap = "gradcam"

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x)

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        return self.net.classifier(torch.flatten(self.net.avgpool(features), 1))

    @property
    def class_weights(self) -> torch.Tensor:
        raise TypeError(f"{type(self.net).__name__} has no global average pooling: use Grad-CAM, not CAM")

    @contextmanager
    def heatmap_pass(self, batch: torch.Tensor) -> Iterator[gradcam.GradCamPass]:
        with gradcam.grad_cam_pass(self.features, self.classify, batch) as run:
            yield run


# -- the registry ----------------------------------------------------------------------------


def torchvision_builder(arch: str) -> Callable[[int], nn.Module]:
    """torchvision's `arch` with random weights and `num_classes` outputs (the checkpoint fills them)."""

    def build(num_classes: int) -> nn.Module:
        return models.get_model(arch, weights=None, num_classes=num_classes)

    return build


SCENE_NET_BUILDERS: dict[str, tuple[Callable[[int], nn.Module], type[SceneNet]]] = {
    "resnet18": (torchvision_builder("resnet18"), SceneNet),
    "alexnet": (torchvision_builder("alexnet"), ConvClassifierSceneNet),
    "resnet50": (torchvision_builder("resnet50"), SceneNet),
    "densenet161": (torchvision_builder("densenet161"), DenseNetSceneNet),
    "wideresnet18": (build_wideresnet18, SceneNet),
    "vgg16": (torchvision_builder("vgg16"), ConvClassifierSceneNet),
}
"""By the architecture a `SceneWeights` record names: the builder of the network and how it is split
for the heatmap (which decides the heatmap kind: a property of the network, not of its weights).
Transfer learning's networks are another registry, `architectures.TRANSFER_ARCHITECTURES`."""


@dataclass(frozen=True)
class SceneModelSpec:
    """One scene model: the catalogue's record of its weights and the code that builds the network."""

    weights: SceneWeights
    build: Callable[[int], nn.Module]
    net_class: type[SceneNet]

    @classmethod
    def of(cls, weights: SceneWeights) -> SceneModelSpec:
        build, net_class = SCENE_NET_BUILDERS[weights.arch]
        return cls(weights, build, net_class)

    @property
    def name(self) -> str:
        return self.weights.model

    @property
    def heatmap(self) -> str:
        """ "cam" (fc weights x feature map) or "gradcam" (gradients of the class score)."""
        return self.net_class.heatmap


SCENE_MODELS: dict[str, SceneModelSpec] = {weights.model: SceneModelSpec.of(weights) for weights in scene_weights()}


def scene_model_spec(name: str) -> SceneModelSpec:
    try:
        return SCENE_MODELS[name]
    except KeyError:
        raise ValueError(f"Unknown scene model {name!r}; known: {', '.join(sorted(SCENE_MODELS))}") from None


def build_scene_net(spec: SceneModelSpec) -> SceneNet:
    net = spec.net_class(spec.build(spec.weights.num_classes))
    return net.eval()


def load_scene_net(spec: SceneModelSpec, path: Path, *, install_hint: str) -> SceneNet:
    """Build the architecture and load an official CSAIL checkpoint (or a plain state_dict)."""
    net = build_scene_net(spec)
    checkpoint = read_checkpoint(path, install_hint=install_hint)
    load_checkpoint_into(net.net, checkpoint, path=path, install_hint=install_hint)
    return net.eval()
