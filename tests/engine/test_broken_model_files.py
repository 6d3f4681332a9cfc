"""Broken model files are refused in our own words: a 2-byte pickle, a hundred truncated or
bit-flipped checkpoints, a matrix of Python objects. Never the reader's IndexError, never
PyTorch's "re-run with weights_only=False" or numpy's "allow_pickle" advice."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from classifier.engine.checkpoints import read_checkpoint
from classifier.engine.errors import ModelFileError
from classifier.engine.linear_attributes import read_attribute_matrix
from classifier.testing.checkpoints import write_places_checkpoint

ADVICE = ("weights_only", "allow_pickle", "Traceback", "re-run", "Re-running")
HINT = "run `python manage.py fetch_models`"


def assert_our_words(error: ModelFileError) -> None:
    assert not any(words in error.message for words in ADVICE), error.message
    assert error.message.endswith(f"; {HINT}.") or "permission denied" in error.message


@pytest.mark.parametrize("data", [b"(.", b"G.", b"h.", b"\x80\x02", b"", b"N."])
def test_a_two_byte_pickle_is_a_corrupt_checkpoint(tmp_path, data):
    path = tmp_path / "resnet18_places365.pth.tar"
    path.write_bytes(data)
    with pytest.raises(ModelFileError) as refused:
        read_checkpoint(path, install_hint=HINT)
    assert_our_words(refused.value)


def test_a_pickle_asking_for_code_is_refused_unread_in_our_words(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "payload": Path("/etc/passwd")}, path)  # a class, not a tensor
    with pytest.raises(ModelFileError, match="asks to build Python objects other than tensors") as refused:
        read_checkpoint(path, install_hint=HINT)
    assert refused.value.code == "weights_refused"
    assert_our_words(refused.value)


def mutations(original: bytes, count: int, seed: int = 18) -> list[bytes]:
    """Half truncations at random lengths, half copies with one to four flipped bits."""
    rng = random.Random(seed)
    found = []
    for i in range(count):
        if i % 2:
            found.append(original[: rng.randrange(len(original))])
            continue
        flipped = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
        found.append(bytes(flipped))
    return found


def test_a_hundred_damaged_checkpoints_load_or_are_refused_in_our_words(tmp_path):
    torch.manual_seed(0)
    small = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    original = write_places_checkpoint(tmp_path / "original.pth.tar", small).read_bytes()
    outcomes = {"loaded": 0, "refused": 0}
    for data in mutations(original, 100):
        path = tmp_path / "damaged.pth.tar"
        path.write_bytes(data)
        try:
            read_checkpoint(path, install_hint=HINT)
        except ModelFileError as refused:
            assert_our_words(refused)
            outcomes["refused"] += 1
        else:
            outcomes["loaded"] += 1  # a flip inside the tensor data: only the hash can tell (test_assets)
    assert outcomes["refused"] > 50


def test_a_matrix_of_python_objects_is_refused_without_numpys_advice(tmp_path):
    path = tmp_path / "W_sceneattribute_wideresnet18.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ModelFileError, match="is not a plain NumPy .npy array of numbers") as refused:
        read_attribute_matrix(path)
    assert "allow_pickle" not in refused.value.message
