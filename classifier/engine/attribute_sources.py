"""Where the SUN attributes come from: the trained DenseNet-201 head (`attributes`) or CSAIL's
linear matrix over WideResNet-18 features (`linear_attributes`).

Both answer one protocol, `AttributeSource`, so the analyzer, the attribute maps and the
acceleration modes need not know which they hold. Which one a models folder serves is decided
here, once (`choose_attribute_source`): the analyzer loads what it says and `fetch_models
--check` reports on the same files, so the two can never disagree about the source, the files
it needs or how to install them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

import torch
from torch import nn

from classifier.engine import attributes, labels, linear_attributes, places
from classifier.engine.catalogue import ATTRIBUTE_HEAD_ASSET, ATTRIBUTE_MATRIX_ASSETS, FETCH_HINT, asset_path
from classifier.engine.places import SceneNet

ATTRIBUTE_SOURCES = ("auto", "densenet201", "wideresnet18")
"""SCENEWEB_ATTRIBUTES_SOURCE: `auto` serves a trained head when one is installed, else the matrix."""
MATRIX_NAMES = "labels_sunattribute"  # the matrix's rows; the head's checkpoint carries its own names


@runtime_checkable
class AttributeSource(Protocol):
    """What the analyzer asks of an attribute model, whichever of the two it is."""

    net: nn.Module
    names: tuple[str, ...]
    metrics: dict
    name: ClassVar[str]
    """The network that runs (the timing's stage name)."""
    source: ClassVar[str]
    score_meaning: ClassVar[str]
    description: ClassVar[str]

    def scores(self, batch: torch.Tensor) -> torch.Tensor:
        """(N, attributes) scores of a preprocessed batch."""
        ...

    def feature_map(self, batch: torch.Tensor) -> torch.Tensor:
        """The map the scores pool, from the eager network (`attribute_maps` reads it)."""
        ...

    def scores_from_features(self, features: torch.Tensor) -> torch.Tensor: ...

    @property
    def map_weights(self) -> torch.Tensor:
        """One row per attribute over the map's channels. Like `feature_map`, it reads the eager
        network's layers: the analyzer keeps the model as loaded for them (`map_source`)."""
        ...


@dataclass(frozen=True)
class AttributeChoice:
    """The source a models folder serves for one SCENEWEB_ATTRIBUTES_SOURCE, and its files."""

    source: str  # "densenet201" or "wideresnet18"
    assets: tuple[str, ...]
    """Catalogue names of every file it loads."""
    missing: tuple[str, ...]
    """File names among them not installed: then there are no attributes, and `note` says how to get them."""
    fix: str
    model: type[AttributeSource]

    @property
    def head(self) -> bool:
        return self.source == "densenet201"

    @property
    def note(self) -> str:
        """Why there are no attributes and how to get them (the analysis and `fetch_models --check` say it)."""
        return f"{', '.join(self.missing)} not installed; {self.fix}."


def choose_attribute_source(models_dir: Path, requested: str = "auto") -> AttributeChoice:
    """`auto`: the trained head when its file is there, else the matrix; a named source as named."""
    if requested not in ATTRIBUTE_SOURCES:
        raise ValueError(f"Unknown attribute source {requested!r}; choose one of {', '.join(ATTRIBUTE_SOURCES)}")
    models_dir = Path(models_dir)
    if requested == "densenet201" or (requested == "auto" and asset_path(models_dir, ATTRIBUTE_HEAD_ASSET).is_file()):
        source, assets, fix = "densenet201", (ATTRIBUTE_HEAD_ASSET,), attributes.TRAIN_HINT
        model = attributes.AttributeModel
    else:
        source, assets, fix = "wideresnet18", (*ATTRIBUTE_MATRIX_ASSETS, MATRIX_NAMES), linear_attributes.REINSTALL_HINT
        model = linear_attributes.LinearAttributeModel
        if requested == "auto":  # neither the head nor the matrix: both ways out
            fix = f"{FETCH_HINT} to install CSAIL's WideResNet-18 attribute matrix; or {attributes.TRAIN_HINT}"
    missing = tuple(path.name for path in (asset_path(models_dir, n) for n in assets) if not path.is_file())
    return AttributeChoice(source, assets, missing, fix, model)


def load_attribute_source(
    models_dir: Path, requested: str, scene_model: str, scene_net: SceneNet
) -> tuple[AttributeSource | None, str | None]:
    """The chosen source, or None and the note saying what to install. The matrix reads the scene
    net's own features when that is WideResNet-18 already (no second copy, no second pass)."""
    choice = choose_attribute_source(models_dir, requested)
    if choice.missing:
        return None, choice.note
    if choice.head:
        return attributes.load_attribute_model(asset_path(models_dir, ATTRIBUTE_HEAD_ASSET)), None
    weights, matrix, names = (asset_path(models_dir, name) for name in choice.assets)
    wideresnet = places.scene_model_spec("wideresnet18")
    if scene_model != wideresnet.name:
        scene_net = places.load_scene_net(wideresnet, weights, install_hint=linear_attributes.REINSTALL_HINT)
    return linear_attributes.load_linear_attribute_model(scene_net, matrix, labels.read_attribute_names(names)), None
