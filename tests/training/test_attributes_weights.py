"""Where training starts from: random, torchvision's ImageNet weights, or a DenseNet-201 file."""

from __future__ import annotations

import urllib.error

import pytest
import torch
from torchvision.models import _api as torchvision_weights

from classifier.engine.attributes import build_attribute_net
from classifier.engine.errors import DownloadFailed, ModelFileError
from classifier.training.pretrained import attribute_net


def legacy_names(state: dict) -> dict:
    """torchvision's own DenseNet file: layers in dense blocks named `norm.1`, no batch counters."""
    renamed = {}
    for key, value in state.items():
        if key.endswith("num_batches_tracked"):
            continue
        for part in ("norm", "relu", "conv"):
            for number in ("1", "2"):
                key = key.replace(f".{part}{number}.", f".{part}.{number}.")
        renamed[key] = value
    return renamed


@pytest.fixture(scope="module")
def imagenet_like(tmp_path_factory):
    """A 1000-class DenseNet-201 saved as torchvision's release is: a plain state dict, legacy names."""
    torch.manual_seed(3)
    net = build_attribute_net(1000)
    path = tmp_path_factory.mktemp("weights") / "densenet201-c1103571.pth"
    state = legacy_names(net.state_dict())
    assert any(".norm.1." in key for key in state)
    torch.save(state, path)
    return net, path


def test_a_densenet_file_starts_the_trunk_and_a_fresh_head_replaces_its_classifier(imagenet_like):
    source, path = imagenet_like
    net = attribute_net(str(path), 6)
    state, expected = net.state_dict(), source.state_dict()
    assert torch.equal(
        state["features.denseblock4.denselayer32.conv2.weight"],
        expected["features.denseblock4.denselayer32.conv2.weight"],
    )
    assert torch.equal(state["features.norm5.running_var"], expected["features.norm5.running_var"])
    assert state["classifier.weight"].shape == (6, 1920)


def test_an_attribute_checkpoint_of_the_same_size_keeps_its_head(tmp_path):
    from classifier.engine.attributes import save_attribute_checkpoint

    torch.manual_seed(4)
    source = build_attribute_net(6)
    save_attribute_checkpoint(tmp_path / "head.pth", source, [f"a{i}" for i in range(6)])
    net = attribute_net(str(tmp_path / "head.pth"), 6)
    assert torch.equal(net.classifier.weight, source.classifier.weight)


def test_a_file_of_another_network_is_refused(tmp_path):
    torch.save({"conv.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(ModelFileError, match="does not fit the DenseNet architecture.*--weights imagenet"):
        attribute_net(str(tmp_path / "other.pth"), 6)


def test_imagenet_weights_offline_say_where_to_put_the_file(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(torchvision_weights, "load_state_dict_from_url", offline)
    with pytest.raises(DownloadFailed) as caught:
        attribute_net("imagenet", 102)
    message = caught.value.message
    assert "could not be downloaded (<urlopen error no route to host>)" in message
    url = "https://download.pytorch.org/models/densenet201-c1103571.pth"
    assert f"copy densenet201-c1103571.pth (from {url}) into {torch.hub.get_dir()}/checkpoints" in message
    assert "--weights none" in message
