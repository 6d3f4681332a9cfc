"""The OpenVINO modes: same answers as fp32 (openvino) or close to them (openvino-bf16), compiled
lazily in each process (its threads do not survive gunicorn's fork)."""

import os

import pytest
import torch

from classifier.engine import acceleration
from classifier.engine.acceleration import InferenceSettings
from classifier.engine.places import build_scene_net, scene_model_spec

pytest.importorskip("openvino")


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got - want).norm() / want.norm())


@pytest.fixture(scope="module")
def resnet18():
    torch.manual_seed(0)
    return build_scene_net(scene_model_spec("resnet18"))


@pytest.mark.parametrize(("mode", "tolerance"), [("openvino", 1e-4), ("openvino-bf16", 0.05)])
def test_an_openvino_scene_net_answers_like_the_reference(resnet18, mode, tolerance):
    batch = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        want_logits, want_features = resnet18(batch)
    fast = acceleration.accelerate_scene_net(resnet18, InferenceSettings(mode=mode, threads=1), 224)
    logits, features = fast(batch)
    assert logits.dtype == features.dtype == torch.float32
    assert features.shape == want_features.shape == (1, 512, 7, 7)
    assert relative_error(logits, want_logits) < tolerance
    assert relative_error(features, want_features) < tolerance


def test_the_model_is_compiled_on_first_use_in_each_process(resnet18):
    fast = acceleration.accelerate_scene_net(resnet18, InferenceSettings(mode="openvino", threads=1), 224)
    network = fast.fast_forward
    assert network._compiled is None
    fast(torch.randn(1, 3, 224, 224))
    first = network._compiled
    assert first is not None and network._pid == os.getpid()
    network._pid = -1  # as a forked worker sees the master's model
    fast(torch.randn(1, 3, 224, 224))
    assert network._compiled is not first


def test_without_a_thread_setting_openvino_takes_as_many_threads_as_pytorch(resnet18):
    """The collection workers split the cores with torch.set_num_threads; OpenVINO must follow."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fast = acceleration.accelerate_scene_net(resnet18, InferenceSettings(mode="openvino"), 224)
        fast(torch.randn(1, 3, 224, 224))
        compiled = fast.fast_forward._compiled
        assert compiled.get_property("INFERENCE_NUM_THREADS") == 1
        assert compiled.get_property("ENABLE_CPU_PINNING") is False  # or every process's thread sits on core 0
    finally:
        torch.set_num_threads(previous)
