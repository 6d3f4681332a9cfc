"""The networks alone, batch 1, side by side in one run: PyTorch fp32 ("fused"), PyTorch bf16,
ONNX Runtime fp32 and int8, OpenVINO fp32, bf16 and int8 (NNCF post-training static
quantisation calibrated on real photos from ../shared/datasets/scene15, never the photos
bench/trained_fidelity.py scores). PyTorch's own int8 path (the X86 quantizer through
torch.export, PT2E) lives in torchao since torch 2.10 and is not installed here: not compared.

Every candidate is timed in turn inside the same round (load from other processes falls on all
alike); medians. Random weights (speed does not depend on them); the trained-network fidelity
of the OpenVINO modes is in bench/trained_fidelity.py, which imports `openvino_network`.

    nice -n 10 .venv/bin/python bench/openvino_modes.py [--rounds 15] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from bench.analyze import calibration_photos, load_average, machine, matmul_gflops  # noqa: E402
from classifier.engine import acceleration  # noqa: E402
from classifier.engine.acceleration import InferenceSettings  # noqa: E402
from classifier.engine.catalogue import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402
from classifier.engine.places import build_scene_net, scene_model_spec  # noqa: E402


def openvino_network(
    module: torch.nn.Module, size: int, precision: str, threads: int, calibration: Sequence[torch.Tensor] = ()
) -> acceleration.OpenVinoNetwork:
    """The engine's OpenVINO network in fp32 or bf16, or in int8: its graph quantised by NNCF
    (post-training static, activation ranges from the calibration batches) before it is compiled."""
    import nncf

    mode = "openvino-bf16" if precision == "bf16" else "openvino"
    network = acceleration.OpenVinoNetwork(module, size, threads, 2, mode)
    if precision == "int8":
        data = nncf.Dataset(list(calibration), lambda t: t.numpy())
        network.model = nncf.quantize(
            network.model, data, subset_size=len(calibration), preset=nncf.QuantizationPreset.PERFORMANCE
        )
    return network


def candidates(name: str, threads: int, calibration: list[torch.Tensor]) -> dict:
    net = build_scene_net(scene_model_spec(name))
    found = {
        "torch fp32 (fused)": acceleration.accelerate_scene_net(net, InferenceSettings(mode="fused"), 224),
        "torch bf16": acceleration.accelerate_scene_net(net, InferenceSettings(mode="bf16"), 224),
        "onnxruntime fp32": acceleration.accelerate_scene_net(
            net, InferenceSettings(mode="onnx", threads=threads), 224
        ),
        "onnxruntime int8": acceleration.accelerate_scene_net(
            net, InferenceSettings(mode="onnx-int8", threads=threads), 224, calibration
        ),
    }
    for precision in ("fp32", "bf16", "int8"):
        found[f"openvino {precision}"] = openvino_network(net, 224, precision, threads, calibration)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    calibration = acceleration.calibration_batches(calibration_photos(), 224, IMAGENET_MEAN, IMAGENET_STD)
    load_before, rate = load_average(), matmul_gflops(args.threads)
    batch = torch.randn(1, 3, 224, 224)
    table = {}
    for name in ("resnet18", "wideresnet18"):
        networks = candidates(name, args.threads, calibration)
        times = {label: [] for label in networks}
        with torch.inference_mode():
            for round_index in range(args.rounds + 2):
                for label, network in networks.items():
                    started = time.perf_counter()
                    network(batch)
                    if round_index >= 2:
                        times[label].append((time.perf_counter() - started) * 1000)
        table[name] = {label: statistics.median(t) for label, t in times.items()}
    rate = statistics.median([rate, matmul_gflops(args.threads)])
    print(f"Machine: {machine()}; fp32 matmul {rate:.0f} GFLOP/s; {args.threads} threads; {args.rounds} rounds.")
    print(f"Load before `{load_before}`, after `{load_average()}`.")
    print()
    print("| runtime and precision | ResNet-18 ms | x vs torch fp32 | WideResNet-18 ms | x vs torch fp32 |")
    print("| --- | --- | --- | --- | --- |")
    for label in table["resnet18"]:
        cells = []
        for name in ("resnet18", "wideresnet18"):
            ms = table[name][label]
            cells += [f"{ms:.1f}", f"{table[name]['torch fp32 (fused)'] / ms:.2f}x"]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
