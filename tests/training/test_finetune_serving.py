"""A fine-tuned model named in SCENEWEB_CUSTOM_MODELS is served beside the Places365 scenes."""

from __future__ import annotations

import io
import shutil

import pytest

from classifier.engine import SceneAnalyzer
from classifier.engine.errors import ModelFileError
from classifier.engine.imaging import decode_image
from classifier.training.finetune import FinetuneOptions, finetune
from tests.support.image_folders import colour_folder


@pytest.fixture(scope="module")
def colour_model(tmp_path_factory):
    """A resnet18 trained for one epoch on three colours, at 32 px (its own preprocessing)."""
    folder = tmp_path_factory.mktemp("colour_model")
    options = FinetuneOptions(
        mode="scratch", epochs=1, image_size=32, batch_size=8, augment=False, name="colours", threads=1, workers=1
    )
    finetune(colour_folder(folder / "data"), folder / "out", options, log=lambda line: None, progress=False)
    return folder / "out" / "model.pth"


@pytest.fixture
def models_with_custom(tmp_path, models_dir, colour_model):
    """The installed models folder with the custom model copied into custom/."""
    folder = tmp_path / "models"
    shutil.copytree(models_dir, folder)
    (folder / "custom").mkdir()
    shutil.copyfile(colour_model, folder / "custom" / "colours.pth")
    return folder


def test_the_api_shows_the_custom_models_classes(client, settings, use_models, models_with_custom, photo_bytes):
    settings.SCENEWEB_RATE_LIMIT = 0
    settings.SCENEWEB_CUSTOM_MODELS = ["custom/colours.pth"]
    use_models(models_with_custom)
    upload = io.BytesIO(photo_bytes)
    upload.name = "photo.jpg"
    response = client.post("/api/analyze", {"image": upload})
    assert response.status_code == 200, response.content
    body = response.json()
    assert len(body["scenes"]) == 5
    [custom] = body["custom"]
    assert custom["name"] == "colours"
    assert sorted(c["label"] for c in custom["classes"]) == ["blue", "green", "red"]
    probabilities = [c["probability"] for c in custom["classes"]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert sum(probabilities) == pytest.approx(1, abs=1e-4)
    assert custom["cam"]["label"] == custom["classes"][0]["label"]
    assert custom["cam"]["index"] == custom["classes"][0]["index"]
    assert body["models"]["custom"][0]["classes"] == ["blue", "green", "red"]
    assert "custom:colours" in body["timings_ms"]


def test_without_the_setting_custom_is_empty(client, settings, use_models, models_dir, photo_bytes):
    settings.SCENEWEB_RATE_LIMIT = 0
    use_models(models_dir)
    upload = io.BytesIO(photo_bytes)
    upload.name = "photo.jpg"
    body = client.post("/api/analyze", {"image": upload}).json()
    assert body["custom"] == []
    assert body["models"]["custom"] == []


def test_models_sharing_a_preprocessing_share_one_tensor(models_dir, colour_model, photo_bytes, monkeypatch):
    from classifier.engine import analyzer as analyzer_module

    sizes = []
    original = analyzer_module.model_input
    monkeypatch.setattr(
        analyzer_module, "model_input", lambda image, size, *a: sizes.append(size) or original(image, size, *a)
    )
    analyzer = SceneAnalyzer.from_models_dir(models_dir, custom_models=[colour_model, colour_model])
    [first, second] = analyzer.analyze(decode_image(photo_bytes), heatmap=False).custom
    assert sizes == [224, 32]  # the scene network's tensor, then one 32 px tensor for both custom models
    assert first == second


def test_a_missing_custom_model_says_how_to_make_one(models_dir, tmp_path):
    with pytest.raises(ModelFileError, match="manage.py finetune --data DIR --out DIR"):
        SceneAnalyzer.from_models_dir(models_dir, custom_models=["custom/absent.pth"])


def test_the_panel_shows_the_custom_models_classes_and_heatmap(settings, use_models, models_with_custom, photo_bytes):
    import base64

    from classifier.panel.actions import analyse_source
    from classifier.panel.components import present

    settings.SCENEWEB_RATE_LIMIT = 0
    settings.SCENEWEB_CUSTOM_MODELS = ["custom/colours.pth"]
    use_models(models_with_custom)
    outcome = analyse_source("upload", f"data:image/jpeg;base64,{base64.b64encode(photo_bytes).decode()}")
    shown = present(outcome.state)
    [block] = shown.custom
    text = str(block.to_plotly_json())
    assert "colours" in text
    assert all(name in text for name in ("red", "green", "blue"))
    [heat] = [c for c in block.children[1].children if getattr(c, "className", "") == "sw-custom-heat"]
    assert heat.src.startswith("data:image/jpeg;base64,")
    assert "Scene model: resnet18 (365 classes, cam heatmap)." in shown.timing
