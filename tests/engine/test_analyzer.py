from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image

from classifier.engine import cam
from classifier.engine.analyzer import SceneAnalyzer
from classifier.engine.attributes import AttributeModel, build_attribute_net
from classifier.engine.errors import OptionInvalid
from classifier.engine.imaging import decode_image, model_input
from classifier.engine.labels import PlacesLabels, read_categories, read_io_labels
from classifier.engine.places import build_scene_net, scene_model_spec

SPEC = scene_model_spec("resnet18")


@pytest.fixture(scope="module")
def labels(labels_dir):
    return PlacesLabels(
        read_categories(labels_dir / "categories_places365.txt"), read_io_labels(labels_dir / "IO_places365.txt")
    )


def crafted_net(bias: torch.Tensor):
    """fc weights zero, biases chosen: the class ranking is exactly the bias ranking."""
    net = build_scene_net(SPEC)
    with torch.no_grad():
        net.net.fc.weight.zero_()
        net.net.fc.bias.copy_(bias)
    return net


def test_a_class_given_the_largest_bias_wins_with_its_softmax_probability(labels):
    bias = torch.zeros(365)
    bias[232] = 5.0  # mountain
    analyzer = SceneAnalyzer(crafted_net(bias), labels, spec=SPEC)
    analysis = analyzer.analyze(Image.new("RGB", (300, 200), (90, 120, 200)))
    top = analysis.scenes[0]
    assert (top.label, top.index) == (labels.categories[232], 232)
    assert top.probability == pytest.approx(float(torch.softmax(bias, 0)[232]), rel=1e-4)
    assert len(analysis.scenes) == 5
    probabilities = [s.probability for s in analysis.scenes]
    assert probabilities == sorted(probabilities, reverse=True)


def test_the_io_score_is_the_mean_outdoor_label_of_the_top_ten(labels):
    indoor = [i for i, v in enumerate(labels.io) if v == 0][:7]
    outdoor = [i for i, v in enumerate(labels.io) if v == 1][:3]
    bias = torch.zeros(365)
    for rank, index in enumerate(indoor + outdoor):
        bias[index] = 20.0 - rank
    analysis = SceneAnalyzer(crafted_net(bias), labels, spec=SPEC).analyze(Image.new("RGB", (64, 64)))
    assert analysis.io.score == pytest.approx(0.3)
    assert analysis.io.label == "indoor"
    bias = torch.zeros(365)
    outdoor = [i for i, v in enumerate(labels.io) if v == 1][:5]
    indoor = [i for i, v in enumerate(labels.io) if v == 0][:5]
    for rank, index in enumerate(outdoor + indoor):
        bias[index] = 20.0 - rank
    analysis = SceneAnalyzer(crafted_net(bias), labels, spec=SPEC).analyze(Image.new("RGB", (64, 64)))
    assert (analysis.io.label, analysis.io.score) == ("outdoor", 0.5)


def test_top_k_is_configurable(labels):
    analysis = SceneAnalyzer(build_scene_net(SPEC), labels, spec=SPEC, top_k=3).analyze(Image.new("RGB", (64, 64)))
    assert len(analysis.scenes) == 3 and len(analysis.cams) == 3
    with pytest.raises(ValueError):
        SceneAnalyzer(build_scene_net(SPEC), labels, spec=SPEC, top_k=0)


@pytest.mark.parametrize(
    ("options", "code", "message"),
    [
        ({"cam_class": 365}, "cam_class_invalid", "cam_class must be a category index from 0 to 364, not '365'."),
        ({"cam_class": -1}, "cam_class_invalid", "cam_class must be a category index from 0 to 364, not '-1'."),
        ({"top_k": 0}, "top_k_invalid", "top_k must be a number of scenes from 1 to 365, not '0'."),
        ({"top_k": True}, "top_k_invalid", "top_k must be a number of scenes from 1 to 365, not 'True'."),
    ],
)
def test_an_option_out_of_range_is_the_callers_domain_error_before_any_network_runs(labels, options, code, message):
    analyzer = SceneAnalyzer(build_scene_net(SPEC), labels, spec=SPEC)
    analyzer._run_networks = lambda *a: pytest.fail("the networks ran")
    with pytest.raises(OptionInvalid) as refused:
        analyzer.analyze(Image.new("RGB", (64, 64)), **options)
    assert (refused.value.code, refused.value.message) == (code, message)


