"""`train_attributes --mode head`: a frozen DenseNet-201 trunk, its features cached, the head alone trained.

A miniature database in the release's two-folder layout, 32 px photos and random trunk weights
keep each run to a few seconds; the trunk's forward passes are counted to show the cache at work.
"""

from __future__ import annotations

import io
import json

import pytest
import torch
from django.core.management import CommandError, call_command

from classifier.engine.acceleration import fused
from classifier.engine.attributes import build_attribute_net, load_attribute_model
from classifier.training import attribute_inputs
from classifier.training.attribute_inputs import pooled_features
from classifier.training.feature_cache import streamed_features
from classifier.training.run_files import RunFiles
from tests.support.sun_minidb import write_mini_database

pytestmark = pytest.mark.slow

QUICK = ["--image-size", "32", "--workers", "0", "--threads", "1", "--verbosity", "0", "--batch-size", "8"]


@pytest.fixture
def trunk_runs(monkeypatch):
    """The size of each batch of photos that went through the DenseNet trunk."""
    runs = []
    monkeypatch.setattr(
        attribute_inputs,
        "pooled_features",
        lambda net, images: runs.append(len(images)) or pooled_features(net, images),
    )
    return runs


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return write_mini_database(tmp_path_factory.mktemp("release"), images=40, seed=2, layout="official")


@pytest.fixture(scope="module")
def trunk_file(tmp_path_factory):
    """A DenseNet-201 file to start from (what --weights PATH reads; random, as no ImageNet weights are here)."""
    torch.manual_seed(7)
    path = tmp_path_factory.mktemp("weights") / "densenet201.pth"
    torch.save(build_attribute_net(1000).state_dict(), path)
    return path


def train_head(database_folder, out, cache, *arguments) -> str:
    stdout = io.StringIO()
    call_command(
        "train_attributes",
        "--data",
        str(database_folder),
        "--out",
        str(out),
        "--mode",
        "head",
        "--cache-dir",
        str(cache),
        *QUICK,
        *arguments,
        stdout=stdout,
    )
    return stdout.getvalue()


def test_the_head_reads_the_pooled_features_as_the_whole_network_does():
    torch.manual_seed(0)
    net = build_attribute_net(6).eval()
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(net.classifier(pooled_features(net.features, images)), net(images), atol=1e-5)
        fast = pooled_features(fused(net.features), images)  # what the extraction runs
        assert torch.allclose(net.classifier(fast), net(images), atol=1e-4)


def test_head_mode_trains_the_head_of_a_frozen_trunk_and_writes_the_service_checkpoint(
    release, trunk_file, trunk_runs, tmp_path
):
    files = RunFiles.beside(tmp_path / "head.pth")
    output = train_head(
        release.folder, files.checkpoint, tmp_path / "cache", "--weights", str(trunk_file), "--epochs", "3"
    )
    assert sum(trunk_runs) == 40  # every photo once; found without --images
    assert "trunk features of 40 photos computed into" in output
    model = load_attribute_model(files.checkpoint)
    assert model.names == release.names
    start = torch.load(trunk_file, weights_only=True)
    trained = model.net.state_dict()
    frozen = [key for key in start if not key.startswith("classifier.")]
    assert all(torch.equal(trained[key], start[key]) for key in frozen)
    assert trained["classifier.weight"].shape == (6, 1920)
    report = json.loads(files.report.read_text())
    assert report["metrics"]["mode"] == "head" and report["metrics"]["test_map"] == report["map"]
    assert {"split", "images", "map", "chance_map", "loss", "best", "worst", "per_attribute", "history"} <= set(report)
    assert f"test mAP {report['map']:.4f} on {report['images']} images" in output
    assert [row["epoch"] for row in report["history"]] == [1, 2, 3]


def test_the_checkpoint_scores_photos_as_the_head_scored_their_features(release, trunk_file, tmp_path):
    files = RunFiles.beside(tmp_path / "head.pth")
    train_head(release.folder, files.checkpoint, tmp_path / "cache", "--weights", str(trunk_file), "--epochs", "1")
    model = load_attribute_model(files.checkpoint)
    images = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = torch.sigmoid(model.net.classifier(pooled_features(model.net.features, images)))
        assert torch.allclose(model.scores(images), expected, atol=1e-5)


