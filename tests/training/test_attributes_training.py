"""`train_attributes` and `evaluate_attributes` end to end on a miniature database.

The real DenseNet-201 trains from random weights on 32 px images: a few seconds per epoch on
two CPU cores, and enough for it to read the coloured discs that stand for the attributes.
"""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest
import torch
from django.core.management import CommandError, call_command
from django.urls import Resolver404, resolve
from PIL import Image

from classifier.engine.analyzer import SceneAnalyzer
from classifier.engine.attributes import ATTRIBUTE_FILENAME, load_attribute_model
from classifier.engine.checkpoints import read_checkpoint
from classifier.training.run_files import RunFiles
from tests.support.sun_minidb import write_mini_database

pytestmark = pytest.mark.slow

# One thread: on two cores shared with other work, two OpenMP threads mostly spin waiting for each other.
QUICK = ["--weights", "none", "--image-size", "32", "--workers", "0", "--threads", "1", "--verbosity", "0"]


def train(database, out, *arguments) -> str:
    stdout = io.StringIO()
    call_command(
        "train_attributes", "--data", str(database.folder), "--out", str(out), *QUICK, *arguments, stdout=stdout
    )
    return stdout.getvalue()


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    return write_mini_database(tmp_path_factory.mktemp("sun"), images=150)


@pytest.fixture(scope="module")
def trained(mini, tmp_path_factory):
    files = RunFiles.beside(tmp_path_factory.mktemp("trained") / ATTRIBUTE_FILENAME)
    output = train(mini, files.checkpoint, "--epochs", "8", "--batch-size", "20", "--no-augment")
    return files, output, json.loads(files.report.read_text())


def chance_map(database, image_paths) -> float:
    """What random scores reach on average: the mean positive rate of each attribute present."""
    rows = [database.paths.index(p) for p in image_paths]
    targets = database.votes[rows] > 0.5
    return float(targets.mean(axis=0)[targets.any(axis=0)].mean())


def test_a_short_run_from_random_weights_beats_chance_on_the_validation_split(mini, trained):
    files, _, report = trained
    val_paths = json.loads(files.split.read_text())["val"]
    chance = chance_map(mini, val_paths)
    best = max(row["val_map"] for row in report["history"])
    assert 0.2 < chance < 0.5
    assert best > chance + 0.25, f"val mAP {best:.3f} against chance {chance:.3f}"


def test_the_best_epoch_on_val_is_the_checkpoint_and_the_test_score_is_stored_in_it(trained):
    files, _, report = trained
    history = report["history"]
    assert [row["epoch"] for row in history] == list(range(1, 9))
    best = max(history, key=lambda row: row["val_map"])
    model = load_attribute_model(files.checkpoint)
    assert model.names == ("fire", "foliage", "ocean", "sunny", "flowers", "ice")
    assert model.metrics["best_epoch"] == best["epoch"]
    assert model.metrics["val_map"] == round(best["val_map"], 4)
    assert model.metrics["test_map"] == report["map"]
    assert (model.metrics["image_size"], model.metrics["train_images"], model.metrics["test_images"]) == (32, 120, 15)


def test_the_learning_rate_decays_by_gamma_each_epoch(trained):
    rates = [row["lr"] for row in trained[2]["history"]]
    assert rates == pytest.approx([0.1 * 0.97**k for k in range(8)])


def test_the_report_ranks_attributes_and_is_printed(trained):
    files, output, report = trained
    assert report["split"] == "test" and report["images"] == 15
    ranked = [row["ap"] for row in report["best"]]
    assert len(report["best"]) == len(report["worst"]) == 5 and ranked == sorted(ranked, reverse=True)
    assert [row["attribute"] for row in report["per_attribute"]] == list(load_attribute_model(files.checkpoint).names)
    assert f"test mAP {report['map']:.4f} on 15 images" in output
    assert "best:  " + report["best"][0]["attribute"] in output
    assert "restart the service to show the new attributes" in output


def test_the_curves_are_a_png(trained):
    files = trained[0]
    with Image.open(files.curves) as image:
        assert image.format == "PNG" and image.width > image.height


def test_evaluate_attributes_rescores_the_saved_test_split(mini, trained):
    files, _, report = trained
    stdout = io.StringIO()
    call_command(
        "evaluate_attributes",
        "--data",
        str(mini.folder),
        "--model",
        str(files.checkpoint),
        "--json",
        "--workers",
        "0",
        "--threads",
        "1",
        "--verbosity",
        "0",
        stdout=stdout,
    )
    again = json.loads(stdout.getvalue())
    assert again["map"] == report["map"] and again["images"] == 15
    assert again["per_attribute"] == report["per_attribute"]


