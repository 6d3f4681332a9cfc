"""How the networks run on a CPU: inference modes, thread counts, and running the two
networks side by side.

Every mode keeps the engine's interfaces: a scene net still answers `heatmap_pass` (logits and
feature map from one pass) and an attribute model still answers `scores`; only the callable
that computes the forward pass changes. Each mode is prepared once, when the analyzer is
built, and is then only read, so one analyzer serves many threads.

- "eager": the torchvision modules as built (the reference the others are checked against).
- "fused": BatchNorm folded into the preceding convolutions and channels-last memory layout;
  pure PyTorch, a second or two at start-up, same results to float rounding (the default).
- "bf16": "fused" with the weights and activations in bfloat16 (oneDNN's AVX-512 BF16 / AMX
  kernels), answers returned in fp32; 1.6-2x faster than "fused" on CPUs that have the
  instructions, slower on those that do not. Custom models run their trunk in bf16 too.
- "fp16" (GPU only), and "fused"/"bf16" on a GPU with `device="cuda"` (SCENEWEB_DEVICE).
- "openvino" / "openvino-bf16": the networks run by OpenVINO (optional package) in fp32 / bf16,
  compiled once per process (`_openvino`); "openvino-bf16" was the fastest mode that met the
  fidelity bar here.
- "auto" (the service's default): resolved once at start-up by `resolved`, from the CPU's flags,
  among the modes that met the fidelity bar (`_choice`); otherwise "fused".
- "onnx": the networks exported once to ONNX and run by ONNX Runtime, an optional package
  (`pip install onnxruntime onnx`).
- "onnx-int8": the ONNX graphs quantised to int8 (static, per-channel weights, activation
  ranges calibrated on a few real photos), for CPUs with VNNI; numerics change, so it is never
  the default (bench/fidelity.py measures how much).

Grad-CAM networks (AlexNet, VGG16) need autograd through their classifier, so they always
run eagerly; the attribute model is accelerated in every case.

The work lives in private modules, one per concept (as timm keeps its infrastructure):
`_modes` (the settings and preparing a network for its mode), `_choice` (auto: the mode from
the CPU's flags), `_openvino`, `_onnx` (export, int8
quantisation and the ONNX Runtime session) and `_pool` (the per-process threads that run the
two networks side by side). Import from this package, not from them.
"""

from classifier.engine.acceleration._choice import choose_device, choose_mode, cpu_flags, resolved
from classifier.engine.acceleration._modes import (
    INFERENCE_MODES,
    AcceleratedSceneNet,
    InferenceSettings,
    accelerate_attributes,
    accelerate_custom,
    accelerate_scene_net,
    apply_thread_setting,
    fused,
)
from classifier.engine.acceleration._onnx import calibration_batches, int8_model, onnx_graph
from classifier.engine.acceleration._openvino import OpenVinoNetwork
from classifier.engine.acceleration._pool import PerProcessPool, single_thread_pool, timed_inference

__all__ = [
    "INFERENCE_MODES",
    "AcceleratedSceneNet",
    "InferenceSettings",
    "OpenVinoNetwork",
    "PerProcessPool",
    "accelerate_attributes",
    "accelerate_custom",
    "accelerate_scene_net",
    "apply_thread_setting",
    "calibration_batches",
    "choose_device",
    "choose_mode",
    "cpu_flags",
    "fused",
    "int8_model",
    "onnx_graph",
    "resolved",
    "single_thread_pool",
    "timed_inference",
]
