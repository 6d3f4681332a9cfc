"""Progressive unfreezing for `finetune`: which trunk blocks train in a phase, in which mode, at which rate."""

from __future__ import annotations

import torch
from torch import nn

from classifier.engine.architectures import TransferNet


def trainable_module(net: TransferNet, mode: str) -> nn.Module:
    """What the optimizer sees and the batches feed: the head alone on features, or the whole net."""
    return net.head if mode == "linear" else net


def set_trainable(net: TransferNet, blocks: int | None) -> list[nn.Module]:
    """Freeze all but the last `blocks` trunk blocks (None: train everything); returns the unfrozen."""
    children = list(net.blocks.children())
    unfrozen = children if blocks is None else children[len(children) - min(blocks, len(children)) :]
    for child in children:
        child.requires_grad_(any(child is u for u in unfrozen))
    net.head.requires_grad_(True)
    return unfrozen


def train_mode(net: TransferNet, unfrozen: list[nn.Module]) -> None:
    """Frozen blocks stay in eval mode, so BatchNorm keeps the statistics of the pretrained weights."""
    net.eval()
    net.head.train()
    for block in unfrozen:
        block.train()


def make_optimizer(
    net: TransferNet, unfrozen: list[nn.Module], *, lr: float, backbone_lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    """AdamW: the head at `lr`, the unfrozen trunk blocks at `backbone_lr`."""
    groups = [{"params": list(net.head.parameters()), "lr": lr}]
    trunk = [p for block in unfrozen for p in block.parameters()]
    if trunk:
        groups.append({"params": trunk, "lr": backbone_lr})
    return torch.optim.AdamW(groups, weight_decay=weight_decay)
