"""Attribute maps: the attribute scorer's linear layer at every position of the feature map before
pooling, checked on hand-made weights (as the scene CAM is) and through both attribute sources."""

import numpy as np
import pytest
import torch
from PIL import Image

from classifier.engine import cam
from classifier.engine.analyzer import SceneAnalyzer
from classifier.engine.attribute_maps import attribute_maps
from classifier.engine.attributes import AttributeModel, build_attribute_net
from classifier.engine.labels import PlacesLabels, read_categories, read_io_labels
from classifier.engine.places import build_scene_net, scene_model_spec

NAMES = ("sky", "grass", "water")


def corner_features() -> torch.Tensor:
    """Channel 0 strong in the top-left corner, channel 1 in the bottom-right, faint noise elsewhere."""
    torch.manual_seed(0)
    features = torch.rand(4, 7, 7) * 0.05
    features[0, 0, 0] = 4.0
    features[1, 6, 6] = 4.0
    return features


def hand_made_weights() -> torch.Tensor:
    weights = torch.zeros(3, 4)
    weights[0, 0] = 1.0  # sky reads channel 0
    weights[1, 1] = 1.0  # grass reads channel 1
    weights[2, 0], weights[2, 1] = -1.0, 0.2  # water is *against* channel 0
    return weights


def peak(grid) -> tuple[int, int]:
    array = np.asarray(grid)
    return tuple(int(i) for i in np.unravel_index(array.argmax(), array.shape))


def test_an_attribute_that_reads_a_corner_feature_peaks_in_that_corner():
    maps = attribute_maps(corner_features(), hand_made_weights(), NAMES, ["grass", "sky"])
    assert [m.label for m in maps] == ["grass", "sky"]
    assert peak(maps[0].grid) == (6, 6)
    assert peak(maps[1].grid) == (0, 0)
    assert maps[1].grid[0][0] == 1.0 and maps[1].grid[6][6] < 0.1


def test_an_attribute_weighted_against_a_feature_is_coldest_where_it_is():
    (water,) = attribute_maps(corner_features(), hand_made_weights(), NAMES, ["water"])
    assert water.grid[0][0] == 0.0
    assert peak(water.grid) == (6, 6)


def test_pooling_the_maps_before_normalising_gives_back_the_scores():
    """The maths behind the maps: the mean of W @ map over positions is W @ (pooled map)."""
    features, weights = corner_features(), hand_made_weights()
    raw = torch.einsum("kc,chw->khw", weights, features)
    assert torch.allclose(raw.mean(dim=(1, 2)), weights @ features.mean(dim=(1, 2)), atol=1e-6)
    maps = cam.linear_maps(features, weights)
    assert maps.shape == (3, 7, 7) and maps.min() == 0.0 and maps.max() == 1.0


def test_it_refuses_weights_that_do_not_fit_the_features():
    with pytest.raises(ValueError, match="weights"):
        cam.linear_maps(torch.rand(4, 7, 7), torch.rand(3, 5))


@pytest.fixture(scope="module")
def labels(labels_dir):
    return PlacesLabels(
        read_categories(labels_dir / "categories_places365.txt"), read_io_labels(labels_dir / "IO_places365.txt")
    )


def test_the_densenet_head_maps_its_own_last_feature_map(labels):
    torch.manual_seed(1)
    head = build_attribute_net(len(NAMES))
    model = AttributeModel(head.eval(), NAMES)
    spec = scene_model_spec("resnet18")
    analyzer = SceneAnalyzer(build_scene_net(spec), labels, spec=spec, attribute_model=model, attribute_k=3)
    photo = Image.effect_mandelbrot((256, 192), (-2, -1.5, 1, 1.5), 60).convert("RGB")
    analysis = analyzer.analyze(photo, heatmap=False, attribute_maps=True)
    assert [m.label for m in analysis.attribute_maps] == [a.label for a in analysis.attributes]
    batch = analyzer_batch(analyzer, photo)
    with torch.inference_mode():
        features = torch.relu(head.features(batch))[0]
    expected = cam.linear_maps(features, head.classifier.weight[[NAMES.index(analysis.attributes[0].label)]])[0]
    assert np.allclose(np.asarray(analysis.attribute_maps[0].grid), expected, atol=1e-4)
    assert np.asarray(analysis.attribute_maps[0].grid).shape == (7, 7)


def analyzer_batch(analyzer: SceneAnalyzer, photo: Image.Image) -> torch.Tensor:
    from classifier.engine.imaging import model_input

    weights = analyzer.weights
    return model_input(photo, weights.input_size, weights.mean, weights.std)


def test_the_matrix_maps_come_from_the_scene_pass_on_a_fresh_install(fresh_models_dir, sample_photos):
    analyzer = SceneAnalyzer.from_models_dir(fresh_models_dir, scene_model="wideresnet18")
    photo = Image.open(sample_photos[0]).convert("RGB")
    analysis = analyzer.analyze(photo, heatmap=False, attribute_maps=True)
    assert len(analysis.attribute_maps) == len(analysis.attributes) == 10
    assert analysis.timings_ms["attribute_maps"] >= 0
    assert "attribute_maps" in analysis.to_dict()
    assert "attribute_maps" not in analyzer.analyze(photo, heatmap=False).to_dict()  # only when asked


def test_asking_for_maps_runs_the_attribute_network_once_with_the_same_scores(labels):
    torch.manual_seed(2)
    head = build_attribute_net(len(NAMES)).eval()
    spec = scene_model_spec("resnet18")
    analyzer = SceneAnalyzer(
        build_scene_net(spec), labels, spec=spec, attribute_model=AttributeModel(head, NAMES), attribute_k=3
    )
    photo = Image.effect_mandelbrot((256, 192), (-2, -1.5, 1, 1.5), 60).convert("RGB")
    passes = []
    hook = head.features.register_forward_hook(lambda *_: passes.append(1))
    try:
        with_maps = analyzer.analyze(photo, heatmap=False, attribute_maps=True)
    finally:
        hook.remove()
    without = analyzer.analyze(photo, heatmap=False)
    assert len(passes) == 1
    assert [a.label for a in with_maps.attributes] == [a.label for a in without.attributes]
    assert np.allclose([a.score for a in with_maps.attributes], [a.score for a in without.attributes], atol=1e-5)
