"""Does a faster mode still give the reference's answers? Each mode that changes numerics is
compared with the fp32 eager reference on real photos.

Compared modes: "fused" (BatchNorm folded, channels-last), "onnx" (ONNX Runtime, when
installed), "onnx-int8" (calibrated on photos the comparison does not use), the networks side
by side, and reduced-size JPEG decoding (`decode_image` decodes large JPEGs at 1/2, 1/4 or 1/8
scale; compared with a full-size decode of the same bytes, on phone-sized 4032x3024
re-encodings of each photo). Figures: top-1 agreement, mean top-5 and top-10 attribute overlap,
largest scene-probability and attribute-score difference, mean correlation of the top-1 CAM
grids; the scoring (`Answer`, `agreement`, `table`) is bench/trained_fidelity.py's too.
Random weights by default; `--models-dir` uses a real models folder.

    .venv/bin/python bench/fidelity.py [--photos 20] [--models-dir models/]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bench.analyze import calibration_photos, load_average  # noqa: E402
from classifier.engine.acceleration import InferenceSettings  # noqa: E402
from classifier.engine.analyzer import SceneAnalyzer  # noqa: E402
from classifier.engine.imaging import DecodedImage, ImageLimits, decode_image  # noqa: E402
from classifier.testing.checkpoints import write_models_dir  # noqa: E402
from classifier.testing.paths import SHARED  # noqa: E402


def real_photos(count: int) -> list[Path]:
    """The samples, then photos spread over the classes of the two datasets."""
    found = sorted((SHARED / "samples").glob("*.jpg"))
    for dataset in ("scene15", "intel-scenes"):
        classes = sorted((SHARED / "datasets" / dataset / "train").glob("*"))
        for i in range(count):
            if classes:
                pictures = sorted(classes[i % len(classes)].glob("*.jpg"))
                if pictures:
                    found.append(pictures[(i // len(classes)) % len(pictures)])
    return found


def full_size_decode(data: bytes) -> DecodedImage:
    """The reference decode: every pixel, then the same downscale `decode_image` applies."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    size, side = image.size, ImageLimits().working_max_side
    image.thumbnail((side, side), Image.Resampling.BILINEAR)
    return DecodedImage(image, "JPEG", size, 0.0)


