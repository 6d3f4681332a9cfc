"""The one-line summary: what the page shows first, the photo's alt text and the JSON's `summary`."""

import pytest
import torch
from PIL import Image

from classifier.engine.analyzer import SceneAnalyzer
from classifier.engine.labels import PlacesLabels, read_categories, read_io_labels
from classifier.engine.places import build_scene_net, scene_model_spec
from classifier.engine.summary import sentence


@pytest.fixture(scope="module")
def labels(labels_dir):
    return PlacesLabels(
        read_categories(labels_dir / "categories_places365.txt"), read_io_labels(labels_dir / "IO_places365.txt")
    )


def test_the_summary_says_io_top_scene_and_strongest_attributes(labels):
    text = sentence("valley", 0.4123, "outdoor", ["natural light", "open area", "far-away horizon", "trees"])
    assert text == "An outdoor scene, most likely a valley (41%): natural light, open area, far-away horizon"
    assert sentence("art_gallery", 0.2, "indoor") == "An indoor scene, most likely an art gallery (20%)"
    assert sentence("apartment_building/outdoor", 0.5, "outdoor").endswith("an apartment building (outdoor) (50%)")
    bias = torch.zeros(365)
    bias[232] = 5.0
    spec = scene_model_spec("resnet18")
    net = build_scene_net(spec)
    with torch.no_grad():
        net.net.fc.weight.zero_()
        net.net.fc.bias.copy_(bias)
    analysis = SceneAnalyzer(net, labels, spec=spec).analyze(Image.new("RGB", (64, 64)), heatmap=False)
    assert analysis.to_dict()["summary"].startswith(f"An {analysis.io.label} scene, most likely a ")
