"""Fidelity of each inference mode on a *trained* network (random weights hide quantisation
error: their outputs are near-uniform and their activations have no outliers).

The recipe, kept here so the figures can be reproduced: `manage.py finetune` trains a
ResNet-18 or a WideResNet-18 (the network the attribute matrix reads) from scratch on
../shared/datasets/scene15 (short: 4 epochs at 64 px, one thread, on a shared 2-core machine),
then the trained trunk and head are put into the service's own scene network of that
architecture and every candidate of bench/candidates.py is scored against fp32 eager:

- scored photos: 1,000 intel-scenes photos (every 8th) and the 150 photos of scene15's test
  split, at 128 px (a 4 x 4 CAM grid for ResNet-18, 8 x 8 for WideResNet-18); int8 is
  calibrated on 32 photos of scene15's *train* split, which are never scored;
- top-1 agreement, top-5 overlap, CAM correlation where both mapped the same class, top-10
  overlap of a 102 x 512 attribute matrix over the pooled features (random, seeded: it measures
  how the features' ranking survives, as CSAIL's matrix reads them), and scene15 test accuracy
  (the scoring is bench/fidelity.py's).

    nice -n 19 .venv/bin/python bench/trained_fidelity.py --arch wideresnet18 [--train] [--out DIR]
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
from tqdm import tqdm  # noqa: E402

from bench import candidates  # noqa: E402
from bench.analyze import load_average  # noqa: E402
from bench.fidelity import COLUMNS, Answer, agreement, table  # noqa: E402
from classifier.engine import cam, places  # noqa: E402
from classifier.engine.imaging import decode_image, model_input  # noqa: E402
from classifier.engine.places import SceneNet  # noqa: E402
from classifier.testing.paths import SHARED  # noqa: E402

SIZE = 128
SCENE15 = SHARED / "datasets" / "scene15" / "train"
RECIPE = ["--weights", "none", "--mode", "scratch", "--epochs", "4", "--image-size", "64", "--threads", "1"]
ARCHES = ("resnet18", "wideresnet18")
BAR = {"top1": 0.995, "top5_overlap": 0.99, "attribute_top10": 0.95, "cam_correlation": 0.99, "accuracy_points": 0.3}


def train(out: Path, arch: str) -> None:
    command = [sys.executable, "manage.py", "finetune", "--data", str(SCENE15), "--out", str(out), "--arch", arch]
    subprocess.run(["nice", "-n", "19", *command, *RECIPE, "--no-augment"], check=True, cwd=REPO)


def trained_scene_net(checkpoint: Path) -> tuple[SceneNet, dict]:
    """The fine-tuned TransferNet's weights in the service's network of its architecture, split as
    the service splits it (both ResNets keep torchvision's layer names)."""
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    renames = {"blocks.stem.0.": "conv1.", "blocks.stem.1.": "bn1.", "blocks.": "", "head.0.": "fc."}
    state = {}
    for key, value in saved["state_dict"].items():
        for old, new in renames.items():
            if key.startswith(old):
                key = new + key[len(old) :]
                break
        state[key] = value
    build, net_class = places.ARCHITECTURES[saved["arch"]]
    net = build(len(saved["classes"]))
    net.load_state_dict(state)
    return net_class(net).eval(), saved


def photo_sets(out: Path) -> tuple[list[Path], list[tuple[Path, int]], list[Path]]:
    split = json.loads((out / "split.json").read_text())["parts"]
    test = [(SCENE15 / name, label) for name, label in split["test"]]
    intel = sorted((SHARED / "datasets" / "intel-scenes" / "train").glob("*/*.jpg"))[::8][:1000]
    calibration = [SCENE15 / name for name, _ in split["train"][::33]][:32]
    return intel, test, calibration


def answers(net, images: torch.Tensor, weights: torch.Tensor, matrix: torch.Tensor, batch: int = 50):
    """Each photo's `Answer` and top class. Batches of 50 (the numerics are per image; batching only
    makes a loaded machine finish)."""
    found, top = [], []
    with torch.inference_mode():
        for start in tqdm(range(0, len(images), batch), leave=False):
            logits, features = net(images[start : start + batch])
            probabilities = torch.softmax(logits.float(), dim=1).topk(5)
            attributes = (features.float().mean(dim=(2, 3)) @ matrix.T).topk(10)
            for i, f in enumerate(features.float()):
                scenes = probabilities.indices[i].tolist()
                found.append(
                    Answer(
                        tuple(scenes),
                        tuple(probabilities.values[i].tolist()),
                        dict(zip(map(str, attributes.indices[i].tolist()), attributes.values[i].tolist(), strict=True)),
                        scenes[0],
                        cam.class_activation_map(f, weights[scenes[0]]),
                    )
                )
                top.append(scenes[0])
    return found, torch.tensor(top)


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

    images = torch.cat(prepared(intel + [p for p, _ in test]))
    labels = torch.tensor([label for _, label in test])
    matrix = torch.from_numpy(np.random.default_rng(0).normal(size=(102, 512)).astype(np.float32))
    weights = net.class_weights.detach()
    calibration_batches = prepared(calibration)
    threads = torch.get_num_threads()

    def scored(got: list[Answer], top: torch.Tensor) -> dict:
        row = agreement(list(zip(reference, got, strict=True)))
        return {**row, "accuracy": round(float((top[-len(labels) :] == labels).float().mean()) * 100, 2)}

    reference, top = answers(net, images, weights, matrix)
    rows = {"eager (fp32 reference)": scored(reference, top)}
    for name in tqdm(candidates.installed(only), desc="modes"):
        candidate = candidates.scene_network(name, net, SIZE, threads, calibration_batches)
        rows[name] = scored(*answers(candidate, images, weights, matrix))
    for row in rows.values():
        row["passes"] = passes(row, rows["eager (fp32 reference)"]["accuracy"])
    return {
        "arch": saved["arch"],
        "rows": rows,
        "test_accuracy_at_training": saved["metrics"].get("test", {}),
        "load": load_average(),
    }


def markdown(report: dict) -> str:
    columns = {
        **{k: v for k, v in COLUMNS.items() if k not in ("max_probability_diff", "max_attribute_diff")},
        "accuracy": ("scene15 test accuracy", "{:.2f}%".format),
        "passes": ("meets the bar", lambda ok: "yes" if ok else "no"),
    }
    return "\n".join([f"{report['arch']}, trained. Load: `{report['load']}`.", "", *table(report["rows"], columns)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=ARCHES, default="resnet18", help="the network to train (with --train)")
    parser.add_argument("--out", type=Path, help="the finetune output folder (default /tmp/trained-ARCH)")
    parser.add_argument("--train", action="store_true", help="run the training recipe first")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument(
        "--modes",
        default=",".join(candidates.CANDIDATES),
        help=f"comma-separated, of: {', '.join(candidates.CANDIDATES)}",
    )
    args = parser.parse_args()
    out = args.out or Path(f"/tmp/trained-{args.arch}")
    if args.train:
        train(out, args.arch)
    report = run(out, args.modes.split(","))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print(markdown(report))


if __name__ == "__main__":
    main()
