"""Graph-level options the engine does not use, measured against the ones it does: each network
alone, batch 1 at 224 px, 2 PyTorch threads, random weights.

- eager: torchvision's module in eval mode (the reference);
- fused: the engine's default (BatchNorm folded into convolutions, channels-last; acceleration.fused);
- jit-frozen: TorchScript trace, freeze and optimize_for_inference;
- compiled: torch.compile (Inductor, C++ kernels), with its compile time.

    .venv/bin/python bench/graph_modes.py [--runs 30]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from torchvision import models  # noqa: E402

from classifier.engine.acceleration import fused  # noqa: E402

NETWORKS = {
    "resnet18": lambda: models.resnet18(num_classes=365),
    "densenet201": lambda: models.densenet201(num_classes=102),
}


def median_ms(network, batch: torch.Tensor, runs: int) -> float:
    with torch.inference_mode():
        for _ in range(5):
            network(batch)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            network(batch)
            times.append(time.perf_counter() - started)
    return round(statistics.median(times) * 1000, 1)


def seconds_to_first_call(make, batch: torch.Tensor) -> tuple[object, float]:
    started = time.perf_counter()
    network = make()
    with torch.inference_mode():
        network(batch)
    return network, round(time.perf_counter() - started, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    batch = torch.randn(1, 3, 224, 224)
    print("| network | eager ms | fused ms | jit-frozen ms | compiled ms | compile s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, build in NETWORKS.items():
        net = build().eval()
        with torch.no_grad():
            frozen = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(net, batch)))
        compiled, compile_s = seconds_to_first_call(lambda net=net: torch.compile(net, dynamic=False), batch)
        row = [median_ms(n, batch, args.runs) for n in (net, fused(net), frozen, compiled)]
        print(f"| {name} | " + " | ".join(str(v) for v in row) + f" | {compile_s} |")


if __name__ == "__main__":
    main()
