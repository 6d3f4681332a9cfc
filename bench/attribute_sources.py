"""What each SUN-attribute source adds to one analysis (ResNet-18 scene model, default `fused` mode).

- none: the scene network alone (no attribute files installed);
- matrix: CSAIL's linear matrix over WideResNet-18 features (a fresh install since issue 13:
  a second pass, WideResNet-18 without its stem pool, then one 102 x 512 product);
- densenet201: the trained DenseNet-201 head;
- wideresnet18 scene model: for comparison, WideResNet-18 as the scene model, whose one pass
  yields both the scenes and the matrix's features.

The three analyzers are timed in turn inside each round (so load from other processes falls on
all alike), on the photos of ../shared/samples/ decoded once; medians after a warm-up round.
Random weights: speed does not depend on their values.

    .venv/bin/python bench/attribute_sources.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from classifier.engine import catalogue, installer  # noqa: E402
from classifier.engine.analyzer import SceneAnalyzer  # noqa: E402
from classifier.engine.attributes import ATTRIBUTE_FILENAME  # noqa: E402
from classifier.engine.imaging import decode_image  # noqa: E402
from classifier.testing.checkpoints import write_attribute_checkpoint, write_matrix_files, write_release  # noqa: E402
from classifier.testing.paths import SHARED  # noqa: E402

ATTRIBUTE_STAGE = {  # the timing of the pass that computes the attribute scores
    "none": "-",
    "matrix": "wideresnet18",
    "densenet201": "densenet201",
    "matrix, wideresnet18 scene model": "wideresnet18",
}


def models_dirs(folder: Path) -> dict[str, tuple[Path, str]]:
    """Installed folders (random weights) and the scene model to serve from each."""
    release = write_matrix_files(write_release(folder / "release"))
    write_attribute_checkpoint(release / ATTRIBUTE_FILENAME, release / "labels_sunattribute.txt")
    matrix = (*catalogue.DEFAULT_ASSETS, *catalogue.ATTRIBUTE_MATRIX_ASSETS)
    plans = {
        "none": (catalogue.DEFAULT_ASSETS, "resnet18"),
        "matrix": (matrix, "resnet18"),
        "densenet201": ((*catalogue.DEFAULT_ASSETS, catalogue.ATTRIBUTE_HEAD_ASSET), "resnet18"),
        "matrix, wideresnet18 scene model": (matrix, "wideresnet18"),
    }
    folders = {}
    for label, (names_to_install, scene_model) in plans.items():
        models = folder / label
        for name in names_to_install:
            installer.install_from_dir(name, models, release)
        folders[label] = (models, scene_model)
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    photos = [decode_image(p.read_bytes()) for p in sorted((SHARED / "samples").glob("*.jpg"))]
    if not photos:
        raise SystemExit(f"No photos in {SHARED / 'samples'}: the benchmark reads real photos from ../shared/.")
    load_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        analyzers = {}
        for label, (models, scene_model) in models_dirs(Path(tmp)).items():
            started = time.perf_counter()
            analyzers[label] = SceneAnalyzer.from_models_dir(models, scene_model=scene_model)
            analyzers[label].analyze(photos[0])  # warm-up
            print(f"{label}: built and warmed up in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        totals: dict[str, list[float]] = {label: [] for label in analyzers}
        stages: dict[str, list[float]] = {label: [] for label in analyzers}
        for _ in range(args.rounds):
            for label, analyzer in analyzers.items():
                for photo in photos:
                    timings = analyzer.analyze(photo).timings_ms
                    totals[label].append(timings["total"])
                    stages[label].append(timings.get(ATTRIBUTE_STAGE[label], 0.0))
    load_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    base = statistics.median(totals["none"])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.rounds} rounds x {len(photos)} photos")
    print(f"Load: before `{load_before}`; after `{load_after}`.\n")
    print("| attribute source | attribute pass ms (scene pass, if shared) | total ms | extra per analysis ms |")
    print("| --- | --- | --- | --- |")
    for label in analyzers:
        total = statistics.median(totals[label])
        print(f"| {label} | {statistics.median(stages[label]):.1f} | {total:.1f} | {total - base:+.1f} |")


if __name__ == "__main__":
    main()
