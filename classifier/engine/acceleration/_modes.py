"""The inference settings and what each mode makes of a network.

Kept apart from the ONNX and thread-pool code so that choosing a mode reads in one place: the
settings record, the thread setting, the pure-PyTorch "fused" rewrite, and the two entry points
the analyzer calls to wrap its networks for the chosen mode.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from classifier.engine.acceleration._cache import ConvertedCache
from classifier.engine.acceleration._onnx import OnnxNetwork
from classifier.engine.acceleration._openvino import OpenVinoNetwork
from classifier.engine.attributes import AttributeModel
from classifier.engine.custom import CustomModel
from classifier.engine.places import ConvClassifierSceneNet, SceneNet

INFERENCE_MODES = ("fused", "eager", "bf16", "fp16", "onnx", "onnx-int8", "openvino", "openvino-bf16", "auto")
DEFAULT_MODE = "fused"
"""The engine's default: fp32, the same answers on every CPU; the service asks for "auto"."""
GPU_MODES = ("fused", "bf16", "fp16")
REDUCED = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class InferenceSettings:
    mode: str = DEFAULT_MODE
    threads: int = 0
    """Intra-op threads per network; 0 keeps PyTorch's default (one per core)."""
    parallel: bool = False
    """Run the scene and attribute networks at the same time, one thread each."""
    calibration: tuple[Path, ...] = ()
    """Photos whose activations set the int8 ranges (mode onnx-int8 only)."""
    device: str = "cpu"
    """ "cpu", "cuda" or "auto" (the GPU when there is one); SCENEWEB_DEVICE."""
    cache_dir: Path | None = None
    """Where the openvino and onnx modes keep their converted networks (SCENEWEB_INFERENCE_CACHE_DIR);
    None converts them at every start."""

    def __post_init__(self) -> None:
        check_mode(self.mode)
        if self.device == "cuda" and self.mode not in (*GPU_MODES, "auto"):
            raise ValueError(f"Inference mode {self.mode!r} runs on the CPU only; on cuda: {', '.join(GPU_MODES)}")
        if self.mode == "fp16" and self.device == "cpu":
            raise ValueError("Inference mode 'fp16' is for GPUs; on a CPU choose bf16 (or auto)")
        if self.threads < 0:
            raise ValueError(f"threads must be 0 (PyTorch's default) or more, got {self.threads}")

    @property
    def threads_per_network(self) -> int:
        if self.parallel:
            return 1
        return self.threads or torch.get_num_threads()


def check_mode(mode: str) -> str:
    """The mode, or a ValueError naming the known ones."""
    if mode not in INFERENCE_MODES:
        raise ValueError(f"Unknown inference mode {mode!r}; choose one of: {', '.join(INFERENCE_MODES)}")
    return mode


def apply_thread_setting(threads: int) -> None:
    """Set PyTorch's intra-op threads for the process (new threads inherit the last value set)."""
    if threads:
        torch.set_num_threads(threads)


class _ChannelsLast(nn.Module):
    """Feeds a channels-last network: convolutions then skip a layout conversion per layer."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net.to(memory_format=torch.channels_last)

    def forward(self, batch: torch.Tensor):
        return self.net(batch.contiguous(memory_format=torch.channels_last))


def fused(module: nn.Module) -> nn.Module:
    """A copy with every Conv2d+BatchNorm2d pair folded into one Conv2d, in channels-last layout.

    DenseNet's other BatchNorms (before a ReLU and after a concatenation) cannot be folded and stay.
    """
    from torch.fx.experimental import optimization

    return _ChannelsLast(optimization.fuse(module.eval(), inplace=False)).eval()


class _Reduced(nn.Module):
    """Runs a network in bf16 or fp16 (or fp32 on a GPU) and answers in fp32 on the CPU, so the
    softmax, CAMs and attribute matrix read what they read before.

    The weights are cast once (measured here: WideResNet-18 2.0x faster than fp32, against 1.4x
    for `torch.autocast`, which casts them again on every call).
    """

    def __init__(self, net: nn.Module, dtype: torch.dtype, device: str = "cpu"):
        super().__init__()
        self.dtype, self.device = dtype, device
        self.net = net.to(device=device, dtype=dtype)

    def forward(self, batch: torch.Tensor):
        output = self.net(batch.to(device=self.device, dtype=self.dtype))
        if isinstance(output, tuple):
            return tuple(o.float().cpu() for o in output)
        return output.float().cpu()


class AcceleratedSceneNet(SceneNet):
    """A scene net whose forward pass is a prepared callable; heatmaps still read the original fc."""

    def __init__(self, original: SceneNet, forward: Callable):
        super().__init__(original.net)
        self.original = original
        self.fast_forward = forward
        self.heatmap = original.heatmap

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.fast_forward(x)

    @property
    def class_weights(self) -> torch.Tensor:
        return self.original.class_weights


def accelerate_scene_net(
    net: SceneNet, settings: InferenceSettings, input_size: int, calibration: Sequence[torch.Tensor] | None = None
) -> SceneNet:
    if settings.mode == "eager" or isinstance(net, ConvClassifierSceneNet):
        return net
    return AcceleratedSceneNet(net, _prepare(net, settings, input_size, 2, calibration))


def accelerate_attributes(
    model, settings: InferenceSettings, input_size: int, calibration: Sequence[torch.Tensor] | None = None
):
    """The DenseNet-201 head accelerated; other attribute models (the linear matrix) as they are."""
    if settings.mode == "eager" or not isinstance(model, AttributeModel):
        return model
    return dataclasses.replace(model, net=_prepare(model.net, settings, input_size, 1, calibration))


def accelerate_custom(model: CustomModel, settings: InferenceSettings) -> CustomModel:
    """A fine-tuned model in bf16/fp16 (its trunk; the head and CAM weights stay fp32); else as it is.

    Under "openvino-bf16" it runs PyTorch's bf16: its trunk is a user's network of any family."""
    dtype = REDUCED.get(settings.mode.removeprefix("openvino-"))
    if dtype is None and settings.device == "cpu":
        return model
    net = copy.deepcopy(model.net)
    net.blocks = _Reduced(_ChannelsLast(net.blocks), dtype or torch.float32, settings.device)
    return dataclasses.replace(model, net=net)


def _prepare(
    module: nn.Module,
    settings: InferenceSettings,
    input_size: int,
    outputs: int,
    calibration: Sequence[torch.Tensor] | None,
) -> Callable:
    cache = ConvertedCache(settings.cache_dir)
    if settings.mode.startswith("onnx"):  # calibration is given for onnx-int8 only
        return OnnxNetwork(module, input_size, settings.threads_per_network, outputs, calibration, cache)
    if settings.mode.startswith("openvino"):
        return OpenVinoNetwork(module, input_size, settings.threads_per_network, outputs, settings.mode, cache)
    if settings.mode in REDUCED or settings.device != "cpu":
        return _Reduced(fused(module), REDUCED.get(settings.mode, torch.float32), settings.device)
    return fused(module)
