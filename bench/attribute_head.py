"""Cost of `train_attributes --mode head` on this machine, for docs/training.md.

Builds a SUN-format database of real photos (../shared/datasets/scene15, in the release's
two-folder layout, ten SUN attributes derived from each photo's scene class), then times the
two phases through the project's own code: the frozen DenseNet-201 trunk embedding every photo
(decode, squash to --image-size, forward; random weights, as no ImageNet weights can be
downloaded here: the cost is the same), and the head's training on the cached features (40
epochs by default, checkpoints and test scoring included). The extraction is extrapolated to
the 14,340 photos of the SUN Attribute Database; the head's epochs are also timed on random
features of the SUN split's sizes (11,472 training, 1,434 validation vectors, 102 attributes).
`--side` re-encodes the photos at that size first, for the decoding cost of photos larger than
scene15's 200 x 200.

The test mAP printed is that of this scene-15 set with a random trunk, not of the SUN database.

    .venv/bin/python bench/attribute_head.py [--photos 1500] [--threads 2] [--workers 2] [--side 0]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import scipy.io  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from classifier.testing.paths import SHARED  # noqa: E402
from classifier.training.attribute_inputs import database_features  # noqa: E402
from classifier.training.attribute_training import TrainingOptions, score_attributes, train_attributes  # noqa: E402
from classifier.training.pretrained import attribute_net  # noqa: E402
from classifier.training.run_files import RunFiles  # noqa: E402
from classifier.training.sun_attributes import SunAttributeFiles, read_database  # noqa: E402

SCENE15 = SHARED / "datasets" / "scene15" / "train"
SUN_PHOTOS, SUN_TRAIN, SUN_VAL, SUN_ATTRIBUTES = 14340, 11472, 1434, 102
INDOOR = {"bedroom", "kitchen", "livingroom", "office", "store"}
ATTRIBUTES = {
    "enclosed area": INDOOR | {"industrial"},
    "open area": {"coast", "highway", "opencountry", "mountain"},
    "natural": {"coast", "forest", "mountain", "opencountry"},
    "man-made": INDOOR | {"highway", "industrial", "insidecity", "street", "suburb", "tallbuilding"},
    "trees": {"forest", "suburb"},
    "ocean": {"coast"},
    "asphalt": {"highway", "street"},
    "vertical components": {"tallbuilding", "insidecity", "forest"},
    "indoor lighting": INDOOR,
    "far-away horizon": {"coast", "opencountry", "mountain", "highway"},
}


def cells(strings) -> np.ndarray:
    array = np.empty((len(strings), 1), dtype=object)
    array[:, 0] = list(strings)
    return array


def scene15_release(folder: Path, photos: int, side: int) -> None:
    """SUNAttributeDB/ (the three .mat files) and images/<letter>/<scene>/<file> beside it."""
    classes = sorted(p.name for p in SCENE15.iterdir() if p.is_dir())
    per_class = {c: sorted((SCENE15 / c).glob("*.jpg")) for c in classes}
    chosen = [
        per_class[c][i] for i in range(max(map(len, per_class.values()))) for c in classes if i < len(per_class[c])
    ]
    paths, votes = [], []
    for source in chosen[:photos]:
        scene = source.parent.name
        relative = f"{scene[0]}/{scene}/{source.name}"
        target = folder / "images" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if side:
            with Image.open(source) as image:
                image.convert("RGB").resize((side, side * 3 // 4)).save(target, quality=90)
        else:
            target.symlink_to(source)
        paths.append(relative)
        votes.append([float(scene in members) for members in ATTRIBUTES.values()])
    mats = folder / "SUNAttributeDB"
    mats.mkdir()
    scipy.io.savemat(mats / "images.mat", {"images": cells(paths)})
    scipy.io.savemat(mats / "attributes.mat", {"attributes": cells(ATTRIBUTES)})
    scipy.io.savemat(mats / "attributeLabels_continuous.mat", {"labels_cv": np.array(votes)})


def sun_sized_head_epochs(options: TrainingOptions) -> float:
    """Seconds for the epochs of a 1920 -> 102 head on SUN-sized feature sets (random values: the
    cost does not depend on them), through the trainer's own pass."""
    torch.manual_seed(0)

    def loader(count: int, training: bool) -> DataLoader:
        parts = TensorDataset(torch.rand(count, 1920), (torch.rand(count, SUN_ATTRIBUTES) < 0.1).float())
        return DataLoader(parts, batch_size=options.batch_size, shuffle=training, drop_last=training)

    head, train, val = nn.Linear(1920, SUN_ATTRIBUTES), loader(SUN_TRAIN, True), loader(SUN_VAL, False)
    optimizer = torch.optim.SGD(head.parameters(), lr=options.lr, momentum=options.momentum)
    started = time.perf_counter()
    for _ in range(options.epochs):
        score_attributes(head, train, torch.device("cpu"), optimizer=optimizer, part="train", progress=False)
        score_attributes(head, val, torch.device("cpu"), part="val", progress=False)
    return time.perf_counter() - started


