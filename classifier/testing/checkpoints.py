"""Model files in each model's official release format, with random weights (speed, shapes and
loading do not depend on the weight values; no test or benchmark may download the real ones).

The CSAIL PyTorch files were written by PyTorch 0.2: DataParallel `module.` prefixes (only
around `features` for AlexNet), DenseNet's `norm.1`-style names, no BatchNorm
`num_batches_tracked`. The VGG16 files are Keras 2 HDF5. The writers below reproduce those
layouts so the loaders are tested and measured on what users download.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Mapping
from pathlib import Path

import h5py
import numpy as np
import torch
from torch import nn

from classifier.engine import catalogue, installer
from classifier.engine.attributes import ATTRIBUTE_FILENAME, build_attribute_net, save_attribute_checkpoint
from classifier.engine.keras_vgg import CHANNELS_LAST
from classifier.engine.labels import read_attribute_names
from classifier.engine.places import SCENE_MODELS, SceneModelSpec
from classifier.testing.paths import LABEL_FILES, LABELS_DIR

_NEW_DENSE_LAYER = re.compile(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.")


def write_places_checkpoint(path: Path, net: nn.Module | None = None, *, seed: int = 0) -> Path:
    """The CSAIL release format: {'epoch', 'arch', 'state_dict' with 'module.' keys, 'best_prec1'}."""
    if net is None:
        torch.manual_seed(seed)
        net = SCENE_MODELS["resnet18"].build(365)
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    torch.save({"epoch": 90, "arch": "resnet18", "state_dict": state, "best_prec1": 54.7}, path)
    return path


def official_state_dict(spec: SceneModelSpec, net: nn.Module) -> dict[str, torch.Tensor]:
    """`net`'s weights with the key names of the CSAIL release of `spec`."""
    state = {}
    for key, value in net.state_dict().items():
        if key.endswith("num_batches_tracked"):
            continue
        if spec.name == "alexnet":
            key = key.replace("features.", "features.module.")  # DataParallel around features only
        else:
            key = "module." + _NEW_DENSE_LAYER.sub(r"\1.\2.", key)
        state[key] = value
    return state


def write_official_checkpoint(path: Path, spec: SceneModelSpec, net: nn.Module | None = None, *, seed: int = 0) -> Path:
    if net is None:
        torch.manual_seed(seed)
        net = spec.build(spec.weights.num_classes)
    payload = {"epoch": 90, "arch": spec.name, "state_dict": official_state_dict(spec, net), "best_prec1": 50.0}
    torch.save(payload, path)
    return path


def write_keras_h5(
    path: Path, net: nn.Module, *, data_format: str = CHANNELS_LAST, backend: str = "tensorflow", config: bool = False
) -> Path:
    """A Keras 2 weights file holding `net`'s Conv2d/Linear weights, as Keras would have saved them."""
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    denses = [m for m in net.modules() if isinstance(m, nn.Linear)]
    channels = convs[-1].out_channels
    layer_names = []
    with h5py.File(path, "w") as handle:

        def add(name: str, kernel: np.ndarray | None, bias: np.ndarray | None) -> None:
            group = handle.create_group(name)
            layer_names.append(name.encode())
            if kernel is None:
                group.attrs["weight_names"] = np.array([], dtype="S1")
                return
            group.attrs["weight_names"] = [f"{name}/kernel:0".encode(), f"{name}/bias:0".encode()]
            group.create_dataset(f"{name}/kernel:0", data=kernel)
            group.create_dataset(f"{name}/bias:0", data=bias)

        add("input_1", None, None)
        for i, conv in enumerate(convs, start=1):
            kernel = conv.weight.detach().permute(2, 3, 1, 0).numpy()  # OIHW -> HWIO
            if backend == "theano":
                kernel = kernel[::-1, ::-1]
            add(f"conv{i}", np.ascontiguousarray(kernel), conv.bias.detach().numpy())
        add("pool", None, None)
        for i, dense in enumerate(denses, start=1):
            weight = dense.weight.detach()
            if i == 1 and data_format == CHANNELS_LAST:
                out_features, in_features = weight.shape
                side = round((in_features // channels) ** 0.5)
                weight = weight.reshape(out_features, channels, side, side).permute(0, 2, 3, 1)
                weight = weight.reshape(out_features, in_features)
            add(f"fc{i}", np.ascontiguousarray(weight.T.numpy()), dense.bias.detach().numpy())
        handle.attrs["layer_names"] = layer_names
        handle.attrs["backend"] = backend.encode()
        handle.attrs["keras_version"] = b"2.0.8"
        if config:
            handle.attrs["model_config"] = (
                '{"class_name": "Model", "config": {"layers": [{"class_name": "Conv2D", '
                f'"config": {{"data_format": "{data_format}"}}}}]}}}}'
            ).encode()
    return path


def write_attribute_matrix(folder: Path) -> Path:
    """CSAIL's 102 x 512 float64 .npy (random values)."""
    path = folder / catalogue.asset_spec("wideresnet18_sceneattributes").filename
    np.save(path, np.random.default_rng(0).normal(size=(102, 512)))
    return path


def write_matrix_files(folder: Path) -> Path:
    """WideResNet-18's checkpoint and the attribute matrix: what `fetch_models` adds for the attributes."""
    spec = SCENE_MODELS["wideresnet18"]
    write_official_checkpoint(folder / spec.weights.filename, spec, seed=4)
    write_attribute_matrix(folder)
    return folder


def write_attribute_checkpoint(path: Path, labels_file: Path, *, seed: int = 1, metrics: Mapping | None = None) -> Path:
    """A DenseNet-201 SUN-attribute head as `train_attributes` saves it, one output per name in `labels_file`."""
    torch.manual_seed(seed)
    names = read_attribute_names(labels_file)
    save_attribute_checkpoint(path, build_attribute_net(len(names)), names, metrics)
    return path


def copy_label_files(folder: Path, labels_dir: Path = LABELS_DIR) -> Path:
    """The three official label files, copied from `labels_dir` (../shared/places365/ by default)."""
    for name in LABEL_FILES:
        if not (labels_dir / name).is_file():
            raise FileNotFoundError(
                f"{labels_dir / name} is absent: the label files are read from ../shared/places365/ beside the "
                "repository in a development checkout (or pass labels_dir)."
            )
        shutil.copyfile(labels_dir / name, folder / name)
    return folder


def write_release(folder: Path, labels_dir: Path = LABELS_DIR) -> Path:
    """A folder as a user would bring it for `fetch_models --from`: the ResNet-18 weights and the label files."""
    folder.mkdir(parents=True, exist_ok=True)
    write_places_checkpoint(folder / "resnet18_places365.pth.tar")
    return copy_label_files(folder, labels_dir)


def write_models_dir(folder: Path, *, attributes: bool = True, labels_dir: Path = LABELS_DIR) -> Path:
    """`folder`/models installed from `folder`/release as `fetch_models --from` leaves it, plus, with
    `attributes`, a trained DenseNet-201 attribute head."""
    release = write_release(folder / "release", labels_dir)
    models = folder / "models"
    models.mkdir()
    for name in catalogue.DEFAULT_ASSETS:
        installer.install_from_dir(name, models, release)
    if attributes:
        write_attribute_checkpoint(models / ATTRIBUTE_FILENAME, models / "labels_sunattribute.txt")
    return models
