"""The "WideResNet-18" of the CSAIL Places365 release.

Despite the name it is not a wide residual network: it is ResNet-18 (BasicBlocks, [2, 2, 2, 2],
64-128-256-512 channels) without the max-pooling after the stem. Dropping that pool keeps the
feature maps twice as large, so layer4 is 14x14 for a 224x224 photo (ResNet-18: 7x7) and the
class activation maps are sharper; global average pooling and the 512 -> classes fc follow.
Every learned layer keeps torchvision's name (conv1, bn1, layer1.0.conv1, ..., fc), which is
also the key layout of the official `wideresnet18_places365.pth.tar`, so the torchvision
ResNet is reused with its pool replaced by an identity.
"""

from __future__ import annotations

from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet


def build_wideresnet18(num_classes: int = 365) -> ResNet:
    net = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes)
    net.maxpool = nn.Identity()
    return net
