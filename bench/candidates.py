"""The candidates the benches compare: every inference mode of the engine, and the two int8 paths
the service does not run, built the same way so that bench/analyze.py times them and
bench/trained_fidelity.py scores them from one list.

- "openvino-int8": the engine's OpenVINO graph quantised by NNCF (post-training static,
  activation ranges from calibration batches) before it is compiled;
- "pt2e-int8": PyTorch's own int8 path: torch.export, the X86 inductor quantizer of torchao
  (`torchao.quantization.pt2e`, requirements-dev.txt), calibration, then `torch.compile`
  (inductor, with freezing: the int8 convolutions become oneDNN kernels).

Both are calibrated on real photos the fidelity check never scores.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Sequence

import torch
from torch import nn

from classifier.engine import acceleration, linear_attributes
from classifier.engine.acceleration import AcceleratedSceneNet, InferenceSettings
from classifier.engine.analyzer import SceneAnalyzer
from classifier.engine.attributes import AttributeModel
from classifier.engine.places import SceneNet

INT8_ONLY_HERE = ("openvino-int8", "pt2e-int8")
CANDIDATES = ("fused", "bf16", "onnx", "onnx-int8", "openvino", "openvino-bf16", *INT8_ONLY_HERE)
NEEDS = {
    "onnx": "onnxruntime",
    "onnx-int8": "onnxruntime",
    "openvino": "openvino",
    "openvino-bf16": "openvino",
    "openvino-int8": "nncf",
    "pt2e-int8": "torchao",
}
"""The optional package each candidate needs (the benches leave out those not installed)."""


def installed(names: Sequence[str]) -> list[str]:
    """The candidates whose package is installed, saying on stderr which were left out."""
    kept = []
    for name in names:
        package = NEEDS.get(name)
        try:
            if package:
                __import__(package)
        except ImportError:
            print(f"{package} is not installed: {name} is left out", file=sys.stderr)
            continue
        kept.append(name)
    return kept


def int8_network(
    name: str, module: nn.Module, size: int, threads: int, outputs: int, calibration: Sequence[torch.Tensor]
) -> Callable:
    """`module` (a scene net: logits and feature map; or a network with one output) in int8 by `name`."""
    if name == "openvino-int8":
        import nncf

        network = acceleration.OpenVinoNetwork(module, size, threads, outputs, "openvino")
        data = nncf.Dataset(list(calibration), lambda t: t.numpy())
        network.model = nncf.quantize(
            network.model, data, subset_size=len(calibration), preset=nncf.QuantizationPreset.PERFORMANCE
        )
        return network
    if name == "pt2e-int8":
        return pt2e_int8(module, size, calibration)
    raise ValueError(f"Unknown int8 candidate {name!r}; known: {', '.join(INT8_ONLY_HERE)}")


def pt2e_int8(module: nn.Module, size: int, calibration: Sequence[torch.Tensor]) -> Callable:
    """Static int8 (per-channel weights, per-tensor activations) through torch.export.

    The export is strict: torch 2.14's default (non-strict) export records the two calls of a
    BasicBlock's one nn.ReLU as one source partition, and torchao 0.18's X86 quantizer then
    refuses the graph ("Input partition has more than one output node")."""
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as x86

    example = (torch.zeros(2, 3, size, size),)  # 2, not 1: export specialises a dimension of size 1
    graph = torch.export.export(
        module.eval(), example, dynamic_shapes=({0: torch.export.Dim("batch", max=1024)},), strict=True
    ).module()
    quantizer = x86.X86InductorQuantizer().set_global(x86.get_default_x86_inductor_quantization_config())
    prepared = prepare_pt2e(graph, quantizer)
    with torch.no_grad():
        for batch in calibration:
            prepared(batch)
    torch._inductor.config.freezing = True  # weights become constants, so inductor can pack them for oneDNN
    return torch.compile(convert_pt2e(prepared), dynamic=True)


def scene_network(name: str, net: SceneNet, size: int, threads: int, calibration: Sequence[torch.Tensor]) -> SceneNet:
    """The scene net as candidate `name` runs it (calibration is read by the int8 ones only)."""
    if name in INT8_ONLY_HERE:
        return AcceleratedSceneNet(net, int8_network(name, net, size, threads, 2, calibration))
    settings = InferenceSettings(mode=name, threads=threads)
    return acceleration.accelerate_scene_net(net, settings, size, calibration if name == "onnx-int8" else None)


def with_int8_networks(analyzer: SceneAnalyzer, name: str, calibration: Sequence[torch.Tensor]) -> SceneAnalyzer:
    """An analyzer built in "fused" mode, its networks replaced by the int8 candidate's (the rest of
    the analysis, CAM and attribute maps included, is the engine's own)."""
    size, threads = analyzer.weights.input_size, analyzer.inference.threads_per_network

    def replaced(net: AcceleratedSceneNet) -> AcceleratedSceneNet:
        return AcceleratedSceneNet(net.original, int8_network(name, net.original, size, threads, 2, calibration))

    analyzer.scene_net = replaced(analyzer.scene_net)
    model = analyzer.attribute_model
    if isinstance(model, AttributeModel):
        network = int8_network(name, analyzer.map_source.net, size, threads, 1, calibration)
        analyzer.attribute_model = dataclasses.replace(model, net=network)
    elif isinstance(model, linear_attributes.LinearAttributeModel) and not analyzer.attributes_share_scene_pass:
        analyzer.attribute_model = dataclasses.replace(model, net=replaced(model.net))
    return analyzer
