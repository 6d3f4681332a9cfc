"""Every registered architecture builds with random weights, takes one training step at its own
input size, and round-trips through the custom checkpoint format."""

from __future__ import annotations

import pytest
import torch

from classifier.engine.architectures import TRANSFER_ARCHITECTURES, architecture
from classifier.engine.custom import load_custom_model, save_custom_checkpoint
from classifier.training.phases import make_optimizer, set_trainable, train_mode

HEAVY = {"resnet152", "densenet201", "vgg16", "inception_v3"}
CLASSES = 3


def one_training_step(name: str, size: int) -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    net = architecture(name).transfer_net(CLASSES)
    unfrozen = set_trainable(net, None)
    optimizer = make_optimizer(net, unfrozen, lr=1e-3, backbone_lr=1e-3, weight_decay=1e-4)
    train_mode(net, unfrozen)
    images, labels = torch.randn(2, 3, size, size), torch.tensor([0, 2])
    before = net.head[-1].weight.detach().clone()
    loss = torch.nn.functional.cross_entropy(net(images), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert not torch.equal(before, net.head[-1].weight)
    return net, images


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in TRANSFER_ARCHITECTURES]
)
def test_each_architecture_trains_one_step_at_its_input_size(name):
    spec = TRANSFER_ARCHITECTURES[name]
    net, images = one_training_step(name, spec.input_size)
    net.eval()
    with torch.no_grad():
        features = net.feature_map(images)
        logits = net(images)
    assert logits.shape == (2, CLASSES)
    assert net.pool(features).shape == (2, net.feature_dim)
    assert net.has_cam == (features.dim() == 4)  # VGG's trunk ends in fc layers: no CAM


def test_the_input_sizes_are_the_architectures_own():
    sizes = {name: spec.input_size for name, spec in TRANSFER_ARCHITECTURES.items()}
    assert sizes == {name: 299 if name == "inception_v3" else 224 for name in sizes}
    assert len(sizes) >= 10
    assert TRANSFER_ARCHITECTURES["inception_v3"].mean == (0.5, 0.5, 0.5)


def test_an_unknown_architecture_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="Unknown architecture 'resnet19'; known: resnet18, resnet50"):
        architecture("resnet19")


@pytest.mark.parametrize("name", ["mobilenet_v3_large", "vgg16", "wideresnet18"])
def test_a_custom_checkpoint_round_trips(tmp_path, name):
    spec = architecture(name)
    net = spec.transfer_net(CLASSES, extra_fc=1 if name == "vgg16" else 0).eval()
    path = tmp_path / "model.pth"
    save_custom_checkpoint(
        path,
        net,
        name="mine",
        arch=name,
        classes=["a", "b", "c"],
        input_size=64,
        mean=spec.mean,
        std=spec.std,
        extra_fc=1 if name == "vgg16" else 0,
        metrics={"accuracy": 0.5},
    )
    model = load_custom_model(path)
    images = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model.net(images), net(images))
    result = model.predict(images, top_k=2)
    assert [s.label for s in result.classes] == [model.classes[s.index] for s in result.classes]
    assert (result.cam is None) == (name == "vgg16")
    assert model.metrics == {"accuracy": 0.5}
