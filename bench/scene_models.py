"""Time per analysis and memory of every registered scene model, for docs/benchmarks.md.

Each model runs in its own process (so peak memory is its own) with random weights: speed and
memory do not depend on the weight values. The analysis is the full one the service runs
(preprocess, forward, top-5, IO, heatmaps of the five scenes, PNG overlay), without the
attribute model. Usage:

    .venv/bin/python bench/scene_models.py [--repeats 10] [--photo ../shared/samples/x.jpg] [--models a,b]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from classifier.testing.paths import LABELS_DIR, SHARED  # noqa: E402


def measure(name: str, photo: Path, repeats: int) -> dict:
    import torch
    from PIL import Image

    from classifier.engine.analyzer import SceneAnalyzer
    from classifier.engine.imaging import decode_image
    from classifier.engine.labels import PlacesLabels, read_categories, read_io_labels
    from classifier.engine.places import build_scene_net, scene_model_spec

    spec = scene_model_spec(name)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    net = build_scene_net(spec)
    categories = LABELS_DIR / (
        "categories_hybrid1365.txt" if spec.weights.num_classes == 1365 else "categories_places365.txt"
    )
    labels = PlacesLabels(
        read_categories(categories, expected=spec.weights.num_classes),
        spec.weights.class_io_labels(read_io_labels(LABELS_DIR / "IO_places365.txt")),
    )
    analyzer = SceneAnalyzer(net, labels, spec=spec)
    image = decode_image(photo.read_bytes()) if photo.is_file() else Image.new("RGB", (640, 480), (90, 120, 200))
    analyzer.analyze(image)  # warm-up
    times, forward, cams = [], [], []
    for _ in range(repeats):
        started = time.perf_counter()
        analysis = analyzer.analyze(image)
        times.append((time.perf_counter() - started) * 1000)
        forward.append(analysis.timings_ms[name])
        cams.append(analysis.timings_ms["cam"])
    return {
        "model": name,
        "ms_median": round(statistics.median(times), 1),
        "forward_ms_median": round(statistics.median(forward), 1),
        "heatmaps_ms_median": round(statistics.median(cams), 1),
        "params_mb": round(sum(p.numel() * p.element_size() for p in net.parameters()) / 2**20, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_growth_mb": round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024, 1),
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    from classifier.engine.places import SCENE_MODELS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    photos = sorted((SHARED / "samples").glob("*.jpg"))
    parser.add_argument("--photo", type=Path, default=photos[0] if photos else Path("-"))
    parser.add_argument("--models", default=",".join(SCENE_MODELS))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.photo, args.repeats)))
        return
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    print("| model | analysis ms (median) | forward ms | heatmaps ms | weights MB | peak RSS MB | published top-1 % |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name in args.models.split(","):
        command = [sys.executable, __file__, "--one", name, "--repeats", str(args.repeats), "--photo", str(args.photo)]
        row = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
        top1 = SCENE_MODELS[name].weights.published_top1
        print(
            f"| `{name}` | {row['ms_median']} | {row['forward_ms_median']} | {row['heatmaps_ms_median']} | "
            f"{row['params_mb']} | {row['peak_rss_mb']} | {top1 if top1 else '-'} |",
            flush=True,
        )
    print(f"load average after: {os.getloadavg()}", file=sys.stderr)


if __name__ == "__main__":
    main()
