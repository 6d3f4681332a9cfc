"""A user's own scene classifier (made by `manage.py finetune`): its checkpoint, loading, serving.

The checkpoint explains itself: architecture, class names, input size, mean/std, extra fc
layers and the training metrics sit beside the weights, so serving needs nothing but the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from classifier.engine import cam
from classifier.engine.architectures import TransferNet, architecture
from classifier.engine.checkpoints import load_checkpoint_into, read_checkpoint, save_atomically
from classifier.engine.errors import ModelFileError
from classifier.engine.scores import Heatmap, SceneScore, rounded_grid

CHECKPOINT_FORMAT = "sceneweb-custom/1"
FINETUNE_HINT = (
    "make one with `python manage.py finetune --data DIR --out DIR` (docs/training.md, 'Your own scene classifier')"
)


@dataclass(frozen=True)
class CustomResult:
    """One custom model's answer for one photo: its top classes and the CAM of the first."""

    name: str
    classes: list[SceneScore]
    cam: Heatmap | None


@dataclass
class CustomModel:
    name: str
    arch: str
    net: TransferNet
    classes: tuple[str, ...]
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    metrics: dict = field(default_factory=dict)

    @property
    def preprocessing(self) -> tuple:
        """What the input tensor depends on: models sharing it share one preprocessed tensor."""
        return self.input_size, tuple(self.mean), tuple(self.std)

    def predict(self, batch: torch.Tensor, top_k: int = 5) -> CustomResult:
        """Top-k classes of the first image in `batch`, and the CAM of the best one where possible."""
        with torch.inference_mode():
            features = self.net.feature_map(batch)
            logits = self.net.head(self.net.pool(features))
        probabilities = torch.softmax(logits[0].float(), dim=0)
        values, indices = probabilities.topk(min(top_k, len(self.classes)))
        scores = [
            SceneScore(self.classes[i], i, round(float(p), 6))
            for p, i in zip(values.tolist(), indices.tolist(), strict=True)
        ]
        heatmap = None
        if self.net.has_cam:
            best = scores[0].index
            grid = cam.class_activation_map(features[0], self.net.class_weights[best])
            heatmap = Heatmap(scores[0].label, best, rounded_grid(grid))
        return CustomResult(self.name, scores, heatmap)

    @property
    def description(self) -> dict:
        return {
            "name": self.name,
            "arch": self.arch,
            "classes": list(self.classes),
            "input_size": self.input_size,
            "heatmap": "cam" if self.net.has_cam else None,
            "metrics": self.metrics,
        }


def custom_checkpoint(
    net: TransferNet,
    *,
    name: str,
    arch: str,
    classes: Sequence[str],
    input_size: int,
    mean: Sequence[float],
    std: Sequence[float],
    extra_fc: int,
    metrics: Mapping | None = None,
) -> dict:
    return {
        "format": CHECKPOINT_FORMAT,
        "name": name,
        "arch": arch,
        "classes": list(classes),
        "input_size": int(input_size),
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "extra_fc": int(extra_fc),
        "metrics": dict(metrics or {}),
        "state_dict": {k: v.detach().cpu() for k, v in net.state_dict().items()},
    }


def save_custom_checkpoint(path: Path, net: TransferNet, **fields) -> None:
    save_atomically(custom_checkpoint(net, **fields), path)


def _invalid(path: Path, why: str) -> ModelFileError:
    return ModelFileError(f"Custom model {path} {why}; {FINETUNE_HINT}.", code="weights_invalid")


def load_custom_model(path: Path) -> CustomModel:
    path = Path(path)
    checkpoint = read_checkpoint(path, install_hint=FINETUNE_HINT)
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise _invalid(path, f"is not a {CHECKPOINT_FORMAT} checkpoint (format={checkpoint.get('format')!r})")
    classes = checkpoint.get("classes")
    if not isinstance(classes, list) or len(classes) < 2 or not all(isinstance(c, str) for c in classes):
        raise _invalid(path, "has no list of class names")
    try:
        spec = architecture(str(checkpoint.get("arch")))
        net = spec.transfer_net(len(classes), int(checkpoint.get("extra_fc", 0)))
    except ValueError as exc:
        raise _invalid(path, f"cannot be built ({exc})") from exc
    load_checkpoint_into(net, checkpoint, path=path, install_hint=FINETUNE_HINT)
    return CustomModel(
        name=str(checkpoint.get("name") or path.stem),
        arch=spec.name,
        net=net.eval(),
        classes=tuple(classes),
        input_size=int(checkpoint.get("input_size", spec.input_size)),
        mean=tuple(checkpoint.get("mean", spec.mean)),
        std=tuple(checkpoint.get("std", spec.std)),
        metrics=dict(checkpoint.get("metrics") or {}),
    )
