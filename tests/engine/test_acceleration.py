"""Every inference mode gives the reference's answers; modes are chosen by name, loudly.

The reference is the plain eval-mode network ("eager"); the optimised paths must agree with it
on real photos to float rounding: same top-5, same attribute ranking, probabilities and CAM
grids within a small tolerance.
"""

import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from classifier.engine import acceleration
from classifier.engine.acceleration import InferenceSettings
from classifier.engine.analyzer import SceneAnalyzer
from classifier.engine.imaging import decode_image
from classifier.engine.places import build_scene_net, scene_model_spec

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def reference(full_models_dir):
    return SceneAnalyzer.from_models_dir(full_models_dir, inference=InferenceSettings(mode="eager"))


@pytest.fixture(scope="module")
def default(full_models_dir):
    return SceneAnalyzer.from_models_dir(full_models_dir)


@pytest.fixture(scope="module")
def parallel(full_models_dir):
    return SceneAnalyzer.from_models_dir(full_models_dir, inference=InferenceSettings(parallel=True))


def assert_same_analysis(candidate, expected):
    assert [s.index for s in candidate.scenes] == [s.index for s in expected.scenes]
    for got, want in zip(candidate.scenes, expected.scenes, strict=True):
        assert got.probability == pytest.approx(want.probability, abs=TOLERANCE)
    assert [a.label for a in candidate.attributes] == [a.label for a in expected.attributes]
    for got, want in zip(candidate.attributes, expected.attributes, strict=True):
        assert got.score == pytest.approx(want.score, abs=TOLERANCE)
    assert candidate.io == expected.io
    assert candidate.cam.index == expected.cam.index
    np.testing.assert_allclose(np.array(candidate.cam.grid), np.array(expected.cam.grid), atol=1e-3)


def test_the_default_mode_is_fused():
    assert InferenceSettings().mode == "fused"


def test_the_default_mode_gives_the_reference_answers_on_real_photos(reference, default, sample_photos):
    for photo in sample_photos:
        image = decode_image(photo.read_bytes())
        assert_same_analysis(default.analyze(image), reference.analyze(image))


def test_the_networks_side_by_side_give_the_reference_answers(reference, parallel, sample_photos):
    image = decode_image(sample_photos[0].read_bytes())
    analysis = parallel.analyze(image)
    assert_same_analysis(analysis, reference.analyze(image))
    assert set(analysis.timings_ms) >= {"decode", "preprocess", "resnet18", "densenet201", "cam", "png", "total"}


def test_concurrent_callers_each_get_their_own_photo_analysed(reference, parallel, sample_photos):
    images = [decode_image(p.read_bytes()) for p in sample_photos] * 2
    expected = [reference.analyze(image, heatmap=False) for image in images]
    with ThreadPoolExecutor(max_workers=4) as callers:
        results = list(callers.map(lambda image: parallel.analyze(image, heatmap=False), images))
    for got, want in zip(results, expected, strict=True):
        assert_same_analysis(got, want)


def test_the_parallel_pool_leaves_the_callers_thread_setting_alone():
    before = torch.get_num_threads()
    pool = acceleration.single_thread_pool(2)
    try:
        assert pool.submit(torch.get_num_threads).result() == 1
        assert torch.get_num_threads() == before
    finally:
        pool.shutdown()


def test_an_unknown_mode_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match=r"Unknown inference mode 'turbo'; choose one of: fused, eager, onnx"):
        InferenceSettings(mode="turbo")


def test_a_negative_thread_count_is_refused():
    with pytest.raises(ValueError, match="threads must be 0"):
        InferenceSettings(threads=-1)


def test_grad_cam_networks_stay_eager():
    net = build_scene_net(scene_model_spec("alexnet"))
    assert acceleration.accelerate_scene_net(net, InferenceSettings(), 224) is net


