"""Places365 scene networks: one description per model, a factory by name, and a forward pass
that returns the logits together with the feature map the heatmap needs.

Returning both from the same call (instead of a forward hook that stores the map somewhere)
means concurrent requests can never see each other's features, and there is no second pass.
Networks with global average pooling (ResNet, WideResNet, DenseNet) get class activation maps
from their fc weights; those without (AlexNet, VGG16) get Grad-CAM, computed in `gradcam.py`
from the same forward pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision import models

from classifier.engine import cam, gradcam
from classifier.engine.checkpoints import load_weights_into, read_checkpoint, state_dict_of
from classifier.engine.wideresnet import build_wideresnet18

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PLACES_CLASSES = 365
NO_IO_LABEL = -1  # outputs that are not Places365 categories (Hybrid1365's ImageNet objects)
CSAIL_LICENCE = "CC BY (MIT CSAIL Places365 release)"
CSAIL_ORIGIN = "https://github.com/CSAILVision/places365"
KERAS_LICENCE = "GPL-3.0 (weights of the Keras-VGG16-places365 port, from landmark-recognition-challenge)"
KERAS_ORIGIN = "https://github.com/GKalliatakis/Keras-VGG16-places365"
PAMI_TABLE = "Zhou et al., Places, TPAMI 2018, Caffe original, 10-crop, Places365-Standard validation"


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
    heatmap_layer = "layer4"

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

    heatmap_layer = "features (after norm5 + ReLU)"

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
    heatmap_layer = "features (last max-pool)"

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


# -- builders --------------------------------------------------------------------------------


def build_resnet18(num_classes: int) -> nn.Module:
    return models.resnet18(weights=None, num_classes=num_classes)


def build_resnet50(num_classes: int) -> nn.Module:
    return models.resnet50(weights=None, num_classes=num_classes)


def build_densenet161(num_classes: int) -> nn.Module:
    return models.densenet161(weights=None, num_classes=num_classes)


def build_alexnet(num_classes: int) -> nn.Module:
    return models.alexnet(weights=None, num_classes=num_classes)


def build_vgg16(num_classes: int) -> nn.Module:
    return models.vgg16(weights=None, num_classes=num_classes)


# -- the registry ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SceneModelSpec:
    """Everything the service, `fetch_models` and the docs need to know about one scene network."""

    name: str
    weights_asset: str
    build: Callable[[int], nn.Module]
    num_classes: int = PLACES_CLASSES
    labels_asset: str = "categories_places365"
    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    net_class: type[SceneNet] = SceneNet
    places_offset: int = 0
    extra_assets: tuple[str, ...] = ()
    """Index of the first of the 365 Places classes among the outputs (Hybrid1365: after ImageNet's 1000)."""
    description: str = ""
    licence: str = CSAIL_LICENCE
    origin: str = CSAIL_ORIGIN
    published_top1: float | None = None
    published_top5: float | None = None
    published_source: str = ""

    @property
    def heatmap(self) -> str:
        """ "cam" (fc weights x feature map) or "gradcam" (gradients of the class score)."""
        return self.net_class.heatmap

    @property
    def heatmap_layer(self) -> str:
        return self.net_class.heatmap_layer

    @property
    def places_classes(self) -> range:
        """The output indices that are Places365 categories (what the IO score may use)."""
        return range(self.places_offset, self.places_offset + PLACES_CLASSES)

    def class_io_labels(self, places_io: tuple[int, ...]) -> tuple[int, ...]:
        """The 365 IO labels placed at this model's output indices; other outputs get NO_IO_LABEL."""
        if len(places_io) != PLACES_CLASSES:
            raise ValueError(f"need {PLACES_CLASSES} Places365 IO labels, got {len(places_io)}")
        after = self.num_classes - self.places_offset - PLACES_CLASSES
        return (NO_IO_LABEL,) * self.places_offset + tuple(places_io) + (NO_IO_LABEL,) * after


SCENE_MODELS: dict[str, SceneModelSpec] = {
    spec.name: spec
    for spec in (
        SceneModelSpec(
            name="resnet18",
            weights_asset="resnet18_places365",
            build=build_resnet18,
            description="ResNet-18 trained on Places365-Standard by MIT CSAIL (the default: fast).",
        ),
        SceneModelSpec(
            name="alexnet",
            weights_asset="alexnet_places365",
            build=build_alexnet,
            net_class=ConvClassifierSceneNet,
            description="AlexNet trained on Places365-Standard by MIT CSAIL (PyTorch release).",
        ),
        SceneModelSpec(
            name="resnet50",
            weights_asset="resnet50_places365",
            build=build_resnet50,
            description="ResNet-50 trained on Places365-Standard by MIT CSAIL (PyTorch release).",
        ),
        SceneModelSpec(
            name="densenet161",
            weights_asset="densenet161_places365",
            build=build_densenet161,
            net_class=DenseNetSceneNet,
            description="DenseNet-161 trained on Places365-Standard by MIT CSAIL (PyTorch release).",
        ),
        SceneModelSpec(
            name="wideresnet18",
            weights_asset="wideresnet18_places365",
            build=build_wideresnet18,
            extra_assets=("wideresnet18_sceneattributes",),
            description=(
                "ResNet-18 without its stem max-pool (14x14 heatmaps), MIT CSAIL's model of the unified "
                "demo; comes with the official linear SUN-attribute matrix."
            ),
        ),
        SceneModelSpec(
            name="vgg16_places365",
            weights_asset="vgg16_places365",
            build=build_vgg16,
            net_class=ConvClassifierSceneNet,
            description="VGG16-Places365 (CSAIL's Caffe model via the Keras 2 port, converted to PyTorch).",
            licence=KERAS_LICENCE,
            origin=KERAS_ORIGIN,
            published_top1=55.24,
            published_top5=84.91,
            published_source=PAMI_TABLE,
        ),
        SceneModelSpec(
            name="vgg16_hybrid1365",
            weights_asset="vgg16_hybrid1365",
            build=build_vgg16,
            num_classes=1365,
            labels_asset="categories_hybrid1365",
            net_class=ConvClassifierSceneNet,
            places_offset=1000,
            description="VGG16-Hybrid1365: 1,000 ImageNet objects + 365 Places scenes (Keras 2 port, converted).",
            licence=KERAS_LICENCE,
            origin=KERAS_ORIGIN,
        ),
    )
}


def scene_model_spec(name: str) -> SceneModelSpec:
    try:
        return SCENE_MODELS[name]
    except KeyError:
        raise ValueError(f"Unknown scene model {name!r}; known: {', '.join(sorted(SCENE_MODELS))}") from None


def build_scene_net(spec: SceneModelSpec) -> SceneNet:
    net = spec.net_class(spec.build(spec.num_classes))
    return net.eval()


# -- loading old checkpoints -----------------------------------------------------------------

_DATAPARALLEL = re.compile(r"(^|\.)module\.")
# PyTorch 0.2's DenseNet named the layers of a dense layer "norm.1", "relu.1", "conv.1", ...
_OLD_DENSE_LAYER = re.compile(r"(denselayer\d+\.(?:norm|relu|conv))\.([12])\.")


def migrate_state_dict(state: Mapping[str, torch.Tensor], net: nn.Module) -> dict[str, torch.Tensor]:
    """Rename the keys of checkpoints written by old PyTorch versions to today's torchvision names.

    - `module.` anywhere (DataParallel around the whole net, or only around AlexNet/VGG
      `features` as the ImageNet training script of the time did: `features.module.0.weight`);
    - DenseNet's `denselayerN.norm.1` -> `denselayerN.norm1` (likewise `conv.1`, `norm.2`, ...);
    - BatchNorm `num_batches_tracked` (added in PyTorch 0.4.1) is filled in where it is missing,
      as BatchNorm itself does for old files.
    """
    migrated = {_OLD_DENSE_LAYER.sub(r"\1\2.", _DATAPARALLEL.sub(r"\1", key)): value for key, value in state.items()}
    for name, module in net.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.track_running_stats:
            prefix = f"{name}." if name else ""
            if f"{prefix}running_mean" in migrated and f"{prefix}num_batches_tracked" not in migrated:
                migrated[f"{prefix}num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    return migrated


def load_scene_net(spec: SceneModelSpec, path: Path, *, install_hint: str) -> SceneNet:
    """Build the architecture and load an official CSAIL checkpoint (or a plain state_dict)."""
    net = build_scene_net(spec)
    checkpoint = read_checkpoint(path, install_hint=install_hint)
    state = migrate_state_dict(state_dict_of(checkpoint), net.net)
    load_weights_into(net.net, state, path=path, install_hint=install_hint)
    return net.eval()