def cpu_seconds() -> float:
    """CPU time of this process and its reaped children (the data loader's workers): what the
    extraction would take of one core, whatever else shares the machine."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=1500, help="scene-15 photos to use (at most 1,500)")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument(
        "--side", type=int, default=0, help="re-encode the photos side x 3/4 side first (0: as they are)"
    )
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--workers", type=int, default=2, help="data loader processes decoding the photos")
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()
    if not SCENE15.is_dir():
        sys.exit(f"{SCENE15} is absent: this benchmark reads real photos from ../shared/")

    torch.set_num_threads(args.threads)
    options = TrainingOptions(
        mode="head",
        weights="none",
        image_size=args.image_size,
        epochs=args.epochs,
        workers=args.workers,
        device="cpu",
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        scene15_release(root / "release", args.photos, args.side)
        database = read_database(SunAttributeFiles.in_folder(root / "release"))  # found without --images
        load_before = os.getloadavg()
        torch.manual_seed(options.seed)  # as train_attributes seeds it: the same random trunk, the same cache key
        net = attribute_net(options.weights, len(database.names))
        started, cpu_started = time.perf_counter(), cpu_seconds()
        database_features(
            net, database, options, torch.device("cpu"), cache_dir=root / "cache", log=print, progress=True
        )
        extraction, extraction_cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
        load_between = os.getloadavg()
        started = time.perf_counter()
        report = train_attributes(
            database, options, RunFiles.beside(root / "out" / "head.pth"), cache_dir=root / "cache", log=print
        )
        training = time.perf_counter() - started
    head_epochs_sun = sun_sized_head_epochs(options)
    per_thousand = extraction / len(database.paths) * 1000
    print(
        json.dumps(
            {
                "photos": len(database.paths),
                "photo_size": f"{args.side}x{args.side * 3 // 4}" if args.side else "scene-15 as is (mostly 200x200)",
                "image_size": args.image_size,
                "threads": args.threads,
                "workers": args.workers,
                "cores": os.cpu_count(),
                "extraction_s": round(extraction, 1),
                "extraction_s_per_1000_photos": round(per_thousand, 1),
                "extraction_cpu_s_per_1000_photos": round(extraction_cpu / len(database.paths) * 1000, 1),
                "head_run_s": round(training, 1),
                "train_images": report["metrics"]["train_images"],
                "sun_extraction_min": round(per_thousand * SUN_PHOTOS / 1000 / 60, 1),
                "sun_head_epochs_s": round(head_epochs_sun, 1),
                "sun_total_min": round((per_thousand * SUN_PHOTOS / 1000 + head_epochs_sun + training) / 60, 1),
                "test_map_scene15_random_trunk": report["map"],
                "test_chance_map": report["chance_map"],
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after_extraction": [round(x, 2) for x in load_between],
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
                "torch": torch.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
