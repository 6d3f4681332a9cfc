"""Scene-model fixtures: random-weight checkpoints in each model's official format.

The CSAIL PyTorch files were written by PyTorch 0.2: DataParallel `module.` prefixes (only
around `features` for AlexNet), DenseNet's `norm.1`-style names, no BatchNorm
`num_batches_tracked`. The VGG16 files are Keras 2 HDF5. The writers below reproduce those
layouts so the loaders are tested on what users download. The big ones (VGG16 about 520 MB,
DenseNet-161) are written once per session.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from torch import nn

from classifier.engine import assets
from classifier.engine.keras_vgg import CHANNELS_LAST
from classifier.engine.places import SCENE_MODELS, SceneModelSpec
from tests.conftest import LABEL_FILES

_NEW_DENSE_LAYER = re.compile(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.")


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
    path = folder / assets.asset_spec("wideresnet18_sceneattributes").filename
    np.save(path, np.random.default_rng(0).normal(size=(102, 512)))
    return path


def write_matrix_files(folder: Path) -> Path:
    """WideResNet-18's checkpoint and the attribute matrix: what `fetch_models` adds for the attributes."""
    spec = SCENE_MODELS["wideresnet18"]
    write_official_checkpoint(folder / spec.weights.filename, spec, seed=4)
    write_attribute_matrix(folder)
    return folder


@pytest.fixture(scope="session")
def scene_release_dir(tmp_path_factory, labels_dir) -> Path:
    """Every scene model's files as downloaded: CSAIL .pth.tar, Keras .h5, W matrix, label files."""
    folder = tmp_path_factory.mktemp("scene_release")
    for name in (*LABEL_FILES, "categories_hybrid1365.txt"):
        shutil.copyfile(labels_dir / name, folder / name)
    for seed, spec in enumerate(SCENE_MODELS.values()):
        if spec.weights.derived_from is None:
            write_official_checkpoint(folder / spec.weights.filename, spec, seed=seed)
    torch.manual_seed(7)
    vgg = SCENE_MODELS["vgg16_places365"]
    source = assets.asset_spec(vgg.weights.derived_from)
    write_keras_h5(folder / source.filename, vgg.build(vgg.weights.num_classes), data_format=CHANNELS_LAST)
    hybrid = SCENE_MODELS["vgg16_hybrid1365"]
    # Hybrid's conversion path is the same as Places365's; its converted checkpoint saves a second 500 MB .h5.
    torch.save(hybrid.build(hybrid.weights.num_classes).state_dict(), folder / hybrid.weights.filename)
    write_attribute_matrix(folder)
    return folder


@pytest.fixture(scope="session")
def scene_models_dir(tmp_path_factory, scene_release_dir) -> Path:
    """A models folder with every registered scene model installed through `fetch_models`' code path."""
    folder = tmp_path_factory.mktemp("scene_models")
    for model in SCENE_MODELS:
        for name in assets.model_assets(model):
            spec = assets.asset_spec(name)
            derived = assets.converted_into(name)
            if assets.is_installed(folder, spec) or (derived and (scene_release_dir / derived.filename).is_file()):
                continue
            if spec.derived_from and not (scene_release_dir / spec.filename).is_file():
                assets.install_derived(name, folder)
            else:
                assets.install_from_dir(name, folder, scene_release_dir)
    assets.install_from_dir("labels_sunattribute", folder, scene_release_dir)
    return folder
