import base64
import io
import json
import os
import subprocess
import sys
import tracemalloc

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

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
    for photo in sample_photos:
        heatmap = Image.open(tmp_path / f"{photo.stem}_cam.png")
        assert heatmap.format == "PNG"
    assert (
        base64.b64decode(records[0]["cam"]["png_base64"])
        == (tmp_path / f"{sample_photos[0].stem}_cam.png").read_bytes()
    )


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
    planted = heatmaps / f"{sample_photos[0].stem}_cam.png"
    planted.symlink_to(victim)
    run(sample_photos[0], "--heatmap-dir", heatmaps)
    assert victim.read_text() == "precious"
    assert not planted.is_symlink() and Image.open(planted).format == "PNG"
