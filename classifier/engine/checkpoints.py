"""Reading and writing weight files safely, and explaining what is wrong with a bad one.

Every checkpoint goes through `torch.load(weights_only=True)`: a pickle that asks for anything
but tensors and plain containers is refused instead of executed. Key names written by old
PyTorch versions are brought up to date in one place (`migrate_state_dict`), which every
engine loader goes through (`load_checkpoint_into`).
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from classifier.engine.atomic import write_atomically
from classifier.engine.errors import ModelFileError, WeightsMissing, unreadable

_DATAPARALLEL = re.compile(r"(^|\.)module\.")
# PyTorch 0.2's DenseNet (and torchvision's own DenseNet files) named the layers of a dense
# layer "norm.1", "relu.1", "conv.1", ...
_OLD_DENSE_LAYER = re.compile(r"(denselayer\d+\.(?:norm|relu|conv))\.([12])\.")


def read_checkpoint(path: Path, *, install_hint: str) -> dict:
    """Load a checkpoint file into a dict, turning every failure into one clear message.

    The message is ours, never the reader's: PyTorch's own advice ("re-run with
    weights_only=False") is the one thing not to do with an untrusted file, and a damaged pickle
    can stop the reader with anything (IndexError, KeyError, struct.error), not only UnpicklingError.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsMissing(f"Weight file {path} is missing; {install_hint}.")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise unreadable("Weight file", path, exc, install_hint) from exc
    except pickle.UnpicklingError as exc:
        if "unsupported global" not in str(exc).lower() and "unsupported class" not in str(exc).lower():
            raise corrupt(path, install_hint) from exc
        raise ModelFileError(
            f"Weight file {path} asks to build Python objects other than tensors and plain containers; "
            f"refused unread (weight files never run code here); {install_hint}.",
            code="weights_refused",
        ) from exc
    except Exception as exc:  # a damaged pickle stops the reader with anything (see the docstring)
        raise corrupt(path, install_hint) from exc
    if not isinstance(data, Mapping):
        raise ModelFileError(
            f"Weight file {path} holds a {type(data).__name__}, not a checkpoint dict; {install_hint}.",
            code="weights_invalid",
        )
    return dict(data)


def corrupt(path: Path, install_hint: str) -> ModelFileError:
    return ModelFileError(
        f"Weight file {path} is truncated, corrupt or not a PyTorch checkpoint; {install_hint}.",
        code="weights_invalid",
    )


def _modern_name(key: str) -> str:
    return _OLD_DENSE_LAYER.sub(r"\1\2.", _DATAPARALLEL.sub(r"\1", key))


def state_dict_of(checkpoint: Mapping) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint, whether wrapped in `state_dict` (CSAIL, DataParallel) or plain,
    under the names it was saved with: `migrate_state_dict` renames them, once."""
    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, Mapping):
        raise ValueError("the checkpoint's state_dict is not a mapping")
    return {key: value for key, value in state.items() if isinstance(value, torch.Tensor)}


def migrate_state_dict(state: Mapping[str, torch.Tensor], net: nn.Module) -> dict[str, torch.Tensor]:
    """Rename the keys of checkpoints written by old PyTorch versions to today's torchvision names.

    - `module.` anywhere (DataParallel around the whole net, or only around AlexNet/VGG
      `features` as the ImageNet training script of the time did: `features.module.0.weight`);
    - DenseNet's `denselayerN.norm.1` -> `denselayerN.norm1` (likewise `conv.1`, `norm.2`, ...);
    - BatchNorm `num_batches_tracked` (added in PyTorch 0.4.1) is filled in where it is missing,
      as BatchNorm itself does for old files.
    """
    migrated = {_modern_name(key): value for key, value in state.items()}
    for name, module in net.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.track_running_stats:
            prefix = f"{name}." if name else ""
            if f"{prefix}running_mean" in migrated and f"{prefix}num_batches_tracked" not in migrated:
                migrated[f"{prefix}num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    return migrated


def load_checkpoint_into(net: nn.Module, checkpoint: Mapping, *, path: Path, install_hint: str) -> None:
    """The one way the engine puts a checkpoint's weights into a network: unwrap, migrate, strict load."""
    load_weights_into(net, migrate_state_dict(state_dict_of(checkpoint), net), path=path, install_hint=install_hint)


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
    """`torch.save` through `write_atomically`: readers never see half a checkpoint."""
    write_atomically(path, lambda tmp: torch.save(payload, tmp))
