"""Time of one training epoch of the DenseNet-201 SUN-attribute head, for docs/training.md.

Times a few SGD steps (forward, MultiLabelSoftMarginLoss, backward, step) on random batches of
the real shape and extrapolates to the 11,472 training images of the 80/10/10 split, plus the
1,434 validation images scored once per epoch. Data loading is left out: with enough
--workers it overlaps the compute. Usage:

    .venv/bin/python bench/attribute_epoch.py [--batches 3] [--batch-size 50] [--image-size 224] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TRAIN_IMAGES = 11472
VAL_IMAGES = 1434


def timed(step) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=3, help="timed training steps (after one warm-up)")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default one per core)")
    args = parser.parse_args()

    import torch
    from torch import nn

    from classifier.engine.attributes import build_attribute_net

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(0)
    net = build_attribute_net(102).to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    loss_fn = nn.MultiLabelSoftMarginLoss()
    images = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=device)
    targets = (torch.rand(args.batch_size, 102, device=device) < 0.1).float()

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        loss_fn(net(images), targets).backward()
        optimizer.step()
        sync()

    def eval_step():
        with torch.no_grad():
            net(images)
        sync()

    load_before = os.getloadavg()
    net.train()
    warmup = timed(train_step)
    train = [timed(train_step) for _ in range(args.batches)]
    net.eval()
    timed(eval_step)
    evaluate = [timed(eval_step) for _ in range(max(1, args.batches - 1))]
    per_train_batch, per_eval_batch = statistics.median(train), statistics.median(evaluate)
    epoch = (TRAIN_IMAGES / args.batch_size) * per_train_batch + (VAL_IMAGES / args.batch_size) * per_eval_batch
    print(
        json.dumps(
            {
                "device": str(device),
                "threads": torch.get_num_threads(),
                "cores": os.cpu_count(),
                "batch_size": args.batch_size,
                "image_size": args.image_size,
                "warmup_step_s": round(warmup, 2),
                "train_step_s": [round(t, 2) for t in train],
                "eval_batch_s": [round(t, 2) for t in evaluate],
                "train_images_per_s": round(args.batch_size / per_train_batch, 2),
                "epoch_minutes": round(epoch / 60, 1),
                "forty_epochs_hours": round(40 * epoch / 3600, 1),
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
