"""torchvision's ImageNet weights: downloaded once into the torch cache on first use; without
internet, the error names the file and the folder to copy it into."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torchvision.models import WeightsEnum

from classifier.engine.errors import DownloadFailed


def imagenet_net(build: Callable[[], nn.Module], weights: WeightsEnum, *, what: str, hint: str) -> nn.Module:
    """`build()` loads `weights`; a failed download becomes a `DownloadFailed` that says what to do."""
    try:
        return build()
    except (OSError, RuntimeError) as exc:
        raise DownloadFailed(
            f"The ImageNet weights of {what} could not be downloaded ({str(exc)[:200]}). Without internet, "
            f"copy {weights.url.rsplit('/', 1)[-1]} (from {weights.url}) into "
            f"{Path(torch.hub.get_dir()) / 'checkpoints'}, or {hint}."
        ) from exc