def test_options_from_a_request_are_read_by_the_same_rule(labels):
    analyzer = SceneAnalyzer(build_scene_net(SPEC), labels, spec=SPEC)
    assert analyzer.checked_options(" 3 ", "42") == (3, 42)
    assert analyzer.checked_options("", None) == (None, None)
    with pytest.raises(OptionInvalid, match="not '²'"):
        analyzer.checked_options(None, "²")


def test_the_heatmaps_come_from_the_same_forward_pass_as_the_logits(labels):
    torch.manual_seed(0)
    net = build_scene_net(SPEC)
    photo = Image.effect_mandelbrot((256, 192), (-2, -1.5, 1, 1.5), 60).convert("RGB")
    calls = []
    net.net.layer4.register_forward_hook(lambda *a: calls.append(1))
    analysis = SceneAnalyzer(net, labels, spec=SPEC).analyze(photo, cam_class=7)
    assert len(calls) == 1  # one forward pass for scores and every heatmap
    with torch.inference_mode():
        _, features = net(model_input(photo, 224, SPEC.weights.mean, SPEC.weights.std))
    for heatmap in analysis.cams:
        expected = cam.class_activation_map(features[0], net.class_weights[heatmap.index])
        np.testing.assert_allclose(np.asarray(heatmap.grid), expected, atol=1e-4)
    assert analysis.cam.index == 7 and analysis.cam.png_base64
    np.testing.assert_allclose(
        np.asarray(analysis.cam.grid), cam.class_activation_map(features[0], net.class_weights[7]), atol=1e-4
    )


def test_without_attribute_model_the_analysis_says_how_to_make_one(labels):
    analysis = SceneAnalyzer(build_scene_net(SPEC), labels, spec=SPEC).analyze(Image.new("RGB", (64, 64)))
    assert analysis.attributes == []
    assert "train_attributes" in analysis.attributes_note
    assert analysis.models["attributes"] is None


def test_attributes_are_the_ten_best_sigmoid_scores(labels, labels_dir):
    torch.manual_seed(2)
    names = tuple(f"attr{i}" for i in range(102))
    net = build_attribute_net(102).eval()
    model = AttributeModel(net, names, {"test_map": 0.9})
    photo = Image.new("RGB", (64, 64), (10, 200, 30))
    analysis = SceneAnalyzer(build_scene_net(SPEC), labels, spec=SPEC, attribute_model=model).analyze(photo)
    with torch.inference_mode():
        expected = torch.sigmoid(net(model_input(photo, 224, SPEC.weights.mean, SPEC.weights.std)))[0]
    values, indices = expected.topk(10)
    assert [a.label for a in analysis.attributes] == [names[i] for i in indices.tolist()]
    assert [a.score for a in analysis.attributes] == pytest.approx(values.tolist(), abs=1e-5)
    assert analysis.attributes_note is None
    assert analysis.models["attributes"]["metrics"] == {"test_map": 0.9}
    assert "densenet201" in analysis.timings_ms


def test_the_analyzer_is_safe_from_several_threads(models_dir, sample_photos):
    analyzer = SceneAnalyzer.from_models_dir(models_dir)
    images = [decode_image(p.read_bytes()) for p in sample_photos] * 3
    serial = [analyzer.analyze(i, heatmap=False) for i in images]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(lambda i: analyzer.analyze(i, heatmap=False), images))
    for a, b in zip(serial, parallel, strict=True):
        assert [s.index for s in a.scenes] == [s.index for s in b.scenes]
        assert a.cams == b.cams


def test_real_photos_run_end_to_end_into_the_json_shape(full_models_dir, sample_photos):
    analyzer = SceneAnalyzer.from_models_dir(full_models_dir)
    for photo in sample_photos:
        result = analyzer.analyze(decode_image(photo.read_bytes())).to_dict()
        assert set(result) >= {"scenes", "io", "attributes", "attributes_note", "cam", "custom", "timings_ms", "models"}
        assert len(result["scenes"]) == 5 and set(result["scenes"][0]) == {"label", "index", "probability"}
        assert result["io"]["label"] in {"indoor", "outdoor"} and 0 <= result["io"]["score"] <= 1
        assert len(result["attributes"]) == 10 and set(result["attributes"][0]) == {"label", "score"}
        assert np.asarray(result["cam"]["grid"]).shape == (7, 7)
        assert result["cam"]["png_base64"].startswith("iVBORw0KGgo")  # PNG signature
        assert set(result["timings_ms"]) >= {"decode", "preprocess", "resnet18", "densenet201", "cam", "png", "total"}
        assert result["models"]["scene"]["name"] == "resnet18"


