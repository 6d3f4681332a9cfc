import pickle

import pytest
import torch
from torchvision import models

from classifier.engine.errors import ModelFileError, WeightsMissing
from classifier.engine.places import SCENE_MODELS, build_scene_net, load_scene_net, scene_model_spec
from classifier.testing.checkpoints import write_places_checkpoint

HINT = "run `python manage.py fetch_models`"
SPEC = scene_model_spec("resnet18")


def test_it_loads_the_official_csail_format_with_module_prefix(tmp_path):
    torch.manual_seed(3)
    reference = models.resnet18(num_classes=365)
    path = write_places_checkpoint(tmp_path / "r18.pth.tar", reference)
    net = load_scene_net(SPEC, path, install_hint=HINT)
    assert torch.equal(net.class_weights, reference.fc.weight)


def test_it_loads_a_plain_state_dict(tmp_path):
    torch.manual_seed(4)
    reference = models.resnet18(num_classes=365)
    torch.save(reference.state_dict(), tmp_path / "plain.pth")
    net = load_scene_net(SPEC, tmp_path / "plain.pth", install_hint=HINT)
    x = torch.randn(1, 3, 224, 224)
    with torch.inference_mode():
        logits, features = net(x)
        assert torch.allclose(logits, reference.eval()(x), atol=1e-5)
    assert features.shape == (1, 512, 7, 7)


def test_it_names_a_missing_file_and_the_install_command(tmp_path):
    with pytest.raises(WeightsMissing) as caught:
        load_scene_net(SPEC, tmp_path / "resnet18_places365.pth.tar", install_hint=HINT)
    assert "resnet18_places365.pth.tar" in caught.value.message
    assert HINT in caught.value.message


def test_it_rejects_a_truncated_checkpoint(tmp_path):
    path = write_places_checkpoint(tmp_path / "r18.pth.tar")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelFileError) as caught:
        load_scene_net(SPEC, path, install_hint=HINT)
    assert caught.value.code == "weights_invalid"
    assert str(path) in caught.value.message


def test_it_rejects_a_file_that_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "r18.pth.tar"
    path.write_text("<html>404 Not Found</html>")
    with pytest.raises(ModelFileError, match="not a PyTorch checkpoint"):
        load_scene_net(SPEC, path, install_hint=HINT)


def test_it_rejects_weights_of_another_architecture(tmp_path):
    torch.save({"state_dict": models.resnet18(num_classes=1000).state_dict()}, tmp_path / "imagenet.pth")
    with pytest.raises(ModelFileError) as caught:
        load_scene_net(SPEC, tmp_path / "imagenet.pth", install_hint=HINT)
    assert caught.value.code == "weights_wrong_architecture"
    assert "fc.weight" in caught.value.message


def test_it_rejects_missing_and_unexpected_keys(tmp_path):
    state = models.resnet18(num_classes=365).state_dict()
    state.pop("layer4.1.bn2.weight")
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "odd.pth")
    with pytest.raises(ModelFileError, match="1 missing .*layer4.1.bn2.weight.*1 unexpected .*extra.weight"):
        load_scene_net(SPEC, tmp_path / "odd.pth", install_hint=HINT)


class Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


def test_it_refuses_pickles_that_run_code(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as handle:
        pickle.dump({"state_dict": Exploit()}, handle)
    with pytest.raises(ModelFileError, match="weights_only|Unsupported|not a PyTorch|corrupt"):
        load_scene_net(SPEC, path, install_hint=HINT)


def test_an_unknown_model_name_fails_loudly():
    with pytest.raises(ValueError, match="Unknown scene model 'resnet9000'"):
        scene_model_spec("resnet9000")


@pytest.mark.parametrize("name", sorted(SCENE_MODELS))
def test_every_registered_model_builds_and_gives_finite_outputs(name):
    spec = SCENE_MODELS[name]
    net = build_scene_net(spec)
    with torch.inference_mode():
        logits, features = net(torch.randn(1, 3, spec.weights.input_size, spec.weights.input_size))
    assert logits.shape == (1, spec.weights.num_classes)
    assert features.dim() == 4
    assert torch.isfinite(logits).all()
