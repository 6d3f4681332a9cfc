"""Where transfer learning starts from: Places365 weights are found through each scene model's
weights record (its own `arch`), never by a model name that happens to equal an architecture's."""

from __future__ import annotations

import pytest
import torch

from classifier.engine import catalogue
from classifier.engine.architectures import architecture
from classifier.engine.errors import SceneWebError
from classifier.engine.places import SCENE_MODELS, load_scene_net
from classifier.testing.checkpoints import write_official_checkpoint
from classifier.training.finetune import FinetuneOptions
from classifier.training.pretrained import places365_model, places_weights_path, transfer_net


def test_places365_weights_are_joined_by_the_records_architecture():
    assert places365_model(architecture("resnet18")).name == "resnet18"
    assert places365_model(architecture("vgg16")).name == "vgg16_places365"  # its model name is not "vgg16"
    assert places365_model(architecture("densenet121")) is None  # Places365 has a DenseNet-161, not a 121


def test_the_default_start_is_places365_where_the_architecture_has_such_weights():
    assert FinetuneOptions(arch="vgg16").initial_weights == "places365"
    assert FinetuneOptions(arch="mobilenet_v2").initial_weights == "imagenet"
    assert FinetuneOptions(arch="resnet18", mode="scratch").initial_weights == "none"
    assert FinetuneOptions(arch="wideresnet18").initial_weights == "places365"


def test_wideresnet18_trains_from_the_network_the_attribute_matrix_reads(tmp_path):
    spec = architecture("wideresnet18")
    path = write_official_checkpoint(places_weights_path(spec, tmp_path), SCENE_MODELS["wideresnet18"], seed=3)
    served = load_scene_net(SCENE_MODELS["wideresnet18"], path, install_hint=catalogue.FETCH_HINT)
    trained = transfer_net(spec, "places365", 3, 0, seed=0, models_dir=tmp_path).eval()
    batch = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        features, want = trained.feature_map(batch), served(batch)[1]
    assert features.shape == (1, 512, 4, 4)  # no stem max-pool: twice ResNet-18's 2 x 2
    assert torch.equal(features, want)
    assert trained.head[-1].out_features == 3 and trained.has_cam


def test_imagenet_weights_for_wideresnet18_are_refused_saying_what_to_pass(tmp_path):
    with pytest.raises(SceneWebError, match="wideresnet18 has no ImageNet weights; pass --weights places365"):
        transfer_net(architecture("wideresnet18"), "imagenet", 3, 0, seed=0, models_dir=tmp_path)


def test_places365_weights_for_an_architecture_without_them_are_refused_naming_those_with(tmp_path):
    with pytest.raises(
        SceneWebError, match="exist here for resnet18, resnet50, vgg16, wideresnet18 only, not densenet121"
    ):
        transfer_net(architecture("densenet121"), "places365", 3, 0, seed=0, models_dir=tmp_path)
