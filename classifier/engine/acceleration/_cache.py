"""Converted networks (OpenVINO IR, ONNX graphs, int8 ONNX graphs) kept on disk, so that a start
reads in milliseconds what took seconds to trace and convert (5 s for ResNet-18 with OpenVINO
here), and the conversion happens once: at `fetch_models`, or at the first start, in gunicorn's
master before the fork.

An entry is a folder named by the converter and a key: the sha256 of the network as loaded (its
class, every tensor's name, dtype, shape and bytes), the input size, the runtime's version and
whatever else shapes the result (the int8 calibration photos). A changed weights file, another
runtime version or other calibration photos therefore name another entry. Each entry holds the
sha256 of its own files (the installer's `sha256_of`), checked when it is read: a damaged entry
is converted and written again, never loaded. Entries are written whole or not at all
(`write_folder_atomically`). A folder that cannot be written (production mounts the models
read-only) costs the conversion at every start, said once per folder in the log.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

from classifier.engine.atomic import write_folder_atomically
from classifier.engine.manifest import sha256_of

log = logging.getLogger("sceneweb")

T = TypeVar("T")
CHECKSUMS = "sha256.json"
UNWRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT)
_said_unwritable: set[Path] = set()


def network_key(module: nn.Module, *parts: object) -> str:
    """The sha256 of the network's class and weights as loaded, and of `parts` (plain values)."""
    digest = hashlib.sha256(f"{type(module).__module__}.{type(module).__qualname__}".encode())
    for part in parts:
        digest.update(f"|{part}".encode())
    for name, tensor in module.state_dict().items():
        digest.update(f"|{name}:{tensor.dtype}:{tuple(tensor.shape)}|".encode())
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def tensors_key(tensors) -> str:
    """The sha256 of a sequence of tensors (the calibration batches)."""
    digest = hashlib.sha256()
    for tensor in tensors:
        digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


class ConvertedCache:
    """The folder of converted networks (SCENEWEB_INFERENCE_CACHE_DIR); None converts in memory."""

    def __init__(self, folder: Path | None):
        self.folder = None if folder is None else Path(folder)

    def entry(self, converter: str, key: str) -> Path | None:
        return None if self.folder is None else self.folder / f"{converter}-{key[:32]}"

    def load_or_build(
        self,
        converter: str,
        key: str,
        build: Callable[[], T],
        save: Callable[[T, Path], object],
        load: Callable[[Path], T],
    ) -> T:
        """The entry's network if it is there and intact; else `build()`, saved for the next start."""
        entry = self.entry(converter, key)
        if entry is None:
            return build()
        if intact(entry):
            return load(entry)
        if entry.exists():
            log.warning("sceneweb inference: the cached %s in %s is damaged; converting it again", converter, entry)
            shutil.rmtree(entry, ignore_errors=True)  # a read-only one stays, and the new one stays in memory
        network = build()
        try:
            write_folder_atomically(entry, lambda folder: _save_with_checksums(network, folder, save))
        except OSError as exc:
            if exc.errno not in UNWRITABLE:
                raise
            if self.folder not in _said_unwritable:
                _said_unwritable.add(self.folder)
                log.warning(
                    "sceneweb inference: cannot keep converted networks in %s (%s): they are converted in memory "
                    "at every start; set SCENEWEB_INFERENCE_CACHE_DIR to a writable folder and run "
                    "`python manage.py fetch_models` to convert them once",
                    self.folder,
                    exc.strerror,
                )
        return network


def _save_with_checksums(network, folder: Path, save: Callable) -> None:
    save(network, folder)
    files = sorted(p for p in folder.iterdir() if p.is_file())
    (folder / CHECKSUMS).write_text(json.dumps({p.name: sha256_of(p) for p in files}, indent=1))


def intact(entry: Path) -> bool:
    """Every file the entry recorded is there with the bytes it recorded."""
    try:
        recorded = json.loads((entry / CHECKSUMS).read_text())
        return bool(recorded) and all(sha256_of(entry / name) == digest for name, digest in recorded.items())
    except (OSError, ValueError, AttributeError):
        return False


IN_MEMORY = ConvertedCache(None)
"""Converts at every call: for networks built outside the service (benches, tests)."""
