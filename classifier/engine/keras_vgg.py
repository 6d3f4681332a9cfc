"""Convert the Keras 2 VGG16-Places365 / VGG16-Hybrid1365 weights (.h5) into a torchvision `vgg16`.

Three things differ between a Keras .h5 and a PyTorch state_dict:

- kernel layout: Keras 2 stores conv kernels as (height, width, in, out) and dense kernels as
  (in, out); PyTorch wants (out, in, height, width) and (out, in).
- kernel orientation: a file saved by the Theano backend (root attribute `backend`) holds
  kernels for a true convolution, i.e. spatially flipped with respect to PyTorch's
  cross-correlation; Keras itself flips them when loading such a file elsewhere.
- flatten order: the first dense layer reads the flattened last pool. A channels-last model
  flattens (h, w, c), PyTorch flattens (c, h, w), so its input rows are reordered. The data
  format comes from the file's model config when it has one, else from the Keras file-name
  convention (`tf_dim_ordering` / `th_dim_ordering`), else from the caller.

Layers are matched by order (conv layers, then dense layers, as listed in the file's
`layer_names`), so both naming schemes of the port (conv1_1 ... fc8a and block1_conv1 ...
predictions) convert.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from classifier.engine.checkpoints import save_atomically
from classifier.engine.errors import ModelFileError

CHANNELS_FIRST = "channels_first"
CHANNELS_LAST = "channels_last"
DATA_FORMATS = (CHANNELS_FIRST, CHANNELS_LAST)
CHECKPOINT_FORMAT = "sceneweb-scene/1"
CONVERT_HINT = "pass --data-format channels_first or channels_last (see docs/models.md, 'Scene models')"


@dataclass(frozen=True)
class KerasLayer:
    name: str
    kernel: np.ndarray
    bias: np.ndarray


@dataclass(frozen=True)
class KerasWeights:
    layers: list[KerasLayer]
    backend: str | None
    data_format: str | None

    @property
    def theano_kernels(self) -> bool:
        return self.backend == "theano"


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _data_format_in_config(config: str | bytes | None) -> str | None:
    if config is None:
        return None
    formats = set()

    def visit(node) -> None:
        if isinstance(node, dict):
            if node.get("data_format") in DATA_FORMATS:
                formats.add(node["data_format"])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(json.loads(_text(config)))
    return formats.pop() if len(formats) == 1 else None


def data_format_from_filename(path: Path) -> str | None:
    """Keras named its weight files after the dimension ordering they were saved in."""
    name = Path(path).name.lower()
    if "tf_dim_ordering" in name:
        return CHANNELS_LAST
    if "th_dim_ordering" in name:
        return CHANNELS_FIRST
    return None


def _kernel_and_bias(group, weight_names: list[str], where: str) -> tuple[np.ndarray, np.ndarray]:
    """Keras saves [kernel, bias] per layer; tell them apart by rank rather than by naming scheme."""
    if len(weight_names) != 2:
        raise ModelFileError(f"{where}: expected a kernel and a bias, found weights {weight_names}")
    first, second = (np.asarray(group[name]) for name in weight_names)
    kernel, bias = (first, second) if first.ndim >= second.ndim else (second, first)
    if bias.ndim != 1 or kernel.ndim not in (2, 4):
        raise ModelFileError(f"{where}: weights of shapes {kernel.shape} and {bias.shape} are not a kernel and a bias")
    return kernel, bias


def read_keras_weights(path: Path) -> KerasWeights:
    """Every layer with weights, in model order, plus what the file says about how it was saved."""
    import h5py

    path = Path(path)
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise ModelFileError(f"{path} is not a readable HDF5 (Keras .h5) file: {exc}", code="weights_invalid") from exc
    with handle:
        root = handle.get("model_weights", handle)
        if "layer_names" not in root.attrs:
            raise ModelFileError(f"{path} has no Keras `layer_names`: not a Keras weights file", code="weights_invalid")
        layers = []
        for layer_name in (_text(n) for n in root.attrs["layer_names"]):
            group = root[layer_name]
            weight_names = [_text(n) for n in group.attrs.get("weight_names", [])]
            if weight_names:
                kernel, bias = _kernel_and_bias(group, weight_names, f"{path}, layer {layer_name}")
                layers.append(KerasLayer(layer_name, kernel, bias))
        attrs = {**handle.attrs, **root.attrs}
        return KerasWeights(
            layers=layers,
            backend=_text(attrs["backend"]) if "backend" in attrs else None,
            data_format=_data_format_in_config(attrs.get("model_config")),
        )


def _conv_weight(kernel: np.ndarray, *, flip: bool) -> torch.Tensor:
    if flip:
        kernel = kernel[::-1, ::-1]
    return torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))


def _first_dense_weight(kernel: np.ndarray, channels: int, data_format: str) -> torch.Tensor:
    weight = torch.from_numpy(np.ascontiguousarray(kernel.T))
    if data_format == CHANNELS_FIRST:
        return weight
    out_features, in_features = weight.shape
    side = math.isqrt(in_features // channels)
    if side * side * channels != in_features:
        raise ModelFileError(f"first dense layer takes {in_features} inputs, not a square map of {channels} channels")
    return weight.reshape(out_features, side, side, channels).permute(0, 3, 1, 2).reshape(out_features, in_features)


def keras_state_dict(weights: KerasWeights, target: nn.Module, *, data_format: str) -> dict[str, torch.Tensor]:
    """Map the Keras layers onto `target`'s Conv2d and Linear modules, in order, checking shapes."""
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {DATA_FORMATS}, got {data_format!r}")
    convs = [(n, m) for n, m in target.named_modules() if isinstance(m, nn.Conv2d)]
    denses = [(n, m) for n, m in target.named_modules() if isinstance(m, nn.Linear)]
    keras_convs = [layer for layer in weights.layers if layer.kernel.ndim == 4]
    keras_denses = [layer for layer in weights.layers if layer.kernel.ndim == 2]
    if (len(keras_convs), len(keras_denses)) != (len(convs), len(denses)):
        raise ModelFileError(
            f"the file has {len(keras_convs)} conv and {len(keras_denses)} dense layers; "
            f"{type(target).__name__} needs {len(convs)} and {len(denses)}",
            code="weights_wrong_architecture",
        )
    state: dict[str, torch.Tensor] = {}
    for (name, _), layer in zip(convs, keras_convs, strict=True):
        state[f"{name}.weight"] = _conv_weight(layer.kernel, flip=weights.theano_kernels)
        state[f"{name}.bias"] = torch.from_numpy(np.ascontiguousarray(layer.bias))
    channels = convs[-1][1].out_channels
    for position, ((name, _), layer) in enumerate(zip(denses, keras_denses, strict=True)):
        if position == 0:
            state[f"{name}.weight"] = _first_dense_weight(layer.kernel, channels, data_format)
        else:
            state[f"{name}.weight"] = torch.from_numpy(np.ascontiguousarray(layer.kernel.T))
        state[f"{name}.bias"] = torch.from_numpy(np.ascontiguousarray(layer.bias))
    expected = {k: v.shape for k, v in target.state_dict().items()}
    for key, tensor in state.items():
        if tensor.shape != expected[key]:
            layer = (keras_convs + keras_denses)[list(state).index(key) // 2]
            raise ModelFileError(
                f"Keras layer {layer.name} gives {key} the shape {tuple(tensor.shape)}, "
                f"expected {tuple(expected[key])}",
                code="weights_wrong_architecture",
            )
    return {k: v.float() for k, v in state.items()}


def resolve_data_format(weights: KerasWeights, path: Path, requested: str | None) -> str:
    data_format = requested or weights.data_format or data_format_from_filename(path)
    if data_format is None:
        raise ModelFileError(f"{path} does not say whether it is channels_first or channels_last; {CONVERT_HINT}.")
    return data_format


def convert_keras_vgg16(
    source: Path,
    out: Path,
    *,
    build: Callable[[int], nn.Module],
    num_classes: int | None = None,
    data_format: str | None = None,
) -> dict:
    """Read a Keras .h5, write a normal checkpoint for `build(num_classes)`; returns its summary.

    Without `num_classes`, the width of the file's last layer decides.
    """
    weights = read_keras_weights(source)
    data_format = resolve_data_format(weights, source, data_format)
    if not weights.layers:
        raise ModelFileError(f"{source} holds no layer weights", code="weights_invalid")
    num_classes = num_classes or int(weights.layers[-1].bias.shape[0])
    with torch.device("meta"):  # only names and shapes are needed: no 500 MB of throwaway weights
        target = build(num_classes)
    state = keras_state_dict(weights, target, data_format=data_format)
    summary = {
        "format": CHECKPOINT_FORMAT,
        "arch": "vgg16",
        "num_classes": num_classes,
        "converted_from": Path(source).name,
        "keras_backend": weights.backend,
        "data_format": data_format,
    }
    save_atomically({**summary, "state_dict": state}, out)
    return summary


def check_keras_vgg16(path: Path, num_classes: int) -> None:
    """Cheap validation of a downloaded .h5: the layer count and the classifier width."""
    weights = read_keras_weights(path)
    convs = [layer for layer in weights.layers if layer.kernel.ndim == 4]
    denses = [layer for layer in weights.layers if layer.kernel.ndim == 2]
    if len(convs) != 13 or len(denses) != 3 or denses[-1].kernel.shape[1] != num_classes:
        raise ModelFileError(
            f"{path} is not a VGG16 with {num_classes} classes ({len(convs)} conv layers, {len(denses)} dense layers)",
            code="weights_wrong_architecture",
        )