# -- where the attributes come from -----------------------------------------------------------


def matrix_scores(models_dir, photo: Image.Image) -> torch.Tensor:
    """The official demo's method by hand, on the eager WideResNet-18: W @ mean-pooled layer4 features."""
    from classifier.engine import catalogue
    from classifier.engine.linear_attributes import read_attribute_matrix
    from classifier.engine.places import load_scene_net

    spec = scene_model_spec("wideresnet18")
    net = load_scene_net(spec, catalogue.asset_path(models_dir, spec.weights.name), install_hint="")
    matrix = torch.from_numpy(read_attribute_matrix(models_dir / "W_sceneattribute_wideresnet18.npy")).float()
    with torch.inference_mode():
        pooled = net.features(model_input(photo, 224, spec.weights.mean, spec.weights.std)).mean(dim=(2, 3))[0]
    return matrix @ pooled


def test_a_fresh_install_scores_attributes_with_the_wideresnet18_matrix(fresh_models_dir, labels_dir):
    analyzer = SceneAnalyzer.from_models_dir(fresh_models_dir)  # SCENEWEB_ATTRIBUTES_SOURCE's default: auto
    photo = Image.new("RGB", (160, 120), (90, 150, 210))
    analysis = analyzer.analyze(photo, heatmap=False)
    expected = matrix_scores(fresh_models_dir, photo)
    values, indices = expected.topk(10)
    names = (labels_dir / "labels_sunattribute.txt").read_text().splitlines()
    assert [a.label for a in analysis.attributes] == [names[i] for i in indices.tolist()]
    assert [a.score for a in analysis.attributes] == pytest.approx(values.tolist(), rel=1e-3, abs=1e-3)  # fused net
    assert analysis.attributes_note is None
    source = analysis.models["attributes"]
    assert source["source"] == "wideresnet18-linear"
    assert source["scores"].startswith("raw linear responses, not probabilities")
    assert analysis.models["scene"]["name"] == "resnet18"
    assert "wideresnet18" in analysis.timings_ms  # its own pass beside ResNet-18's


def test_an_installed_densenet_head_wins_over_the_matrix(tmp_path, fresh_models_dir, attribute_checkpoint_file):
    for item in fresh_models_dir.iterdir():
        (tmp_path / item.name).symlink_to(item)
    (tmp_path / attribute_checkpoint_file.name).symlink_to(attribute_checkpoint_file)
    analysis = SceneAnalyzer.from_models_dir(tmp_path).analyze(Image.new("RGB", (64, 64)), heatmap=False)
    assert analysis.models["attributes"]["source"] == "densenet201"
    assert analysis.models["attributes"]["scores"].startswith("probabilities")
    assert all(0 <= a.score <= 1 for a in analysis.attributes) and len(analysis.attributes) == 10
    forced = SceneAnalyzer.from_models_dir(tmp_path, attributes_source="wideresnet18")
    assert forced.models["attributes"]["source"] == "wideresnet18-linear"


def test_without_head_or_matrix_the_note_gives_both_ways_to_get_attributes(models_dir):
    analyzer = SceneAnalyzer.from_models_dir(models_dir)
    assert analyzer.attribute_model is None
    assert "python manage.py fetch_models" in analyzer.attributes_note
    assert "W_sceneattribute_wideresnet18.npy" in analyzer.attributes_note
    assert "train_attributes" in analyzer.attributes_note
    only_head = SceneAnalyzer.from_models_dir(models_dir, attributes_source="densenet201")
    assert "densenet201_sunattributes.pth" in only_head.attributes_note


def test_an_unknown_attribute_source_is_refused(models_dir):
    with pytest.raises(ValueError, match="Unknown attribute source 'clip'"):
        SceneAnalyzer.from_models_dir(models_dir, attributes_source="clip")
