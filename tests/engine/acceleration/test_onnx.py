"""The ONNX modes: the fp32 graph gives the reference's answers, int8 stays close, and a
missing package or missing calibration photos is refused with what to do."""

import sys

import pytest
import torch

from classifier.engine import acceleration
from classifier.engine.acceleration import InferenceSettings
from classifier.engine.acceleration._onnx import OnnxNetwork
from classifier.engine.analyzer import SceneAnalyzer
from classifier.engine.imaging import decode_image
from classifier.engine.places import build_scene_net, scene_model_spec
from tests.support.analysis import assert_same_analysis


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
    quantised = OnnxNetwork(net, 32, 1, 1, calibration)
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
