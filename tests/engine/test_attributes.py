import re

import pytest
import torch

from classifier.engine.attributes import build_attribute_net, load_attribute_model, save_attribute_checkpoint
from classifier.engine.errors import ModelFileError


def test_the_checkpoint_round_trips_with_names_and_metrics(attribute_checkpoint_file):
    model = load_attribute_model(attribute_checkpoint_file)
    assert len(model.names) == 102 and model.names[0] == "boating"
    assert model.metrics == {"test_map": 0.5}
    scores = model.scores(torch.randn(2, 3, 224, 224))
    assert scores.shape == (2, 102)
    assert ((scores > 0) & (scores < 1)).all()


def test_it_rejects_a_checkpoint_of_another_format(tmp_path):
    torch.save({"state_dict": build_attribute_net(3).state_dict()}, tmp_path / "a.pth")
    with pytest.raises(ModelFileError, match="not a sceneweb-attributes/1 densenet201 checkpoint.*train_attributes"):
        load_attribute_model(tmp_path / "a.pth")


def test_it_rejects_a_head_that_does_not_match_its_names(tmp_path):
    save_attribute_checkpoint(tmp_path / "a.pth", build_attribute_net(3), ["a", "b"])
    with pytest.raises(ModelFileError, match="wrong shape"):
        load_attribute_model(tmp_path / "a.pth")


def test_a_head_saved_by_an_old_pytorch_loads_through_the_shared_key_migration(tmp_path):
    """DataParallel prefixes, DenseNet's `norm.1` names and no BatchNorm counters, as PyTorch 0.3 wrote them."""
    torch.manual_seed(2)
    net = build_attribute_net(3)
    save_attribute_checkpoint(tmp_path / "a.pth", net, ["a", "b", "c"])
    checkpoint = torch.load(tmp_path / "a.pth", weights_only=True)
    checkpoint["state_dict"] = {
        "module." + re.sub(r"(denselayer\d+\.(?:norm|relu|conv))([12])\.", r"\1.\2.", key): value
        for key, value in checkpoint["state_dict"].items()
        if not key.endswith("num_batches_tracked")
    }
    assert "module.features.denseblock1.denselayer1.norm.1.weight" in checkpoint["state_dict"]
    torch.save(checkpoint, tmp_path / "old.pth")
    model = load_attribute_model(tmp_path / "old.pth")
    batch = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(model.net(batch), net.eval()(batch))
