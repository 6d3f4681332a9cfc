"""Converted networks on disk (SCENEWEB_INFERENCE_CACHE_DIR): a start with the entry in place
converts nothing; changed weights, a damaged entry or a folder that cannot be written still
give the right network."""

import errno
import logging

import pytest
import torch
from torch import nn

from classifier.engine.acceleration import _cache, _onnx
from classifier.engine.acceleration._cache import ConvertedCache

openvino = pytest.importorskip("openvino")

from classifier.engine.acceleration._openvino import OpenVinoNetwork  # noqa: E402

SIZE = 16


def tiny_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()).eval()


@pytest.fixture
def conversions(monkeypatch):
    """Every call of openvino.convert_model, still converting."""
    calls = []
    convert = openvino.convert_model

    def counted(*args, **kwargs):
        calls.append(args[0])
        return convert(*args, **kwargs)

    monkeypatch.setattr(openvino, "convert_model", counted)
    return calls


def network(net: nn.Module, folder) -> OpenVinoNetwork:
    return OpenVinoNetwork(net, SIZE, 1, 1, "openvino", ConvertedCache(folder))


def answers_like(fast: OpenVinoNetwork, net: nn.Module) -> bool:
    batch = torch.randn(1, 3, SIZE, SIZE)
    with torch.inference_mode():
        want = net(batch)
    return torch.allclose(fast(batch), want, atol=1e-5)


def test_a_start_with_the_entry_in_place_converts_nothing(tmp_path, conversions):
    net = tiny_net()
    network(net, tmp_path)
    assert len(conversions) == 1
    again = network(net, tmp_path)
    assert len(conversions) == 1
    assert answers_like(again, net)


def test_changed_weights_miss_the_cache(tmp_path, conversions):
    network(tiny_net(seed=0), tmp_path)
    changed = tiny_net(seed=1)
    fast = network(changed, tmp_path)
    assert len(conversions) == 2
    assert answers_like(fast, changed)
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("openvino-")]) == 2


@pytest.mark.parametrize("damage", ["flipped", "truncated", "missing"])
def test_a_damaged_entry_is_converted_again_not_loaded(tmp_path, conversions, caplog, damage):
    net = tiny_net()
    network(net, tmp_path)
    (entry,) = tmp_path.iterdir()
    weights = entry / "model.bin"
    if damage == "flipped":  # same size, other bytes: OpenVINO itself would load it
        weights.write_bytes(bytes(b ^ 0xFF for b in weights.read_bytes()))
    elif damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:10])
    else:
        weights.unlink()
    with caplog.at_level(logging.WARNING, logger="sceneweb"):
        fast = network(net, tmp_path)
    assert len(conversions) == 2
    assert "is damaged; converting it again" in caplog.text
    assert answers_like(fast, net)
    assert _cache.intact(entry)
    network(net, tmp_path)
    assert len(conversions) == 2


def test_a_folder_that_cannot_be_written_converts_in_memory_and_says_so_once(
    tmp_path, conversions, caplog, monkeypatch
):
    """As on a read-only mount (the tests run as root, whom chmod does not stop): EROFS."""

    def read_only(path, content):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(_cache, "write_folder_atomically", read_only)
    monkeypatch.setattr(_cache, "_said_unwritable", set())
    nets = [tiny_net(seed=0), tiny_net(seed=1)]
    with caplog.at_level(logging.WARNING, logger="sceneweb"):
        fast = [network(net, tmp_path) for net in nets]
    assert len(conversions) == 2
    assert all(answers_like(f, net) for f, net in zip(fast, nets, strict=True))
    said = [r.getMessage() for r in caplog.records if "cannot keep converted networks" in r.getMessage()]
    assert len(said) == 1 and "Read-only file system" in said[0] and "SCENEWEB_INFERENCE_CACHE_DIR" in said[0]
    assert list(tmp_path.iterdir()) == []


def test_onnx_graphs_are_kept_too_and_int8_by_its_calibration(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    exports = []
    export = _onnx.onnx_graph
    monkeypatch.setattr(_onnx, "onnx_graph", lambda *args: exports.append(args) or export(*args))
    net, cache = tiny_net(), ConvertedCache(tmp_path)
    calibration = [torch.randn(1, 3, SIZE, SIZE) for _ in range(2)]
    _onnx.OnnxNetwork(net, SIZE, 1, 1, None, cache)
    _onnx.OnnxNetwork(net, SIZE, 1, 1, calibration, cache)
    fp32 = _onnx.OnnxNetwork(net, SIZE, 1, 1, None, cache)
    _onnx.OnnxNetwork(net, SIZE, 1, 1, calibration, cache)
    assert len(exports) == 2  # one fp32 graph, one int8 graph
    _onnx.OnnxNetwork(net, SIZE, 1, 1, [torch.randn(1, 3, SIZE, SIZE)], cache)
    assert len(exports) == 3  # other calibration photos: other int8 ranges
    batch = torch.randn(1, 3, SIZE, SIZE)
    with torch.inference_mode():
        assert torch.allclose(fp32(batch), net(batch), atol=1e-5)
