"""The transfer-learning architectures: torchvision networks by name (and CSAIL's WideResNet-18,
the network of the attribute matrix), cut into a trunk of blocks and a new classifier head (the
scene networks' own registry is `places.SCENE_MODELS`).

Every architecture becomes the same `TransferNet`: `blocks` (the trunk, in the order an image
runs through them, so "unfreeze the last N blocks" means the same thing for all of them),
global average pooling where the trunk ends in a feature map, and `head` (optional extra fully
connected layers, then one linear layer per class). One shape for every architecture lets the
feature cache, progressive unfreezing, checkpoints and CAM work without per-family code.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torchvision import models

from classifier.engine.catalogue import IMAGENET_MEAN, IMAGENET_STD
from classifier.engine.wideresnet import build_wideresnet18

INCEPTION_MEAN = INCEPTION_STD = (0.5, 0.5, 0.5)  # Google's Inception weights expect [-1, 1]
EXTRA_FC_WIDTH = 512
MAX_EXTRA_FC = 3


class TransferNet(nn.Module):
    """A trunk of named blocks, then (for feature maps) global average pooling, then the head."""

    def __init__(self, blocks: nn.Sequential, feature_dim: int, num_classes: int, extra_fc: int = 0):
        super().__init__()
        if not 0 <= extra_fc <= MAX_EXTRA_FC:
            raise ValueError(f"extra_fc must be within 0..{MAX_EXTRA_FC}, got {extra_fc}")
        self.blocks = blocks
        self.feature_dim = feature_dim
        # VGG's trunk keeps its fc layers and ends in vectors: nothing spatial for a CAM to read.
        self.ends_in_feature_map = not any(isinstance(m, nn.Linear) for m in blocks.modules())
        self.head = build_head(feature_dim, num_classes, extra_fc)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)

    @staticmethod
    def pool(features: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) -> (N, C) by global average pooling; vectors (VGG's fc trunk) pass through."""
        return features.mean(dim=(2, 3)) if features.dim() == 4 else features

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled trunk output: what the linear mode caches and the head reads."""
        return self.pool(self.feature_map(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(x))

    @property
    def has_cam(self) -> bool:
        """CAM needs a feature map followed directly by one linear layer (no hidden fc layers)."""
        return self.ends_in_feature_map and len(self.head) == 1

    @property
    def class_weights(self) -> torch.Tensor:
        return self.head[-1].weight


def build_head(feature_dim: int, num_classes: int, extra_fc: int) -> nn.Sequential:
    layers, width = [], feature_dim
    for _ in range(extra_fc):
        layers += [nn.Linear(width, EXTRA_FC_WIDTH), nn.ReLU(inplace=True), nn.Dropout(0.5)]
        width = EXTRA_FC_WIDTH
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


# -- cutting each family into blocks ------------------------------------------------------------


def _resnet_blocks(net: models.ResNet) -> tuple[list[tuple[str, nn.Module]], int]:
    """WideResNet-18 too: its stem's max-pool is an identity."""
    stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
    return [("stem", stem), *((f"layer{i}", getattr(net, f"layer{i}")) for i in range(1, 5))], net.fc.in_features


def _densenet_blocks(net: models.DenseNet) -> tuple[list[tuple[str, nn.Module]], int]:
    """Stem, then each dense block with the transition after it; the last ends in norm5 + ReLU."""
    layers = dict(net.features.named_children())
    blocks = [("stem", nn.Sequential(*(layers[n] for n in ("conv0", "norm0", "relu0", "pool0"))))]
    for i in range(1, 5):
        tail = layers[f"transition{i}"] if i < 4 else nn.Sequential(layers["norm5"], nn.ReLU(inplace=True))
        blocks.append((f"dense{i}", nn.Sequential(layers[f"denseblock{i}"], tail)))
    return blocks, net.classifier.in_features


def _features_blocks(net: nn.Module) -> tuple[list[tuple[str, nn.Module]], int]:
    """MobileNet and EfficientNet: every child of `features` is one block."""
    blocks = [(f"stage{i}", child) for i, child in enumerate(net.features.children())]
    channels = [m.out_channels for m in net.features.modules() if isinstance(m, nn.Conv2d)][-1]
    return blocks, channels


