import json
import re
from io import StringIO

import numpy as np
import pytest
import torch
from django.core.management import call_command
from PIL import Image
from torch import nn

from classifier.engine import catalogue
from classifier.engine.analyzer import SceneAnalyzer
from classifier.engine.checkpoints import migrate_state_dict
from classifier.engine.gradcam import grad_cam_pass
from classifier.engine.imaging import decode_image, model_input
from classifier.engine.places import SCENE_MODELS, ConvClassifierSceneNet, load_scene_net, scene_model_spec
from classifier.testing.checkpoints import official_state_dict, write_official_checkpoint
from classifier.testing.paths import REPO

MODELS_DOC = (REPO / "docs" / "models.md").read_text()
GRID_SIDE = {"alexnet": 6, "wideresnet18": 14}


def test_densenet_keys_of_pytorch_0_2_map_to_torchvision_names():
    net = scene_model_spec("densenet161").build(365)
    old = official_state_dict(scene_model_spec("densenet161"), net)
    assert "module.features.denseblock1.denselayer1.norm.1.weight" in old
    assert "module.features.transition1.norm.weight" in old
    migrated = migrate_state_dict(old, net)
    assert set(migrated) == set(net.state_dict())
    assert torch.equal(migrated["features.denseblock1.denselayer1.norm1.weight"], net.state_dict()[
        "features.denseblock1.denselayer1.norm1.weight"])  # fmt: skip
    assert migrated["features.norm5.num_batches_tracked"].item() == 0


def test_alexnet_features_module_prefix_is_removed():
    net = scene_model_spec("alexnet").build(365)
    old = official_state_dict(scene_model_spec("alexnet"), net)
    assert "features.module.0.weight" in old and "classifier.6.weight" in old
    assert set(migrate_state_dict(old, net)) == set(net.state_dict())


@pytest.mark.parametrize("name", [n for n in SCENE_MODELS if not n.startswith("vgg16")])
def test_official_csail_checkpoints_load_with_identical_weights(tmp_path, name):
    spec = scene_model_spec(name)
    torch.manual_seed(5)
    reference = spec.build(spec.weights.num_classes).eval()
    path = write_official_checkpoint(tmp_path / "w.pth.tar", spec, reference)
    net = load_scene_net(spec, path, install_hint="x")
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        logits, features = net(x)
        torch.testing.assert_close(logits, reference(x), atol=1e-4, rtol=1e-4)
    assert features.shape[-1] == GRID_SIDE.get(name, 7)


def planted_net() -> ConvClassifierSceneNet:
    """Channel 0 sees red, channel 1 sees blue; class 0 sums channel 0, class 1 sums channel 1."""
    inner = nn.Module()
    inner.features = nn.Sequential(nn.Conv2d(3, 2, 1), nn.ReLU(), nn.AdaptiveMaxPool2d(7))
    inner.avgpool = nn.Identity()
    inner.classifier = nn.Linear(2 * 49, 2)
    with torch.no_grad():
        inner.features[0].weight.copy_(torch.tensor([[1.0, -1, -1], [-1, -1, 1]]).view(2, 3, 1, 1))
        inner.features[0].bias.zero_()
        inner.classifier.weight.zero_()
        inner.classifier.weight[0, :49] = 1.0
        inner.classifier.weight[1, 49:] = 1.0
        inner.classifier.bias.zero_()
    return ConvClassifierSceneNet(inner).eval()


def test_grad_cam_peaks_where_the_planted_feature_is():
    image = torch.zeros(1, 3, 224, 224)
    image[0, 0, 32:64, 64:96] = 1.0  # red in cell (1, 2)
    image[0, 2, 160:192, 192:224] = 1.0  # blue in cell (5, 6)
    net = planted_net()
    with torch.inference_mode(), net.heatmap_pass(image) as run:  # as the analyzer calls it
        red, blue = run.grid(0), run.grid(1)
    assert red.shape == (7, 7) and red.min() >= 0 and red.max() == pytest.approx(1.0)
    assert np.unravel_index(red.argmax(), red.shape) == (1, 2)
    assert np.unravel_index(blue.argmax(), blue.shape) == (5, 6)
    assert red[5, 6] == 0 and blue[1, 2] == 0


def test_a_grad_cam_pass_is_released_when_its_block_ends():
    net = planted_net()
    with grad_cam_pass(net.features, net.classify, torch.rand(1, 3, 32, 32)) as run:
        run.grid(0)
    with pytest.raises(RuntimeError, match="ended"):
        run.grid(0)
    assert all(p.grad is None for p in net.parameters())


def test_hybrid_io_labels_sit_after_the_imagenet_classes():
    spec = scene_model_spec("vgg16_hybrid1365")
    io = spec.weights.class_io_labels(tuple([0, 1] * 182 + [1]))
    assert len(io) == 1365 and io[:1000] == (-1,) * 1000 and io[1000:1002] == (0, 1)
    assert list(spec.weights.places_classes) == list(range(1000, 1365))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SCENE_MODELS))
def test_every_registered_model_serves_end_to_end(scene_models_dir, sample_photos, name):
    analyzer = SceneAnalyzer.from_models_dir(scene_models_dir, scene_model=name)
    result = analyzer.analyze(decode_image(sample_photos[0].read_bytes())).to_dict()
    spec = SCENE_MODELS[name]
    assert result["models"]["scene"] == {
        "name": name,
        "classes": spec.weights.num_classes,
        "weights": spec.weights.name,
        "description": spec.weights.summary,
        "heatmap": spec.heatmap,
    }
    assert len(result["scenes"]) == 5 and name in result["timings_ms"]
    side = GRID_SIDE.get(name, 7)
    assert np.asarray(result["cam"]["grid"]).shape == (side, side)
    assert result["cam"]["png_base64"].startswith("iVBORw0KGgo")
    assert result["io"]["label"] in {"indoor", "outdoor"}


