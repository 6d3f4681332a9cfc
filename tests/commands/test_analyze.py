import base64
import io
import json

import pytest
from django.core.management import CommandError, call_command
from PIL import Image


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
