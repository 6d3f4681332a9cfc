"""What each `outputs=` choice of /api/analyze costs: one analysis (decoded photo in, the API's JSON
out) per choice, on a fresh install's models (ResNet-18 scenes, CSAIL's WideResNet-18 attribute
matrix), `fused` mode. Every choice is timed in turn inside each round, so load from other
processes falls on all of them alike; medians after warm-up. Random weights (speed does not
depend on their values) and the photos of ../shared/samples/.

    .venv/bin/python bench/outputs.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from classifier.api_request import AnalyzeOptions  # noqa: E402
from classifier.engine import catalogue, installer  # noqa: E402
from classifier.engine.analyzer import OUTPUTS, SceneAnalyzer  # noqa: E402
from classifier.engine.imaging import ImageLimits, decode_image  # noqa: E402
from classifier.testing.checkpoints import write_matrix_files, write_release  # noqa: E402
from classifier.testing.paths import SHARED  # noqa: E402

CHOICES = {
    "scenes": {"scenes"},
    "scenes,io": {"scenes", "io"},
    "attributes": {"attributes"},
    "cam": {"cam"},
    "heatmap": {"heatmap"},
    "all (default)": set(OUTPUTS),
}


def fresh_install(folder: Path) -> Path:
    release = write_matrix_files(write_release(folder / "release"))
    models = folder / "models"
    models.mkdir()
    for name in (*catalogue.DEFAULT_ASSETS, *catalogue.ATTRIBUTE_MATRIX_ASSETS):
        installer.install_from_dir(name, models, release)
    return models


def one_answer(analyzer: SceneAnalyzer, decoded, outputs: frozenset[str]) -> tuple[float, int]:
    """Milliseconds and bytes of the API's JSON for one photo with these outputs."""
    options = AnalyzeOptions(outputs=outputs, top_k=None, heatmap=True, cam_class=None)
    started = time.perf_counter()
    analysis = analyzer.analyze(decoded, outputs=outputs)
    body = json.dumps(options.select(analysis.to_dict()))
    return (time.perf_counter() - started) * 1000, len(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    photos = sorted((SHARED / "samples").glob("*.jpg"))
    if not photos:
        raise SystemExit(f"No photos in {SHARED / 'samples'}.")
    limits = ImageLimits(max_bytes=10 * 2**20, max_pixels=50_000_000)
    decoded = [decode_image(p.read_bytes(), limits) for p in photos]
    print(f"load average at start: {os.getloadavg()}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as folder:
        analyzer = SceneAnalyzer.from_models_dir(fresh_install(Path(folder)))
        times: dict[str, list[float]] = {name: [] for name in CHOICES}
        sizes: dict[str, int] = {}
        for round_number in range(args.rounds + 2):
            for name, outputs in CHOICES.items():
                for image in decoded:
                    ms, size = one_answer(analyzer, image, frozenset(outputs))
                    if round_number >= 2:  # the first two rounds warm up
                        times[name].append(ms)
                    sizes[name] = size
    print(f"load average at end: {os.getloadavg()}", file=sys.stderr)
    full = statistics.median(times["all (default)"])
    print("| outputs= | median ms | share of the full analysis | JSON bytes |")
    print("| --- | --- | --- | --- |")
    for name in CHOICES:
        median = statistics.median(times[name])
        print(f"| `{name}` | {median:.1f} | {median / full:.0%} | {sizes[name]:,} |")


if __name__ == "__main__":
    main()
