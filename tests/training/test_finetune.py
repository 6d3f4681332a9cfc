"""Transfer learning end to end on small folders: real photos from ../shared/datasets, generated
colours for the mechanics (split, feature cache, resume). Images are tiny so that runs take seconds."""

from __future__ import annotations

import json

import pytest
import torch

from classifier.engine.custom import load_custom_model
from classifier.engine.errors import DatasetError
from classifier.training import feature_cache
from classifier.training.evaluation import evaluate_folder
from classifier.training.finetune import FinetuneOptions, finetune
from classifier.training.folders import make_split, read_split, write_split
from classifier.training.run_files import RunFiles
from tests.support.image_folders import colour_folder, dataset_slice

QUICK = {"image_size": 32, "batch_size": 16, "threads": 1, "workers": 1}


def train(data, out, *, log=None, models_dir=None, resume=False, **options):
    lines = []
    report = finetune(
        data,
        out,
        FinetuneOptions(**{**QUICK, **options}),
        models_dir=models_dir or out.parent,
        cache_dir=out.parent / "cache",
        resume=resume,
        log=log or lines.append,
        progress=False,
    )
    return report, lines


@pytest.fixture
def colours(tmp_path):
    return colour_folder(tmp_path / "colours")


def test_scratch_training_on_intel_scenes_beats_chance_widely(tmp_path):
    data = dataset_slice("intel-scenes", tmp_path / "intel", per_class=50)
    report, _ = train(data, tmp_path / "out", mode="scratch", epochs=8, lr=2e-3)
    assert report["split"] == "test"
    assert report["images"] == 30  # 10% of 50 per class, 6 classes
    assert report["accuracy"] >= 2 / 6  # chance is 1/6
    assert report["classes"] == ["buildings", "forest", "glacier", "mountain", "sea", "street"]
    assert "top5_accuracy" in report
    files = RunFiles.in_folder(tmp_path / "out")
    for path in (files.checkpoint, files.split, files.report, files.confusion, files.curves):
        assert path.is_file(), path
    assert json.loads(files.report.read_text())["accuracy"] == report["accuracy"]
    assert files.confusion.read_bytes().startswith(b"\x89PNG")


def test_scratch_training_on_scene15_beats_chance_widely(tmp_path):
    data = dataset_slice("scene15", tmp_path / "scene15", per_class=30)
    report, _ = train(data, tmp_path / "out", mode="scratch", epochs=8, lr=2e-3, image_size=40)
    assert report["images"] == 45  # 3 per class
    assert report["accuracy"] >= 3 / 15  # chance is 1/15
    assert report["top5_accuracy"] > report["accuracy"]
    assert len(report["per_class"]) == 15


def test_the_report_has_per_class_scores_and_a_confusion_matrix(tmp_path, colours):
    report, _ = train(colours, tmp_path / "out", mode="scratch", epochs=2, augment=False, split=(50, 25, 25))
    assert [row["class"] for row in report["per_class"]] == ["blue", "green", "red"]
    assert set(report["per_class"][0]) == {"class", "precision", "recall", "f1", "support"}
    matrix = report["confusion_matrix"]
    assert len(matrix) == 3 and all(len(row) == 3 for row in matrix)
    assert sum(map(sum, matrix)) == report["images"]
    assert "top5_accuracy" not in report  # only 3 classes
    assert [row["step"] for row in report["history"]] == [1, 2]


def test_the_saved_model_serves_what_it_learned(tmp_path, colours):
    report, _ = train(colours, tmp_path / "out", mode="scratch", epochs=1, augment=False, name="colours")
    model = load_custom_model(report["checkpoint"])
    assert model.name == "colours"
    assert model.classes == ("blue", "green", "red")
    assert (model.arch, model.input_size) == ("resnet18", 32)
    batch = torch.zeros(1, 3, 32, 32)
    result = model.predict(batch, top_k=5)
    assert len(result.classes) == 3  # top-k never asks for more classes than there are
    assert result.cam is not None and result.cam.label == result.classes[0].label
    assert len(result.cam.grid) == 1  # 32 px / 32 = one cell of layer4


def test_a_split_is_stratified_and_reproducible(colours):
    first = make_split(colours, (50, 34, 16), seed=3)
    again = make_split(colours, (50, 34, 16), seed=3)
    other = make_split(colours, (50, 34, 16), seed=4)
    assert first.parts == again.parts
    assert first.parts != other.parts
    for part, per_class in (("train", 3), ("val", 2), ("test", 1)):
        labels = [s.label for s in first.parts[part]]
        assert sorted(labels) == sorted(list(range(3)) * per_class), part


def test_a_second_run_reuses_the_saved_split(tmp_path, colours):
    _, lines = train(colours, tmp_path / "out", mode="scratch", epochs=1, augment=False)
    assert any(line.startswith("split written to") for line in lines)
    saved = read_split(tmp_path / "out" / "split.json", colours)
    _, lines = train(colours, tmp_path / "out", mode="scratch", epochs=1, augment=False, seed=9)
    assert any(line.startswith("split reused from") for line in lines)
    assert read_split(tmp_path / "out" / "split.json", colours).parts == saved.parts


