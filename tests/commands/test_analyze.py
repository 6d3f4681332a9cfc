import hashlib
import io
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from classifier.engine import encoding
from classifier.management.commands.analyze import Command as AnalyzeCommand
from classifier.testing.paths import REPO


def run(*args) -> str:
    out = io.StringIO()
    call_command("analyze", *map(str, args), stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_it_prints_a_readable_summary(use_models, models_dir, sample_photos):
    use_models(models_dir)
    output = run(sample_photos[0])
    lines = output.splitlines()
    assert lines[0] == str(sample_photos[0])
    assert sum(line.strip().endswith("%") is False and "%" in line for line in lines[1:6]) == 5
    assert "outdoor score" in output
    assert "train_attributes" in output  # why the attributes are missing


def test_it_prints_one_json_object_per_image_and_writes_heatmaps(use_models, full_models_dir, sample_photos, tmp_path):
    use_models(full_models_dir)
    output = run(*sample_photos, "--json", "--heatmap-dir", tmp_path)
    records = [json.loads(line) for line in output.splitlines()]
    assert [r["image"] for r in records] == [str(p) for p in sample_photos]
    assert all(len(r["scenes"]) == 5 and len(r["attributes"]) == 10 for r in records)
    for photo, record in zip(sample_photos, records, strict=True):
        sha256 = hashlib.sha256(photo.read_bytes()).hexdigest()
        assert record["heatmap"] == str(tmp_path / f"{photo.stem}_{sha256[:12]}_cam.png")  # the collection's names
        assert Image.open(record["heatmap"]).format == "PNG"
        assert record["cam"]["png_base64"] is None  # named, never inlined
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(Path(r["heatmap"]).name for r in records)


def test_without_a_heatmap_dir_no_heatmap_is_drawn_or_printed(use_models, models_dir, sample_photos, monkeypatch):
    """Issue 19: each result used to carry ~400 KB of base64 on stdout."""
    use_models(models_dir)
    monkeypatch.setattr(encoding, "png_bytes", lambda *a, **k: pytest.fail("a heatmap was drawn"))
    output = run(sample_photos[0], "--json")
    (record,) = [json.loads(line) for line in output.splitlines()]
    assert record["heatmap"] is None and record["cam"]["png_base64"] is None
    assert len(record["cam"]["grid"]) == 7  # the grid is data, and stays
    assert len(output) < 20_000
    summary = run(sample_photos[0])
    assert "heatmap of '" in summary and "not drawn (--heatmap-dir DIR writes it)" in summary


def test_the_summary_names_the_heatmap_file(use_models, models_dir, sample_photos, tmp_path):
    use_models(models_dir)
    output = run(sample_photos[0], "--heatmap-dir", tmp_path)
    (written,) = tmp_path.iterdir()
    assert f"written to {written};" in output


def test_the_help_says_heatmaps_are_never_inlined():
    text = " ".join(AnalyzeCommand().create_parser("manage.py", "analyze").format_help().split())
    assert "heatmaps are never inlined" in text and "without it none is drawn" in text


def test_a_bad_file_is_reported_and_the_others_still_analysed(use_models, models_dir, sample_photos, tmp_path):
    use_models(models_dir)
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="1 of 2 images"):
        call_command("analyze", str(bad), str(sample_photos[0]), "--json", stdout=out, stderr=err)
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert "not an image format we accept" in first["error"]
    assert len(second["scenes"]) == 5


def test_missing_weights_name_the_file_and_the_command(use_models, tmp_path, sample_photos):
    use_models(tmp_path)
    with pytest.raises(CommandError, match=r"resnet18_places365.pth.tar is missing.*fetch_models"):
        run(sample_photos[0])


def test_a_fifo_and_a_link_to_dev_zero_are_refused_without_reading(models_dir, tmp_path):
    """The old command blocked forever on the FIFO and read /dev/zero until memory ran out."""
    os.mkfifo(tmp_path / "pipe.jpg")
    (tmp_path / "zeros.jpg").symlink_to("/dev/zero")
    env = {**os.environ, "SCENEWEB_MODELS_DIR": str(models_dir)}
    command = [
        sys.executable,
        "manage.py",
        "analyze",
        str(tmp_path / "pipe.jpg"),
        str(tmp_path / "zeros.jpg"),
        "--json",
    ]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["code"] for r in records] == ["not_regular_file", "not_regular_file"]
    assert done.returncode == 1


def test_an_oversized_file_is_refused_by_its_size_before_it_is_read(use_models, models_dir, tmp_path, settings):
    use_models(models_dir)
    settings.SCENEWEB_MAX_UPLOAD_MB = 1
    sparse = tmp_path / "huge.jpg"
    with open(sparse, "wb") as file:
        file.write(b"\xff\xd8\xff\xe0")
        file.truncate(1536 * 2**20)  # 1.5 GB of holes: nothing on disk, everything in memory once read
    tracemalloc.start()
    try:
        out, err = io.StringIO(), io.StringIO()
        with pytest.raises(CommandError, match="1 of 1 images"):
            call_command("analyze", str(sparse), "--json", stdout=out, stderr=err)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert json.loads(out.getvalue())["code"] == "file_too_large"
    assert peak < 64 * 2**20


def test_file_names_are_printed_escaped_so_they_cannot_drive_the_terminal(use_models, models_dir, tmp_path):
    use_models(models_dir)
    evil = tmp_path / "photo\x1b]0;owned\x07\x1b[2J.jpg"
    evil.write_text("not an image")
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError):
        call_command("analyze", str(evil), stdout=out, stderr=err)
    assert "\x1b" not in err.getvalue() and "\x07" not in err.getvalue()
    assert "photo\\x1b]0;owned\\x07\\x1b[2J.jpg" in err.getvalue()


def test_an_existing_heatmap_symlink_is_replaced_not_followed(use_models, models_dir, sample_photos, tmp_path):
    use_models(models_dir)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    heatmaps = tmp_path / "heatmaps"
    heatmaps.mkdir()
    sha256 = hashlib.sha256(sample_photos[0].read_bytes()).hexdigest()
    planted = heatmaps / f"{sample_photos[0].stem}_{sha256[:12]}_cam.png"
    planted.symlink_to(victim)
    run(sample_photos[0], "--heatmap-dir", heatmaps)
    assert victim.read_text() == "precious"
    assert not planted.is_symlink() and Image.open(planted).format == "PNG"
