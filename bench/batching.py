"""Would micro-batching concurrent requests pay? The two fused networks (the engine's default
mode) on batches of 1, 2 and 4 images, against the same images one at a time, at the thread
count a gunicorn worker gets (one PyTorch thread per worker on this 2-core machine) and at 2.

    .venv/bin/python bench/batching.py [--repeats 8]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=8)
    args = parser.parse_args()
    nets = [fused(models.resnet18(num_classes=365).eval()), fused(models.densenet201(num_classes=102).eval())]
    print("| PyTorch threads | batch | ms per batch | ms per image | throughput vs one at a time |")
    print("| --- | --- | --- | --- | --- |")
    for threads in (1, 2):
        torch.set_num_threads(threads)
        single = networks_ms(nets, 1, args.repeats)
        for size in (1, 2, 4):
            total = single if size == 1 else networks_ms(nets, size, args.repeats)
            print(f"| {threads} | {size} | {total:.1f} | {total / size:.1f} | {single * size / total:.2f}x |")


if __name__ == "__main__":
    main()