def phone_sized(path: Path) -> bytes:
    buffer = io.BytesIO()
    Image.open(path).convert("RGB").resize((4032, 3024), Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


@dataclass(frozen=True)
class Answer:
    """What a faster mode must keep of one photo's analysis (bench/trained_fidelity.py builds
    them from tensors, this script from the engine's `Analysis`)."""

    scenes: tuple[int, ...]
    """The top-5 scene indices, most likely first."""
    probabilities: tuple[float, ...]
    attributes: dict[str, float]
    """The top-10 attributes and their scores."""
    cam_index: int
    cam_grid: np.ndarray

    @classmethod
    def of(cls, analysis) -> Answer:
        return cls(
            tuple(s.index for s in analysis.scenes),
            tuple(s.probability for s in analysis.scenes),
            {a.label: a.score for a in analysis.attributes},
            analysis.cam.index,
            np.asarray(analysis.cam.grid),
        )


def agreement(pairs: list[tuple[Answer, Answer]]) -> dict:
    """(reference, candidate) pairs -> the agreement figures; CAM grids are compared where both
    mapped the same class."""
    top1 = np.mean([a.scenes[0] == b.scenes[0] for a, b in pairs])
    top5 = np.mean([len(set(a.scenes) & set(b.scenes)) / len(a.scenes) for a, b in pairs])
    attributes = np.mean([len(a.attributes.keys() & b.attributes.keys()) / max(len(a.attributes), 1) for a, b in pairs])
    probability = max(abs(x - y) for a, b in pairs for x, y in zip(a.probabilities, b.probabilities, strict=True))
    attribute = max(
        (
            abs(score - a.attributes[label])
            for a, b in pairs
            for label, score in b.attributes.items()
            if label in a.attributes
        ),
        default=0.0,
    )
    correlations = [
        np.corrcoef(np.ravel(a.cam_grid), np.ravel(b.cam_grid))[0, 1]
        for a, b in pairs
        if a.cam_index == b.cam_index and np.std(a.cam_grid) > 0 and np.std(b.cam_grid) > 0
    ]
    return {
        "photos": len(pairs),
        "top1": round(float(top1), 4),
        "top5_overlap": round(float(top5), 4),
        "attribute_top10": round(float(attributes), 4),
        "max_probability_diff": float(f"{probability:.2g}"),
        "max_attribute_diff": float(f"{attribute:.2g}"),
        "cam_correlation": round(float(np.mean(correlations)), 4) if correlations else None,
    }


COLUMNS = {
    "photos": ("photos", str),
    "top1": ("top-1 agreement", "{:.2%}".format),
    "top5_overlap": ("top-5 overlap", "{:.2%}".format),
    "attribute_top10": ("attribute top-10 overlap", "{:.2%}".format),
    "max_probability_diff": ("max prob. diff", str),
    "max_attribute_diff": ("max attribute diff", str),
    "cam_correlation": ("CAM correlation", str),
}


def table(rows: dict[str, dict], columns: dict = COLUMNS) -> list[str]:
    """A markdown table, one row per mode, one column per figure."""
    lines = [
        "| mode vs fp32 eager reference | " + " | ".join(title for title, _ in columns.values()) + " |",
        "| --- " * (len(columns) + 1) + "|",
    ]
    for name, row in rows.items():
        lines.append(f"| {name} | " + " | ".join(show(row[key]) for key, (_, show) in columns.items()) + " |")
    return lines


def run(models: Path, count: int) -> dict:
    photos = real_photos(count)
    reference = SceneAnalyzer.from_models_dir(models, inference=InferenceSettings(mode="eager"))
    modes = {"fused": InferenceSettings(mode="fused"), "fused, parallel": InferenceSettings(parallel=True)}
    try:
        import onnxruntime  # noqa: F401

        modes["onnx"] = InferenceSettings(mode="onnx")
        modes["onnx-int8"] = InferenceSettings(mode="onnx-int8", calibration=calibration_photos())
    except ImportError:
        print("onnxruntime is not installed: the onnx mode is skipped", file=sys.stderr)
    analyzers = {name: SceneAnalyzer.from_models_dir(models, inference=s) for name, s in modes.items()}
    pairs: dict[str, list[tuple]] = {name: [] for name in (*analyzers, "reduced-size decode (4032x3024)")}
    for path in tqdm(photos, desc="photos"):
        image = decode_image(path.read_bytes())
        expected = Answer.of(reference.analyze(image, heatmap=False))
        for name, analyzer in analyzers.items():
            pairs[name].append((expected, Answer.of(analyzer.analyze(image, heatmap=False))))
        data = phone_sized(path)
        pairs["reduced-size decode (4032x3024)"].append(
            (
                Answer.of(reference.analyze(full_size_decode(data), heatmap=False)),
                Answer.of(reference.analyze(decode_image(data), heatmap=False)),
            )
        )
    return {name: agreement(p) for name, p in pairs.items()}


def markdown(results: dict, weights: str) -> str:
    return "\n".join([f"Weights: {weights}. Load: `{load_average()}`.", "", *table(results)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=15, help="photos per dataset, besides the samples")
    parser.add_argument("--models-dir", type=Path, help="a real models folder (default: random weights)")
    args = parser.parse_args()
    if args.models_dir:
        print(markdown(run(args.models_dir, args.photos), f"from {args.models_dir}"))
        return
    with tempfile.TemporaryDirectory() as folder:
        print(markdown(run(write_models_dir(Path(folder)), args.photos), "random (seeded)"))


if __name__ == "__main__":
    main()