def test_hybrid_io_uses_only_its_places_part(scene_models_dir):
    analyzer = SceneAnalyzer.from_models_dir(scene_models_dir, scene_model="vgg16_hybrid1365")
    outdoor = [i for i, v in enumerate(analyzer.labels.io) if v == 1][:10]
    probabilities = torch.zeros(1365)
    probabilities[:1000] = 1.0  # ImageNet classes dominate, yet have no IO label
    probabilities[outdoor] = 0.5
    io = analyzer._indoor_outdoor(probabilities)
    assert (io.label, io.score) == ("outdoor", 1.0)
    assert analyzer.labels.categories[0] == "tench"


def test_wideresnet18_attribute_matrix_is_an_alternative_attribute_source(scene_models_dir):
    analyzer = SceneAnalyzer.from_models_dir(
        scene_models_dir, scene_model="wideresnet18", attributes_source="wideresnet18"
    )
    assert analyzer.attributes_share_scene_pass  # same network and the same forward pass
    photo = Image.new("RGB", (120, 90), (40, 140, 60))
    analysis = analyzer.analyze(photo, heatmap=False)
    assert len(analysis.attributes) == 10 and analysis.attributes_note is None
    assert analysis.models["attributes"]["name"] == "wideresnet18"
    scores = [a.score for a in analysis.attributes]
    assert scores == sorted(scores, reverse=True)
    other = SceneAnalyzer.from_models_dir(scene_models_dir, scene_model="resnet18", attributes_source="wideresnet18")
    assert not other.attributes_share_scene_pass
    assert other.analyze(photo, heatmap=False).attributes[0].label in analyzer.attribute_model.names


def test_missing_attribute_matrix_gives_a_note_not_an_error(tmp_path, scene_models_dir):
    for item in scene_models_dir.iterdir():
        if item.name != "W_sceneattribute_wideresnet18.npy" and item.is_file():
            (tmp_path / item.name).symlink_to(item)
    analyzer = SceneAnalyzer.from_models_dir(tmp_path, attributes_source="wideresnet18")
    assert analyzer.attribute_model is None
    assert "W_sceneattribute_wideresnet18.npy" in analyzer.attributes_note
    assert "fetch_models --model wideresnet18" in analyzer.attributes_note


def models_doc_section(title: str) -> str:
    match = re.search(rf"^## {title}\n(.*?)(?=^## |\Z)", MODELS_DOC, re.MULTILINE | re.DOTALL)
    assert match, f"docs/models.md has no '## {title}' section"
    return match.group(1)


@pytest.mark.parametrize("name", sorted(SCENE_MODELS))
def test_every_scene_model_is_a_row_of_the_models_doc_table(name):
    spec = SCENE_MODELS[name]
    weights = spec.weights
    row = re.search(rf"^\| `{name}` \|.*$", models_doc_section("Scene models"), re.MULTILINE)
    assert row, f"{name} has no row in the 'Scene models' table of docs/models.md"
    cells = [c.strip() for c in row.group(0).strip("|").split("|")]
    assert cells[1] == str(weights.num_classes)
    assert cells[2] == spec.heatmap
    assert f"`{(catalogue.asset_spec(weights.derived_from) if weights.derived_from else weights).filename}`" in cells[3]
    expected_top1 = f"{weights.published_top1:.2f}" if weights.published_top1 else "-"
    assert cells[4] == expected_top1
    assert cells[5] == weights.licence.split(" (")[0]
    assert cells[6] == weights.summary


def test_networks_without_global_pooling_get_grad_cam():
    kinds = {name: spec.heatmap for name, spec in SCENE_MODELS.items()}
    assert kinds == {
        "resnet18": "cam", "alexnet": "gradcam", "resnet50": "cam", "densenet161": "cam",
        "wideresnet18": "cam", "vgg16_places365": "gradcam", "vgg16_hybrid1365": "gradcam",
    }  # fmt: skip


def run_command(command: str, *args) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


@pytest.mark.slow
def test_model_installs_one_model_and_analyze_json_names_it(
    tmp_path, use_models, settings, scene_release_dir, sample_photos
):
    use_models(tmp_path)
    output = run_command("fetch_models", "--model", "vgg16_places365", "--from", str(scene_release_dir), "-v", "0")
    assert "converted vgg16_places365.pth from vgg16-places365_weights_tf_dim_ordering_tf_kernels.h5" in output
    assert "ok       vgg16_places365.pth" in output
    settings.SCENEWEB_SCENE_MODEL = "vgg16_places365"
    record = json.loads(run_command("analyze", str(sample_photos[0]), "--json"))
    assert record["models"]["scene"]["name"] == "vgg16_places365"
    assert record["models"]["scene"]["heatmap"] == "gradcam"
    assert record["models"]["scene"]["description"] == SCENE_MODELS["vgg16_places365"].weights.summary


def test_shared_pass_attributes_equal_a_separate_pass(scene_models_dir):
    analyzer = SceneAnalyzer.from_models_dir(
        scene_models_dir, scene_model="wideresnet18", attributes_source="wideresnet18"
    )
    photo = Image.new("RGB", (120, 90), (200, 60, 30))
    analysis = analyzer.analyze(photo, heatmap=False)
    weights = analyzer.weights
    with torch.inference_mode():
        separate = analyzer.attribute_model.scores(model_input(photo, weights.input_size, weights.mean, weights.std))[0]
    expected = {analyzer.attribute_model.names[i]: float(separate[i]) for i in range(len(separate))}
    for attribute in analysis.attributes:
        assert attribute.score == pytest.approx(expected[attribute.label], rel=1e-3, abs=1e-3)
