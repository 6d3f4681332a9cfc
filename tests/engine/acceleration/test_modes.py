"""Modes are chosen by name, loudly; the default one gives the reference's answers."""

from pathlib import Path

import pytest

from classifier.engine import acceleration
from classifier.engine.acceleration import InferenceSettings
from classifier.engine.analyzer import SceneAnalyzer
from classifier.engine.imaging import decode_image
from classifier.engine.places import build_scene_net, scene_model_spec
from tests.support.analysis import assert_same_analysis


@pytest.fixture(scope="module")
def default(full_models_dir):
    return SceneAnalyzer.from_models_dir(full_models_dir)


def test_the_default_mode_is_fused():
    assert InferenceSettings().mode == "fused"


def test_the_default_mode_gives_the_reference_answers_on_real_photos(reference, default, sample_photos):
    for photo in sample_photos:
        image = decode_image(photo.read_bytes())
        assert_same_analysis(default.analyze(image), reference.analyze(image))


def test_an_unknown_mode_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"Unknown inference mode .turbo.; choose one of: fused, eager, bf16, fp16"):
        InferenceSettings(mode="turbo")


def test_a_negative_thread_count_is_refused():
    with pytest.raises(ValueError, match="threads must be 0"):
        InferenceSettings(threads=-1)


def test_grad_cam_networks_stay_eager():
    net = build_scene_net(scene_model_spec("alexnet"))
    assert acceleration.accelerate_scene_net(net, InferenceSettings(), 224) is net


def test_the_service_reads_its_mode_from_settings(settings, tmp_path):
    from classifier.runtime import inference_settings

    settings.SCENEWEB_INFERENCE_MODE = "eager"
    settings.SCENEWEB_PARALLEL_MODELS = True
    settings.SCENEWEB_SAMPLES_DIR = tmp_path
    settings.SCENEWEB_MODELS_DIR = tmp_path / "models"
    assert inference_settings() == InferenceSettings(
        mode="eager", parallel=True, device="auto", cache_dir=tmp_path / "models" / "converted"
    )
    settings.SCENEWEB_INFERENCE_CACHE_DIR = "/srv/converted"
    assert inference_settings().cache_dir == Path("/srv/converted")
    (tmp_path / "b.jpg").write_bytes(b"")
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_bytes(b"")
    assert inference_settings().calibration == (tmp_path / "a.png", tmp_path / "b.jpg")
    settings.SCENEWEB_INFERENCE_MODE = "fast"
    with pytest.raises(ValueError, match="Unknown inference mode 'fast'"):
        inference_settings()
