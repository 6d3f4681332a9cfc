"""Re-scoring a saved model (`evaluate`, `evaluate_attributes`) with its trainer's own pass and report."""

from __future__ import annotations

from pathlib import Path

from classifier.engine.attributes import load_attribute_model
from classifier.engine.custom import load_custom_model
from classifier.engine.errors import DatasetError
from classifier.training.attribute_inputs import photo_inputs
from classifier.training.attribute_training import TrainingOptions, score_attributes
from classifier.training.device import pick_device
from classifier.training.finetune import classify
from classifier.training.folders import preload, scan_classes
from classifier.training.reports import attribute_report, classifier_report, write_report
from classifier.training.sun_attributes import SunAttributeDatabase, read_split
from classifier.training.transfer_data import PixelBatches


def evaluate_folder(
    model_path: Path,
    data_dir: Path,
    *,
    batch_size: int = 64,
    workers: int = 2,
    device: str = "auto",
    out_dir: Path | None = None,
    progress: bool = True,
) -> dict:
    """Score a saved model on every image of `data_dir/<class>/` (or of `data_dir/test/` when present).

    Folder names must be classes of the model; a folder may hold a subset of them."""
    model = load_custom_model(model_path)
    data_dir = Path(data_dir)
    folder = data_dir / "test" if (data_dir / "test").is_dir() else data_dir
    _, samples = scan_classes(folder, model.classes)
    pixels = preload(samples, model.input_size, workers=workers, desc="decode", progress=progress)
    target = pick_device(device)
    data = PixelBatches({"test": pixels}, model.mean, model.std, augmentation=None)
    result = classify(model.net.to(target).eval(), data, "test", batch_size, target, desc="score", progress=progress)
    report = {
        "checkpoint": str(model_path),
        "data": str(folder),
        "skipped": list(pixels.skipped),
        **classifier_report(result.targets, result.outputs, model.classes, folder.name),
    }
    if out_dir is not None:
        write_report(report, Path(out_dir) / "metrics.json", confusion=Path(out_dir) / "confusion.png")
    return report


def evaluate_checkpoint(
    database: SunAttributeDatabase,
    checkpoint: Path,
    split_path: Path,
    *,
    image_size: int | None = None,
    batch_size: int = 50,
    workers: int = 2,
    device: str = "auto",
    progress: bool = True,
) -> dict:
    """Re-score a checkpoint on the test part of the split it was trained with."""
    model = load_attribute_model(checkpoint)
    if len(model.names) != len(database.names):
        raise DatasetError(
            f"{checkpoint} predicts {len(model.names)} attributes but the database has {len(database.names)}."
        )
    if not Path(split_path).is_file():
        raise DatasetError(f"The split file {split_path} is missing; pass --split with the file written by training.")
    split = read_split(split_path, database)
    size = image_size or int(model.metrics.get("image_size", 224))
    options = TrainingOptions(image_size=size, batch_size=batch_size, workers=workers)
    target = pick_device(device)
    loader = photo_inputs(database, options, target).loader(split.test, None)
    result = score_attributes(model.net.to(target), loader, target, part="test", progress=progress)
    report = attribute_report(database.names, result.targets, result.outputs, result.loss, "test")
    return {"checkpoint": str(checkpoint), "metrics": model.metrics, **report}
