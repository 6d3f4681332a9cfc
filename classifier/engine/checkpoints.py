"""Reading weight files safely and explaining what is wrong with a bad one.

Every checkpoint goes through `torch.load(weights_only=True)`: a pickle that asks for anything
but tensors and plain containers is refused instead of executed.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from classifier.engine.errors import ModelFileError, WeightsMissing


def read_checkpoint(path: Path, *, install_hint: str) -> dict:
    """Load a checkpoint file into a dict, turning every failure into one clear message."""
    path = Path(path)
    if not path.is_file():
        raise WeightsMissing(f"Weight file {path} is missing; {install_hint}.")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, EOFError, RuntimeError, zipfile.BadZipFile, ValueError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFileError(
            f"Weight file {path} is truncated, corrupt or not a PyTorch checkpoint ({reason[:200]}); {install_hint}.",
            code="weights_invalid",
        ) from exc
    if not isinstance(data, Mapping):
        raise ModelFileError(
            f"Weight file {path} holds a {type(data).__name__}, not a checkpoint dict; {install_hint}.",
            code="weights_invalid",
        )
    return dict(data)


def state_dict_of(checkpoint: Mapping, *, prefixes: tuple[str, ...] = ("module.",)) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint, whether wrapped in `state_dict` (CSAIL, DataParallel) or plain."""
    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, Mapping):
        raise ValueError("the checkpoint's state_dict is not a mapping")
    tensors = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            continue
        for prefix in prefixes:
            if key.startswith(prefix):
                key = key[len(prefix) :]
        tensors[key] = value
    return tensors


def load_weights_into(net: nn.Module, state: Mapping[str, torch.Tensor], *, path: Path, install_hint: str) -> None:
    """Strict load: a missing, unexpected or mis-shaped key means the file is for another network."""
    expected = net.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or mismatched:
        details = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mismatched)):
            if keys:
                details.append(f"{len(keys)} {label} (e.g. {', '.join(keys[:3])})")
        raise ModelFileError(
            f"Weight file {path} does not fit the {type(net).__name__} architecture: "
            f"{'; '.join(details)}; {install_hint}.",
            code="weights_wrong_architecture",
        )
    net.load_state_dict(state, strict=True)


def save_atomically(payload: dict, path: Path) -> None:
    """Write to a temporary file beside the target, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
