"""SUN attributes from CSAIL's official linear matrix over WideResNet-18 features.

The unified Places365 demo scores the 102 SUN attributes as `W @ pooled`, where `pooled` is
WideResNet-18's 512-d global-average-pooled layer4 output and W (102 x 512) is
`W_sceneattribute_wideresnet18.npy`. It needs no training, unlike the DenseNet-201 head, at
the cost of accuracy, and both files are public: `fetch_models` installs them, so a fresh
install lists attributes from day one (`attribute_sources` chooses between it and a trained
head). The scores are the raw linear responses (ranked as the demo ranks them), not probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch

from classifier.engine.errors import ModelFileError, unreadable
from classifier.engine.places import SceneNet

MATRIX_SHAPE = (102, 512)
REINSTALL_HINT = "run `python manage.py fetch_models --model wideresnet18`"


def read_attribute_matrix(path: Path) -> np.ndarray:
    try:
        matrix = np.load(Path(path), allow_pickle=False)
    except FileNotFoundError:
        raise ModelFileError(f"Attribute matrix {path} is missing; {REINSTALL_HINT}.", code="weights_missing") from None
    except OSError as exc:
        raise unreadable("Attribute matrix", path, exc, REINSTALL_HINT) from exc
    except Exception as exc:  # numpy's words would advise allow_pickle=True: never here
        raise ModelFileError(
            f"Attribute matrix {path} is not a plain NumPy .npy array of numbers; {REINSTALL_HINT}.",
            code="weights_invalid",
        ) from exc
    if matrix.shape != MATRIX_SHAPE or not np.issubdtype(matrix.dtype, np.floating):
        raise ModelFileError(
            f"Attribute matrix {path} holds {matrix.dtype} {matrix.shape}, expected float {MATRIX_SHAPE}; "
            f"{REINSTALL_HINT}.",
            code="weights_invalid",
        )
    return matrix


@dataclass
class LinearAttributeModel:
    """The matrix as an `attribute_sources.AttributeSource`, over a WideResNet-18 scene net."""

    net: SceneNet
    matrix: torch.Tensor
    names: tuple[str, ...]
    metrics: dict = field(default_factory=dict)
    name: ClassVar[str] = "wideresnet18"
    source: ClassVar[str] = "wideresnet18-linear"
    score_meaning: ClassVar[str] = "raw linear responses, not probabilities (compare them only with each other)"
    description: ClassVar[str] = "CSAIL's linear SUN-attribute matrix over WideResNet-18 features (official demo)"

    def __post_init__(self) -> None:
        if self.matrix.shape != (len(self.names), MATRIX_SHAPE[1]):
            raise ValueError(f"matrix {tuple(self.matrix.shape)} does not fit {len(self.names)} attribute names")

    def scores(self, batch: torch.Tensor) -> torch.Tensor:
        """(N, attributes) linear responses of the pooled layer4 features (through the net's forward
        pass, so an accelerated net serves it; its 365 logits cost one small matrix product)."""
        _, features = self.net(batch)
        return self.scores_from_features(features)

    def scores_from_features(self, features: torch.Tensor) -> torch.Tensor:
        """Scores from a layer4 map the scene pass already computed (when the scene net is this net)."""
        return features.float().mean(dim=(2, 3)) @ self.matrix.T

    def feature_map(self, batch: torch.Tensor) -> torch.Tensor:
        """The layer4 map (N, 512, h, w) that the matrix reads once pooled (`attribute_maps`)."""
        return self.net(batch)[1]

    @property
    def map_weights(self) -> torch.Tensor:
        return self.matrix


def load_linear_attribute_model(net: SceneNet, matrix_path: Path, names: tuple[str, ...]) -> LinearAttributeModel:
    matrix = torch.from_numpy(read_attribute_matrix(matrix_path).astype(np.float32))
    return LinearAttributeModel(net.eval(), matrix, tuple(names), {"source": Path(matrix_path).name})