def test_evaluate_attributes_without_a_split_says_which_file_it_needs(mini, trained, tmp_path):
    shutil.copyfile(trained[0].checkpoint, tmp_path / "copy.pth")
    with pytest.raises(CommandError, match=r"split file .*copy.split.json is missing; pass --split"):
        call_command("evaluate_attributes", "--data", str(mini.folder), "--model", str(tmp_path / "copy.pth"))


@pytest.fixture(scope="module")
def served_models(trained, models_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("served")
    for item in models_dir.iterdir():
        if item.is_file():  # not converted/: the networks converted by earlier tests' analyzers
            shutil.copyfile(item, folder / item.name)
    shutil.copyfile(trained[0].checkpoint, folder / ATTRIBUTE_FILENAME)
    return folder


def test_the_trained_checkpoint_gives_the_analyzer_its_attributes(served_models, photo_bytes):
    analysis = SceneAnalyzer.from_models_dir(served_models).analyze(Image.open(io.BytesIO(photo_bytes)), heatmap=False)
    assert analysis.attributes_note is None
    assert sorted(a.label for a in analysis.attributes) == sorted(
        ("fire", "foliage", "ocean", "sunny", "flowers", "ice")
    )
    assert analysis.models["attributes"]["metrics"]["dataset"] == "SUN Attribute Database"


def test_analyze_json_shows_the_trained_attributes(served_models, use_models, sample_photos):
    use_models(served_models)
    stdout = io.StringIO()
    call_command("analyze", str(sample_photos[0]), "--json", stdout=stdout)
    record = json.loads(stdout.getvalue())
    assert record["attributes_note"] is None
    assert {a["label"] for a in record["attributes"]} == {"fire", "foliage", "ocean", "sunny", "flowers", "ice"}


def test_the_api_shows_the_trained_attributes(served_models, use_models, photo_bytes, client):
    try:
        resolve("/api/analyze")
    except Resolver404:
        pytest.skip("POST /api/analyze is not built yet")
    use_models(served_models)
    response = client.post("/api/analyze", {"image": io.BytesIO(photo_bytes)})
    assert response.status_code == 200
    body = response.json()
    assert body["attributes_note"] is None
    assert {a["label"] for a in body["attributes"]} == {"fire", "foliage", "ocean", "sunny", "flowers", "ice"}


# Resuming ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return write_mini_database(tmp_path_factory.mktemp("small"), images=40, seed=1)


def without_timings(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


def test_an_interrupted_run_resumed_ends_exactly_like_an_uninterrupted_one(small, tmp_path):
    straight, interrupted = RunFiles.beside(tmp_path / "a" / "head.pth"), RunFiles.beside(tmp_path / "b" / "head.pth")
    train(small, straight.checkpoint, "--epochs", "2", "--batch-size", "8")
    train(small, interrupted.checkpoint, "--epochs", "1", "--batch-size", "8")
    output = train(small, interrupted.checkpoint, "--epochs", "2", "--batch-size", "8", "--resume")
    assert "resuming after epoch 1" in output
    assert interrupted.split.read_text() == straight.split.read_text()
    a, b = read_checkpoint(straight.resume, install_hint=""), read_checkpoint(interrupted.resume, install_hint="")
    assert a["run"]["epoch"] == b["run"]["epoch"] == 2
    assert without_timings(a["run"]["history"]) == without_timings(b["run"]["history"])
    for key, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][key]), key
    best_a, best_b = load_attribute_model(straight.checkpoint), load_attribute_model(interrupted.checkpoint)
    assert best_a.metrics == best_b.metrics
    weights_a, weights_b = best_a.net.state_dict(), best_b.net.state_dict()
    assert all(torch.equal(tensor, weights_b[key]) for key, tensor in weights_a.items())
    assert np.isfinite(a["run"]["best"][0])


def test_resume_refuses_a_run_with_other_settings(small, tmp_path):
    out = tmp_path / "head.pth"
    train(small, out, "--epochs", "1", "--batch-size", "8")
    with pytest.raises(CommandError, match=r"these differ: batch_size 8 -> 10; lr 0.1 -> 0.05"):
        train(small, out, "--epochs", "2", "--batch-size", "10", "--lr", "0.05", "--resume")


def test_resume_without_an_earlier_run_says_so(small, tmp_path):
    with pytest.raises(CommandError, match=r"Nothing to resume: .*head.resume.pth is missing"):
        train(small, tmp_path / "head.pth", "--batch-size", "8", "--resume")


def test_a_folder_without_the_database_names_the_first_missing_file(tmp_path):
    with pytest.raises(CommandError, match=r"images.mat is missing: expected a cell array of relative image paths"):
        call_command("train_attributes", "--data", str(tmp_path), "--out", str(tmp_path / "x.pth"))
