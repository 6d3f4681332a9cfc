import numpy as np
import pytest
import torch
from torch import nn

from classifier.engine.errors import ModelFileError
from classifier.engine.keras_vgg import (
    CHANNELS_FIRST,
    CHANNELS_LAST,
    convert_keras_vgg16,
    keras_state_dict,
    read_keras_weights,
)
from classifier.engine.places import load_scene_net, scene_model_spec
from classifier.testing.checkpoints import write_keras_h5


class TinyVgg(nn.Module):
    """VGG's shape in miniature: convs and pools, then a flatten feeding dense layers."""

    def __init__(self, num_classes: int = 5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU()
        )
        self.avgpool = nn.MaxPool2d(2)
        self.classifier = nn.Sequential(nn.Linear(6 * 4 * 4, 10), nn.ReLU(), nn.Linear(10, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def reference():
    torch.manual_seed(11)
    net = TinyVgg().eval()
    for conv in (net.features[0], net.features[3]):
        conv.weight.data = torch.randn_like(conv.weight)  # asymmetric kernels, so a flip would show
    return net


def logits_after_round_trip(path, **options):
    converted = TinyVgg().eval()
    weights = read_keras_weights(path)
    converted.load_state_dict(keras_state_dict(weights, converted, **options))
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return converted(x), reference()(x)


@pytest.mark.parametrize(
    ("data_format", "backend"),
    [(CHANNELS_FIRST, "tensorflow"), (CHANNELS_LAST, "tensorflow"), (CHANNELS_LAST, "theano")],
)
def test_keras_weights_convert_back_to_the_same_logits(tmp_path, data_format, backend):
    path = write_keras_h5(tmp_path / "w.h5", reference(), data_format=data_format, backend=backend)
    converted, expected = logits_after_round_trip(path, data_format=data_format)
    torch.testing.assert_close(converted, expected, atol=1e-5, rtol=1e-5)


def test_the_wrong_flatten_order_gives_other_logits(tmp_path):
    path = write_keras_h5(tmp_path / "w.h5", reference(), data_format=CHANNELS_LAST)
    converted, expected = logits_after_round_trip(path, data_format=CHANNELS_FIRST)
    assert not torch.allclose(converted, expected, atol=1e-3)


def test_theano_kernels_are_flipped_only_when_the_file_says_theano(tmp_path):
    path = write_keras_h5(tmp_path / "w.h5", reference(), backend="theano")
    assert read_keras_weights(path).theano_kernels
    tf_path = write_keras_h5(tmp_path / "tf.h5", reference(), backend="tensorflow")
    assert not read_keras_weights(tf_path).theano_kernels


def test_the_data_format_comes_from_the_model_config_or_the_file_name(tmp_path):
    with_config = write_keras_h5(tmp_path / "w.h5", reference(), data_format=CHANNELS_FIRST, config=True)
    assert read_keras_weights(with_config).data_format == CHANNELS_FIRST
    named = write_keras_h5(tmp_path / "x_th_dim_ordering_th_kernels.h5", reference(), data_format=CHANNELS_FIRST)
    summary = convert_keras_vgg16(named, tmp_path / "out.pth", build=lambda n: TinyVgg(n))
    assert (summary["data_format"], summary["num_classes"]) == (CHANNELS_FIRST, 5)


def test_an_unknown_data_format_asks_for_the_option(tmp_path):
    path = write_keras_h5(tmp_path / "weights.h5", reference())
    with pytest.raises(ModelFileError, match="--data-format"):
        convert_keras_vgg16(path, tmp_path / "out.pth", build=lambda n: TinyVgg(n))


def test_a_file_for_another_network_is_refused_with_the_layer_counts(tmp_path):
    path = write_keras_h5(tmp_path / "w.h5", reference())
    with pytest.raises(ModelFileError, match="2 conv and 2 dense layers; VGG needs 13 and 3"):
        convert_keras_vgg16(path, tmp_path / "out.pth", build=scene_model_spec("vgg16_places365").build,
                            num_classes=365, data_format=CHANNELS_LAST)  # fmt: skip


def test_a_non_hdf5_file_is_a_model_file_error(tmp_path):
    (tmp_path / "w.h5").write_text("<html>moved</html>")
    with pytest.raises(ModelFileError, match="not a readable HDF5"):
        read_keras_weights(tmp_path / "w.h5")


def test_the_command_converts_a_full_vgg16_file_that_the_service_loads(scene_release_dir, tmp_path):
    from io import StringIO

    from django.core.management import call_command

    source = scene_release_dir / "vgg16-places365_weights_tf_dim_ordering_tf_kernels.h5"
    out = StringIO()
    call_command("convert_keras_vgg16", str(source), "--out", str(tmp_path / "vgg16_places365.pth"), stdout=out)
    assert "vgg16, 365 classes, channels_last" in out.getvalue()
    net = load_scene_net(scene_model_spec("vgg16_places365"), tmp_path / "vgg16_places365.pth", install_hint="x")
    import h5py

    with h5py.File(source) as handle:
        bias = np.asarray(handle["fc3"]["fc3/bias:0"])
    assert torch.equal(net.net.classifier[6].bias, torch.from_numpy(bias))
