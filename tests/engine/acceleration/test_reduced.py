"""bf16 (and, on a GPU, fp16) modes: close to fp32 on random-weight networks, same shapes, fp32 answers.

Random weights only show that the plumbing is right (same outputs within bf16's rounding);
bench/fidelity.py measures the agreement on trained networks.
"""

import pytest
import torch

from classifier.engine import acceleration
from classifier.engine.acceleration import InferenceSettings
from classifier.engine.analyzer import SceneAnalyzer
from classifier.engine.architectures import architecture
from classifier.engine.custom import CustomModel
from classifier.engine.imaging import decode_image
from classifier.engine.places import build_scene_net, scene_model_spec

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got - want).norm() / want.norm())


def reduced_and_reference(name: str, settings: InferenceSettings):
    torch.manual_seed(0)
    net = build_scene_net(scene_model_spec(name))
    batch = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        want = net(batch)
        got = acceleration.accelerate_scene_net(net, settings, 224)(batch)
    return got, want


@pytest.mark.parametrize("name", ["resnet18", "wideresnet18"])
def test_a_bf16_scene_net_answers_fp32_close_to_the_reference(name):
    (logits, features), (want_logits, want_features) = reduced_and_reference(name, InferenceSettings(mode="bf16"))
    assert logits.dtype == features.dtype == torch.float32
    assert features.shape == want_features.shape and features.shape[:2] == (2, 512)
    assert relative_error(features, want_features) < 0.05
    assert relative_error(logits, want_logits) < 0.05


def test_bf16_leaves_the_original_network_in_fp32():
    net = build_scene_net(scene_model_spec("resnet18"))
    acceleration.accelerate_scene_net(net, InferenceSettings(mode="bf16"), 224)
    assert {p.dtype for p in net.parameters()} == {torch.float32}


@pytest.mark.parametrize(("arch", "grid"), [("resnet18", 7), ("wideresnet18", 14)])
def test_a_bf16_custom_model_keeps_its_classes_and_cam(arch, grid):
    torch.manual_seed(0)
    net = architecture(arch).transfer_net(3).eval()
    model = CustomModel("mine", arch, net, ("a", "b", "c"), 224, (0.5,) * 3, (0.25,) * 3)
    fast = acceleration.accelerate_custom(model, InferenceSettings(mode="bf16"))
    batch = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        want, got = net.feature_map(batch), fast.net.feature_map(batch)
    assert got.dtype == torch.float32 and relative_error(got, want) < 0.05
    result = fast.predict(batch, top_k=3)
    assert sorted(s.label for s in result.classes) == ["a", "b", "c"]
    assert len(result.cam.grid) == grid
    assert model.net is net and {p.dtype for p in net.parameters()} == {torch.float32}
    assert acceleration.accelerate_custom(model, InferenceSettings(mode="fused")) is model


def test_the_bf16_analysis_of_a_real_photo_has_the_shape_and_scores_of_fp32(full_models_dir, reference, sample_photos):
    fast = SceneAnalyzer.from_models_dir(full_models_dir, inference=InferenceSettings(mode="bf16"))
    image = decode_image(sample_photos[0].read_bytes())
    got, want = fast.analyze(image), reference.analyze(image)
    assert len(got.cam.grid) == 7 and got.cam.png_base64
    assert [a.label for a in got.attributes][:3] == [a.label for a in want.attributes][:3]
    wanted = {s.index: s.probability for s in want.scenes}
    for scene in got.scenes:  # random weights: near-uniform probabilities, so compare values, not ranks
        assert scene.probability == pytest.approx(wanted.get(scene.index, scene.probability), abs=2e-3)


@needs_gpu
@pytest.mark.parametrize("mode", ["fused", "fp16", "bf16"])
def test_on_a_gpu_each_mode_answers_on_the_cpu_close_to_the_reference(mode):
    (logits, features), (want_logits, want_features) = reduced_and_reference(
        "resnet18", InferenceSettings(mode=mode, device="cuda")
    )
    assert logits.device.type == features.device.type == "cpu"
    assert relative_error(features, want_features) < 0.05
    assert relative_error(logits, want_logits) < 0.05