def test_a_second_run_reads_the_cached_features_without_running_the_trunk(release, trunk_runs, tmp_path):
    cache = tmp_path / "cache"
    train_head(release.folder, tmp_path / "a.pth", cache, "--weights", "none", "--epochs", "1")
    assert sum(trunk_runs) == 40
    (stored,) = cache.glob("*.pt")
    written = stored.stat().st_mtime_ns
    trunk_runs.clear()
    output = train_head(release.folder, tmp_path / "b.pth", cache, "--weights", "none", "--epochs", "2", "--lr", "0.05")
    assert trunk_runs == []
    assert f"trunk features of 40 photos read from {stored}" in output
    assert stored.stat().st_mtime_ns == written


def test_another_photo_set_or_resolution_makes_new_features(trunk_runs, tmp_path):
    database = write_mini_database(tmp_path / "db", images=24, seed=3, layout="official")
    cache = tmp_path / "cache"
    train_head(database.folder, tmp_path / "a.pth", cache, "--weights", "none", "--epochs", "1")
    changed = database.folder / "images" / database.paths[5]
    changed.write_bytes(changed.read_bytes() + b"\0")  # the same file name, another photo
    trunk_runs.clear()
    train_head(database.folder, tmp_path / "b.pth", cache, "--weights", "none", "--epochs", "1")
    assert sum(trunk_runs) == 24
    trunk_runs.clear()
    train_head(database.folder, tmp_path / "c.pth", cache, "--weights", "none", "--epochs", "1", "--image-size", "40")
    assert sum(trunk_runs) == 24
    assert len(list(cache.glob("*.pt"))) == 3


def test_an_interrupted_head_run_resumed_ends_like_an_uninterrupted_one(release, tmp_path):
    cache = tmp_path / "cache"
    straight, interrupted = RunFiles.beside(tmp_path / "a" / "head.pth"), RunFiles.beside(tmp_path / "b" / "head.pth")
    train_head(release.folder, straight.checkpoint, cache, "--weights", "none", "--epochs", "3")
    train_head(release.folder, interrupted.checkpoint, cache, "--weights", "none", "--epochs", "1")
    output = train_head(release.folder, interrupted.checkpoint, cache, "--weights", "none", "--epochs", "3", "--resume")
    assert "resuming after epoch 1" in output
    a, b = load_attribute_model(straight.checkpoint), load_attribute_model(interrupted.checkpoint)
    assert a.metrics == b.metrics
    assert torch.equal(a.net.classifier.weight, b.net.classifier.weight)


def test_resume_refuses_to_switch_between_head_and_full_mode(release, tmp_path):
    out = tmp_path / "head.pth"
    train_head(release.folder, out, tmp_path / "cache", "--weights", "none", "--epochs", "1")
    with pytest.raises(CommandError, match="these differ: mode 'head' -> 'full'"):
        call_command(
            "train_attributes",
            "--data",
            str(release.folder),
            "--out",
            str(out),
            "--weights",
            "none",
            *QUICK,
            "--resume",
        )


def test_an_interrupted_extraction_resumes_after_the_last_saved_images(tmp_path):
    photos = torch.arange(10, dtype=torch.float32).reshape(10, 1)
    embedded = []

    def embed(batch):
        embedded.extend(batch[:, 0].tolist())
        return batch * 2

    def batches_from(start, stop=10):
        for first in range(start, stop, 2):
            yield photos[first : min(first + 2, stop)]

    def interrupted(start):
        yield from batches_from(start, stop=6)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        streamed_features(tmp_path, "key", embed, interrupted, 10, save_every=3, progress=False)
    assert (tmp_path / "key.partial.pt").is_file() and not (tmp_path / "key.pt").exists()
    embedded.clear()
    found = streamed_features(tmp_path, "key", embed, batches_from, 10, save_every=3, progress=False)
    assert embedded == [4.0, 5.0, 6.0, 7.0, 8.0, 9.0]  # the first 4 were saved; 4 and 5 were not
    assert torch.equal(found.vectors, photos * 2) and not found.cached
    assert not (tmp_path / "key.partial.pt").exists()
    assert (tmp_path / "key.pt").is_file()