def test_the_onnx_mode_without_onnxruntime_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    net = build_scene_net(scene_model_spec("resnet18"))
    with pytest.raises(
        RuntimeError, match="need the onnxruntime and onnx packages; install them with `pip install onnxruntime onnx`"
    ):
        acceleration.accelerate_scene_net(net, InferenceSettings(mode="onnx"), 224)


def test_the_onnx_mode_gives_the_reference_answers(full_models_dir, reference, sample_photos):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    onnx = SceneAnalyzer.from_models_dir(full_models_dir, inference=InferenceSettings(mode="onnx"))
    image = decode_image(sample_photos[0].read_bytes())
    assert_same_analysis(onnx.analyze(image), reference.analyze(image))


def test_the_service_reads_its_mode_from_settings(settings, tmp_path):
    from classifier.runtime import inference_settings

    settings.SCENEWEB_INFERENCE_MODE = "eager"
    settings.SCENEWEB_PARALLEL_MODELS = True
    settings.SCENEWEB_SAMPLES_DIR = tmp_path
    assert inference_settings() == InferenceSettings(mode="eager", parallel=True)
    (tmp_path / "b.jpg").write_bytes(b"")
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_bytes(b"")
    assert inference_settings().calibration == (tmp_path / "a.png", tmp_path / "b.jpg")
    settings.SCENEWEB_INFERENCE_MODE = "fast"
    with pytest.raises(ValueError, match="Unknown inference mode 'fast'"):
        inference_settings()


def test_the_side_by_side_pool_works_in_a_forked_child(parallel, reference, sample_photos):
    """gunicorn builds the analyzer in its master and forks the workers: the pool must follow."""
    image = decode_image(sample_photos[0].read_bytes())
    expected = [s.index for s in reference.analyze(image, heatmap=False).scenes]
    parallel.analyze(image, heatmap=False)  # the pool's threads now exist in this process only
    child = os.fork()
    if child == 0:
        try:
            torch.set_num_threads(1)  # as gunicorn's config does: OpenMP's team does not survive a fork
            scenes = [s.index for s in parallel.analyze(image, heatmap=False).scenes]
            os._exit(0 if scenes == expected else 1)
        finally:
            os._exit(2)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pid, status = os.waitpid(child, os.WNOHANG)
        if pid:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    raise AssertionError("the forked child hung on the analyzer's thread pool")


def test_int8_quantisation_puts_int8_weights_in_the_graph_and_stays_close():
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()
    )
    calibration = [torch.rand(1, 3, 32, 32) for _ in range(16)]
    graph = onnx.load_from_string(acceleration.int8_model(acceleration.onnx_graph(net, 32, 1), calibration))
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= {node.op_type for node in graph.graph.node}
    assert onnx.TensorProto.INT8 in {tensor.data_type for tensor in graph.graph.initializer}
    quantised = acceleration._OnnxNetwork(net, 32, 1, 1, calibration)
    batch = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        expected = net(batch)
    assert torch.allclose(quantised(batch), expected, atol=0.02 * float(expected.abs().max()))


def test_int8_without_calibration_photos_says_where_to_put_them(full_models_dir):
    with pytest.raises(ValueError, match="needs calibration photos; put a few typical photos in SCENEWEB_SAMPLES_DIR"):
        SceneAnalyzer.from_models_dir(full_models_dir, inference=InferenceSettings(mode="onnx-int8"))


def test_the_int8_mode_analyses_real_photos(full_models_dir, reference, sample_photos):
    pytest.importorskip("onnxruntime")
    int8 = SceneAnalyzer.from_models_dir(
        full_models_dir, inference=InferenceSettings(mode="onnx-int8", calibration=tuple(sample_photos))
    )
    image = decode_image(sample_photos[0].read_bytes())
    analysis, expected = int8.analyze(image), reference.analyze(image)
    assert len(analysis.scenes) == 5 and len(analysis.attributes) == 10
    overlap = {s.index for s in analysis.scenes} & {s.index for s in expected.scenes}
    assert len(overlap) >= 3  # int8 changes the numbers a little; bench/fidelity.py measures how much