@pytest.mark.parametrize("tag", ["sceneweb-split/1", None])
def test_a_split_written_before_the_tags_were_distinct_still_reads(tmp_path, colours, tag):
    path = tmp_path / "split.json"
    write_split(path, make_split(colours, (50, 34, 16), seed=3), colours)
    payload = json.loads(path.read_text())
    assert payload.pop("format") == "sceneweb-finetune-split/1"
    path.write_text(json.dumps(payload if tag is None else {"format": tag, **payload}))
    assert read_split(path, colours).parts == make_split(colours, (50, 34, 16), seed=3).parts


@pytest.mark.parametrize("tag", ["sceneweb-attributes-split/1", "sceneweb-split/1"])
def test_an_attribute_split_is_refused_by_its_tag_or_its_layout(tmp_path, colours, tag):
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"format": tag, "seed": 0, "train": ["red/000.jpg"], "val": [], "test": []}))
    with pytest.raises(DatasetError, match=r"is not a sceneweb-finetune-split/1 file.*; delete it"):
        read_split(path, colours)


def test_train_val_test_folders_are_used_as_given(tmp_path):
    for part, count in (("train", 4), ("val", 2), ("test", 3)):
        colour_folder(tmp_path / "data" / part, per_class=count)
    split = make_split(tmp_path / "data", (70, 20, 10), seed=0)
    assert [len(split.parts[p]) for p in ("train", "val", "test")] == [12, 6, 9]
    assert all(s.path.parent.parent.name == "val" for s in split.parts["val"])


def test_missing_val_and_test_are_carved_from_train(tmp_path):
    colour_folder(tmp_path / "data" / "train", per_class=10)
    split = make_split(tmp_path / "data", (70, 20, 10), seed=0)
    assert [len(split.parts[p]) for p in ("train", "val", "test")] == [21, 6, 3]


def test_linear_mode_reuses_cached_features_on_a_second_run(tmp_path, colours, models_dir, monkeypatch):
    trunk_runs = []
    original = feature_cache.compute_features
    monkeypatch.setattr(feature_cache, "compute_features", lambda *a, **k: trunk_runs.append(1) or original(*a, **k))
    options = {"mode": "linear", "weights": "places365", "epochs": 3, "models_dir": models_dir}
    first, lines = train(colours, tmp_path / "one", **options)
    assert len(trunk_runs) == 3  # train, val, test
    assert sum("computed into" in line for line in lines) == 3
    second, lines = train(colours, tmp_path / "two", **{**options, "extra_fc": 1, "epochs": 2})
    assert len(trunk_runs) == 3  # the trunk did not run again
    assert sum("read from" in line for line in lines) == 3
    assert second["images"] == first["images"]
    assert load_custom_model(tmp_path / "two" / "model.pth").net.has_cam is False  # a hidden fc layer


def test_the_feature_cache_key_changes_with_the_image_size(colours):
    split = make_split(colours, (50, 34, 16), seed=0)
    key = {"arch": "resnet18", "weights": "places365", "mean": (0, 0, 0), "std": (1, 1, 1)}
    assert feature_cache.cache_key(split.parts["train"], size=32, **key) == feature_cache.cache_key(
        split.parts["train"], size=32, **key
    )
    assert feature_cache.cache_key(split.parts["train"], size=32, **key) != feature_cache.cache_key(
        split.parts["train"], size=48, **key
    )


class Interrupted(Exception):
    pass


def test_an_interrupted_run_resumes_to_the_same_result(tmp_path, colours):
    options = {"mode": "scratch", "epochs": 3, "augment": True}
    whole, _ = train(colours, tmp_path / "whole", **options)

    def stop_after_epoch_2(line: str) -> None:
        if line.startswith("epoch 2 "):
            raise Interrupted

    with pytest.raises(Interrupted):
        train(colours, tmp_path / "cut", log=stop_after_epoch_2, **options)
    resumed, lines = train(colours, tmp_path / "cut", resume=True, **options)
    assert any("resuming at phase 1, after epoch 2" in line for line in lines)
    assert [row["step"] for row in resumed["history"]] == [1, 2, 3]
    columns = ("train_loss", "val_loss", "val_accuracy")
    assert [[row[c] for c in columns] for row in resumed["history"]] == [
        [row[c] for c in columns] for row in whole["history"]
    ]


def test_resume_refuses_changed_settings(tmp_path, colours):
    from classifier.engine.errors import SceneWebError

    train(colours, tmp_path / "out", mode="scratch", epochs=1, augment=False)
    with pytest.raises(SceneWebError, match="lr 0.001 -> 0.01"):
        train(colours, tmp_path / "out", mode="scratch", epochs=2, augment=False, lr=0.01, resume=True)


def test_finetune_mode_unfreezes_more_blocks_in_each_phase(tmp_path, colours, models_dir):
    report, lines = train(
        colours,
        tmp_path / "out",
        mode="finetune",
        weights="places365",
        unfreeze=(0, 2),
        epochs=1,
        models_dir=models_dir,
    )
    assert [row["phase"] for row in report["history"]] == [1, 2]
    assert any("(last 0 of 5 blocks)" in line for line in lines)
    assert any("(last 2 of 5 blocks)" in line for line in lines)


def test_evaluate_rescores_a_folder(tmp_path, colours):
    report, _ = train(colours, tmp_path / "out", mode="scratch", epochs=1, augment=False)
    scored = evaluate_folder(report["checkpoint"], colours, workers=1, out_dir=tmp_path / "eval", progress=False)
    assert scored["images"] == 18
    assert scored["classes"] == ["blue", "green", "red"]
    assert (tmp_path / "eval" / "confusion.png").is_file()
