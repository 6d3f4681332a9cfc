"""Would micro-batching pay? The two fused networks (fp32) on batches of 1, 2 and 4 images,
against the same images one at a time, at the thread count a gunicorn worker gets (one PyTorch
thread per worker on this 2-core machine) and at 2. `--collection` asks the same of a photo
collection's worker: ResNet-18 alone in openvino-bf16 (the default mode here), batches up to 8;
run two copies at once to see it with the other core busy, as with `analyze --workers 2`.

    .venv/bin/python bench/batching.py [--repeats 8] [--collection]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from torchvision import models  # noqa: E402

from classifier.engine.acceleration import fused  # noqa: E402


def networks_ms(nets: list, size: int, repeats: int) -> float:
    """Median time of both networks on one batch of `size` images."""
    batch = torch.randn(size, 3, 224, 224)
    with torch.inference_mode():
        for net in nets:
            net(batch)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            for net in nets:
                net(batch)
            times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def openvino_bf16(module: torch.nn.Module, threads: int):
    """The engine's own OpenVINO network (its graph takes any batch size)."""
    from classifier.engine.acceleration._openvino import OpenVinoNetwork

    return OpenVinoNetwork(module, 224, threads, outputs=1, mode="openvino-bf16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=8)
    parser.add_argument("--collection", action="store_true", help="ResNet-18 alone in openvino-bf16")
    args = parser.parse_args()
    if args.collection:
        sizes, repeats = (1, 2, 4, 8), max(args.repeats, 40)
        nets_at = {t: [openvino_bf16(models.resnet18(num_classes=365), t)] for t in (1, 2)}
    else:
        sizes, repeats = (1, 2, 4), args.repeats
        nets = [fused(models.resnet18(num_classes=365).eval()), fused(models.densenet201(num_classes=102).eval())]
        nets_at = {1: nets, 2: nets}
    print("| threads | batch | ms per batch | ms per image | throughput vs one at a time |")
    print("| --- | --- | --- | --- | --- |")
    for threads, nets in nets_at.items():
        torch.set_num_threads(threads)
        single = networks_ms(nets, 1, repeats)
        for size in sizes:
            total = single if size == 1 else networks_ms(nets, size, repeats)
            print(f"| {threads} | {size} | {total:.1f} | {total / size:.1f} | {single * size / total:.2f}x |")


if __name__ == "__main__":
    main()
