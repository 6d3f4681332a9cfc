"""Where transfer learning starts from: Places365 weights are found through each scene model's
weights record (its own `arch`), never by a model name that happens to equal an architecture's."""

from __future__ import annotations

import pytest

from classifier.engine.architectures import architecture
from classifier.engine.errors import SceneWebError
from classifier.training.finetune import FinetuneOptions
from classifier.training.pretrained import places365_model, transfer_net


def test_places365_weights_are_joined_by_the_records_architecture():
    assert places365_model(architecture("resnet18")).name == "resnet18"
    assert places365_model(architecture("vgg16")).name == "vgg16_places365"  # its model name is not "vgg16"
    assert places365_model(architecture("densenet121")) is None  # Places365 has a DenseNet-161, not a 121


def test_the_default_start_is_places365_where_the_architecture_has_such_weights():
    assert FinetuneOptions(arch="vgg16").initial_weights == "places365"
    assert FinetuneOptions(arch="mobilenet_v2").initial_weights == "imagenet"
    assert FinetuneOptions(arch="resnet18", mode="scratch").initial_weights == "none"


def test_places365_weights_for_an_architecture_without_them_are_refused_naming_those_with(tmp_path):
    with pytest.raises(SceneWebError, match="exist here for resnet18, resnet50, vgg16 only, not densenet121"):
        transfer_net(architecture("densenet121"), "places365", 3, 0, seed=0, models_dir=tmp_path)