def _vgg_blocks(net: models.VGG) -> tuple[list[tuple[str, nn.Module]], int]:
    """Five conv stages (each ending in its max-pool), then the two 4096-wide fc layers."""
    blocks, current = [], []
    for layer in net.features:
        current.append(layer)
        if isinstance(layer, nn.MaxPool2d):
            blocks.append((f"conv{len(blocks) + 1}", nn.Sequential(*current)))
            current = []
    fc = nn.Sequential(net.avgpool, nn.Flatten(1), *list(net.classifier.children())[:-1])
    return [*blocks, ("fc", fc)], net.classifier[-1].in_features


def _inception_blocks(net: models.Inception3) -> tuple[list[tuple[str, nn.Module]], int]:
    """The stem, then each Mixed block. The auxiliary classifier is left out: it only helps train
    the original 1000-way head, and a trunk must return one tensor for caching and CAM."""
    stem_names = ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1", "Conv2d_4a_3x3")
    stem = nn.Sequential(*(getattr(net, n) for n in stem_names), net.maxpool2)
    mixed = [(n, m) for n, m in net.named_children() if n.startswith("Mixed_")]
    return [("stem", stem), *mixed], net.fc.in_features


@dataclass(frozen=True)
class Architecture:
    """One network: how to build it, cut it, feed it, and fetch its ImageNet weights."""

    name: str
    """torchvision's own name for the network (`torchvision.models.get_model` builds it), or the
    name of a scene model whose architecture `build` makes."""
    imagenet: models.WeightsEnum | None
    """None where no ImageNet weights exist (WideResNet-18 has only its Places365 ones)."""
    cut: Callable[[nn.Module], tuple[list[tuple[str, nn.Module]], int]]
    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    min_size: int = 32
    build: Callable[[], nn.Module] | None = None
    """The builder of a network torchvision does not have (the engine's own, so training and
    serving build the same network)."""

    def torchvision_net(self, weights: models.WeightsEnum | None = None) -> nn.Module:
        if self.build is not None:
            if weights is not None:
                raise ValueError(f"{self.name} has no torchvision weights to load")
            return self.build()
        if self.name == "inception_v3":
            # With weights torchvision builds the aux branch to load them, then drops it on request.
            return models.get_model(self.name, weights=weights, aux_logits=False, init_weights=weights is None)
        return models.get_model(self.name, weights=weights)

    def transfer_net(self, num_classes: int, extra_fc: int = 0, source: nn.Module | None = None) -> TransferNet:
        """A TransferNet around `source` (a torchvision net with loaded weights) or a fresh random one."""
        blocks, feature_dim = self.cut(source if source is not None else self.torchvision_net())
        return TransferNet(nn.Sequential(OrderedDict(blocks)), feature_dim, num_classes, extra_fc)


TRANSFER_ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture("resnet18", models.ResNet18_Weights.IMAGENET1K_V1, _resnet_blocks),
        Architecture("resnet50", models.ResNet50_Weights.IMAGENET1K_V2, _resnet_blocks),
        Architecture("resnet152", models.ResNet152_Weights.IMAGENET1K_V2, _resnet_blocks),
        Architecture("wideresnet18", None, _resnet_blocks, build=build_wideresnet18),
        Architecture("densenet121", models.DenseNet121_Weights.IMAGENET1K_V1, _densenet_blocks),
        Architecture("densenet201", models.DenseNet201_Weights.IMAGENET1K_V1, _densenet_blocks),
        Architecture("mobilenet_v2", models.MobileNet_V2_Weights.IMAGENET1K_V2, _features_blocks),
        Architecture("mobilenet_v3_large", models.MobileNet_V3_Large_Weights.IMAGENET1K_V2, _features_blocks),
        Architecture("efficientnet_b0", models.EfficientNet_B0_Weights.IMAGENET1K_V1, _features_blocks),
        Architecture("vgg16", models.VGG16_Weights.IMAGENET1K_V1, _vgg_blocks),
        Architecture(
            "inception_v3",
            models.Inception_V3_Weights.IMAGENET1K_V1,
            _inception_blocks,
            input_size=299,
            mean=INCEPTION_MEAN,
            std=INCEPTION_STD,
            min_size=75,
        ),
    )
}


def architecture(name: str) -> Architecture:
    try:
        return TRANSFER_ARCHITECTURES[name]
    except KeyError:
        raise ValueError(f"Unknown architecture {name!r}; known: {', '.join(TRANSFER_ARCHITECTURES)}") from None
