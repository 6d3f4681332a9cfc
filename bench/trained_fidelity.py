"""Fidelity of each inference mode on a *trained* network (random weights hide quantisation
error: their outputs are near-uniform and their activations have no outliers).

The recipe, kept here so the figures can be reproduced: `manage.py finetune` trains a
ResNet-18 from scratch on ../shared/datasets/scene15 (short: 4 epochs at 64 px, on a shared
2-core machine), then the trained trunk and head are put into the service's own ResNet-18
scene network and every mode is scored against fp32 eager:

- scored photos: 1,000 intel-scenes photos (every 8th) and the 150 photos of scene15's test
  split, at 128 px (a 4 x 4 CAM grid); int8 is calibrated on 32 photos of scene15's *train*
  split, which are never scored;
- top-1 agreement, top-5 overlap, CAM correlation of the reference's top class, top-10 overlap
  of a 102 x 512 attribute matrix over the pooled features (random matrix: it measures how
  the features' ranking survives, as CSAIL's matrix reads them), and scene15 test accuracy.

    nice -n 10 .venv/bin/python bench/trained_fidelity.py [--train] [--out /tmp/trained-rn18]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torchvision import models  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bench.analyze import load_average  # noqa: E402
from bench.openvino_modes import openvino_network  # noqa: E402
from classifier.engine import acceleration, cam  # noqa: E402
from classifier.engine.acceleration import InferenceSettings  # noqa: E402
from classifier.engine.imaging import decode_image, model_input  # noqa: E402
from classifier.engine.places import SceneNet  # noqa: E402
from classifier.testing.paths import SHARED  # noqa: E402

SIZE = 128
SCENE15 = SHARED / "datasets" / "scene15" / "train"
RECIPE = ["--arch", "resnet18", "--weights", "none", "--mode", "scratch", "--epochs", "4", "--image-size", "64"]
MODES = ("fused (fp32)", "bf16", "onnx (fp32)", "onnx-int8", "openvino bf16", "openvino int8")
BAR = {"top1": 0.995, "top5_overlap": 0.99, "attribute_top10": 0.95, "cam_correlation": 0.99, "accuracy_points": 0.3}


def train(out: Path) -> None:
    command = [sys.executable, "manage.py", "finetune", "--data", str(SCENE15), "--out", str(out), *RECIPE]
    subprocess.run(["nice", "-n", "10", *command, "--threads", "1", "--no-augment"], check=True, cwd=REPO)


def trained_scene_net(checkpoint: Path) -> tuple[SceneNet, dict]:
    """The fine-tuned TransferNet's weights in torchvision's ResNet-18, split as the service splits it."""
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    renames = {"blocks.stem.0.": "conv1.", "blocks.stem.1.": "bn1.", "blocks.": "", "head.0.": "fc."}
    state = {}
    for key, value in saved["state_dict"].items():
        for old, new in renames.items():
            if key.startswith(old):
                key = new + key[len(old) :]
                break
        state[key] = value
    net = models.resnet18(weights=None, num_classes=len(saved["classes"]))
    net.load_state_dict(state)
    return SceneNet(net).eval(), saved


def photo_sets(out: Path) -> tuple[list[Path], list[tuple[Path, int]], list[Path]]:
    split = json.loads((out / "split.json").read_text())["parts"]
    test = [(SCENE15 / name, label) for name, label in split["test"]]
    intel = sorted((SHARED / "datasets" / "intel-scenes" / "train").glob("*/*.jpg"))[::8][:1000]
    calibration = [SCENE15 / name for name, _ in split["train"][::33]][:32]
    return intel, test, calibration


def outputs(net, images: torch.Tensor, weights: torch.Tensor, matrix: torch.Tensor, batch: int = 50) -> dict:
    """Batches of 50 (the numerics are per image; batching only makes a loaded machine finish)."""
    logits, grids, attributes = [], [], []
    with torch.inference_mode():
        for start in tqdm(range(0, len(images), batch), leave=False):
            scores, features = net(images[start : start + batch])
            logits.append(scores.float())
            features = features.float()
            grids += [
                cam.class_activation_map(f, weights[int(s.argmax())]) for f, s in zip(features, scores, strict=True)
            ]
            attributes.append(features.mean(dim=(2, 3)) @ matrix.T)
    return {"logits": torch.cat(logits), "grids": grids, "attributes": torch.cat(attributes)}


def compare(got: dict, want: dict, labels: torch.Tensor) -> dict:
    def overlap(a: torch.Tensor, b: torch.Tensor, k: int) -> float:
        ta, tb = a.topk(k, dim=1).indices.tolist(), b.topk(k, dim=1).indices.tolist()
        return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(ta, tb, strict=True)]))

    same_top = got["logits"].argmax(1) == want["logits"].argmax(1)
    correlations = [
        np.corrcoef(np.ravel(a), np.ravel(b))[0, 1]
        for a, b, same in zip(got["grids"], want["grids"], same_top.tolist(), strict=True)
        if same and np.std(a) > 0 and np.std(b) > 0
    ]
    n = len(labels)
    accuracy = float((got["logits"][-n:].argmax(1) == labels).float().mean())
    return {
        "photos": len(got["logits"]),
        "top1": round(float(same_top.float().mean()), 4),
        "top5_overlap": round(overlap(got["logits"], want["logits"], 5), 4),
        "attribute_top10": round(overlap(got["attributes"], want["attributes"], 10), 4),
        "cam_correlation": round(float(np.mean(correlations)), 4),
        "accuracy": round(accuracy * 100, 2),
    }


def passes(row: dict, reference_accuracy: float) -> bool:
    return (
        all(row[key] >= BAR[key] for key in ("top1", "top5_overlap", "attribute_top10", "cam_correlation"))
        and abs(row["accuracy"] - reference_accuracy) <= BAR["accuracy_points"]
    )


def run(out: Path, only: Sequence[str]) -> dict:
    net, saved = trained_scene_net(out / "model.pth")
    intel, test, calibration = photo_sets(out)

    def prepared(paths):
        return [model_input(decode_image(p.read_bytes()).image, SIZE, saved["mean"], saved["std"]) for p in paths]

    batches = torch.cat(prepared(intel + [p for p, _ in test]))
    labels = torch.tensor([label for _, label in test])
    matrix = torch.from_numpy(np.random.default_rng(0).normal(size=(102, 512)).astype(np.float32))
    weights = net.class_weights.detach()
    modes = {
        "fused (fp32)": InferenceSettings(mode="fused"),
        "bf16": InferenceSettings(mode="bf16"),
        "onnx (fp32)": InferenceSettings(mode="onnx"),
        "onnx-int8": InferenceSettings(mode="onnx-int8"),
    }
    calibration_batches = prepared(calibration)
    reference = outputs(net, batches, weights, matrix)
    rows = {"eager (fp32 reference)": compare(reference, reference, labels)}
    networks = {
        name: lambda s=settings: acceleration.accelerate_scene_net(
            net, s, SIZE, calibration_batches if s.mode == "onnx-int8" else None
        )
        for name, settings in modes.items()
        if name in only
    }
    for precision in ("bf16", "int8"):
        if f"openvino {precision}" in only:
            networks[f"openvino {precision}"] = lambda p=precision: openvino_network(
                net, SIZE, p, 2, calibration_batches
            )
    for name, make in tqdm(networks.items(), desc="modes"):
        rows[name] = compare(outputs(make(), batches, weights, matrix), reference, labels)
    for row in rows.values():
        row["passes"] = passes(row, rows["eager (fp32 reference)"]["accuracy"])
    return {"rows": rows, "test_accuracy_at_training": saved["metrics"].get("test", {}), "load": load_average()}


def markdown(report: dict) -> str:
    lines = [
        f"Load: `{report['load']}`.",
        "",
        "| mode vs fp32 eager | photos | top-1 agreement | top-5 overlap | attribute top-10 overlap | "
        "CAM correlation | scene15 test accuracy | meets the bar |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in report["rows"].items():
        lines.append(
            f"| {name} | {r['photos']} | {r['top1']:.2%} | {r['top5_overlap']:.2%} | {r['attribute_top10']:.2%} | "
            f"{r['cam_correlation']} | {r['accuracy']:.2f}% | {'yes' if r['passes'] else 'no'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("/tmp/trained-rn18"), help="the finetune output folder")
    parser.add_argument("--train", action="store_true", help="run the training recipe first")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated, of: {', '.join(MODES)}")
    args = parser.parse_args()
    if args.train:
        train(args.out)
    report = run(args.out, args.modes.split(","))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print(markdown(report))


if __name__ == "__main__":
    main()
