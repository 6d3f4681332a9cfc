"""Where a training run starts from: random weights, torchvision's ImageNet weights, the installed
Places365 network, or a weight file; the trunk comes from there, the head is fresh.

ImageNet weights are downloaded once into the torch cache on first use; without internet, the
error names the file and the folder to copy it into. A weight file goes through the engine's
key migration (old PyTorch and torchvision names), so any release of a network's weights fits.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torchvision import models
from torchvision.models import WeightsEnum

from classifier.engine import catalogue
from classifier.engine.architectures import TRANSFER_ARCHITECTURES, Architecture, TransferNet
from classifier.engine.attributes import build_attribute_net
from classifier.engine.checkpoints import load_weights_into, migrate_state_dict, read_checkpoint, state_dict_of
from classifier.engine.custom import CHECKPOINT_FORMAT
from classifier.engine.errors import DownloadFailed, SceneWebError
from classifier.engine.places import SCENE_MODELS, SceneModelSpec, load_scene_net

ATTRIBUTE_WEIGHTS_HINT = "pass --weights imagenet, --weights none or --weights PATH to a DenseNet-201 checkpoint"
TRANSFER_WEIGHTS_HINT = "pass --weights places365 (where it exists), imagenet, none, or a PATH to a checkpoint"


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


def load_trunk(net: nn.Module, path: Path, *, head: tuple[str, ...], hint: str) -> nn.Module:
    """The weights of a file into `net`: every trunk weight must be there and fit; a head weight
    that does not fit (another number of classes) keeps `net`'s fresh value; keys `net` does not
    have (an auxiliary classifier) are ignored."""
    expected = net.state_dict()
    state = migrate_state_dict(state_dict_of(read_checkpoint(path, install_hint=hint)), net)
    state = {k: v for k, v in state.items() if k in expected}
    for key, fresh in expected.items():
        if key.startswith(head) and (key not in state or state[key].shape != fresh.shape):
            state[key] = fresh
    load_weights_into(net, state, path=path, install_hint=hint)
    return net


# The SUN-attribute head: DenseNet-201 ---------------------------------------------------------


def attribute_net(weights: str, num_attributes: int) -> nn.Module:
    """`weights`: none, imagenet, or a path to any DenseNet-201 file (ImageNet, a former attribute head)."""
    if weights == "none":
        return build_attribute_net(num_attributes)
    if weights == "imagenet":
        release = models.DenseNet201_Weights.IMAGENET1K_V1
        build = lambda: build_attribute_net(num_attributes, release)  # noqa: E731
        return imagenet_net(build, release, what="DenseNet-201", hint=ATTRIBUTE_WEIGHTS_HINT)
    net = build_attribute_net(num_attributes)
    return load_trunk(net, Path(weights), head=("classifier.",), hint=ATTRIBUTE_WEIGHTS_HINT)


# Transfer learning: any registered architecture ------------------------------------------------


def places365_model(spec: Architecture) -> SceneModelSpec | None:
    """The scene model holding Places365 weights of this architecture, joined by its weights record's
    own `arch` (Hybrid1365's extra ImageNet outputs make it another network's weights)."""
    return next(
        (
            model
            for model in SCENE_MODELS.values()
            if model.weights.arch == spec.name and model.weights.num_classes == catalogue.PLACES_CLASSES
        ),
        None,
    )


def places_weights_path(spec: Architecture, models_dir: Path) -> Path:
    return catalogue.asset_path(Path(models_dir), _places365_model_of(spec).weights.name)


def _places365_model_of(spec: Architecture) -> SceneModelSpec:
    model = places365_model(spec)
    if model is None:
        known = sorted(name for name, a in TRANSFER_ARCHITECTURES.items() if places365_model(a) is not None)
        raise SceneWebError(
            f"Places365 weights exist here for {', '.join(known)} only, not {spec.name}; {TRANSFER_WEIGHTS_HINT}.",
            code="weights_unavailable",
        )
    return model


def _places_source(spec: Architecture, models_dir: Path) -> nn.Module:
    model = _places365_model_of(spec)
    return load_scene_net(model, places_weights_path(spec, models_dir), install_hint=catalogue.FETCH_HINT).net


def _file_source(spec: Architecture, path: Path) -> nn.Module | TransferNet:
    """A former custom model (its trunk is reused) or a torchvision state_dict of the architecture
    (its classifier, of whatever size, is dropped)."""
    checkpoint = read_checkpoint(path, install_hint=TRANSFER_WEIGHTS_HINT)
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        return load_trunk(spec.torchvision_net(), path, head=("fc.", "classifier."), hint=TRANSFER_WEIGHTS_HINT)
    if checkpoint.get("arch") != spec.name:
        raise SceneWebError(f"{path} is a {checkpoint.get('arch')} model, not {spec.name}.", code="weights_wrong")
    donor = spec.transfer_net(len(checkpoint["classes"]), int(checkpoint.get("extra_fc", 0)))
    donor.load_state_dict(state_dict_of(checkpoint))
    return donor


def transfer_net(
    spec: Architecture, weights: str, num_classes: int, extra_fc: int, *, seed: int, models_dir: Path
) -> TransferNet:
    """The network to train: `weights` (none, imagenet, places365 or a path) in the trunk, a fresh head."""
    torch.manual_seed(seed)
    if weights == "none":
        return spec.transfer_net(num_classes, extra_fc)
    if weights == "imagenet":
        if spec.imagenet is None:
            raise SceneWebError(
                f"{spec.name} has no ImageNet weights; {TRANSFER_WEIGHTS_HINT}.", code="weights_unavailable"
            )
        build = lambda: spec.torchvision_net(spec.imagenet)  # noqa: E731
        source = imagenet_net(build, spec.imagenet, what=spec.name, hint=TRANSFER_WEIGHTS_HINT)
    elif weights == "places365":
        source = _places_source(spec, models_dir)
    else:
        source = _file_source(spec, Path(weights))
    if isinstance(source, TransferNet):
        return TransferNet(source.blocks, source.feature_dim, num_classes, extra_fc)
    return spec.transfer_net(num_classes, extra_fc, source=source)
