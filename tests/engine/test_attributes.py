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
