"""Where a training run computes: the device it asks for, and how many CPU threads it may use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


def pick_device(name: str) -> torch.device:
    """`auto` is the GPU when PyTorch sees one, else the CPU; asking for a GPU that is absent is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(f"unknown device {name!r}; use auto, cpu or cuda") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no GPU is available to PyTorch")
    return device


@contextmanager
def cpu_threads(count: int | None) -> Iterator[None]:
    """PyTorch's intra-op threads for one run, restored afterwards. On a CPU shared with other
    work, fewer threads than cores avoids OpenMP threads spinning while they wait for a core."""
    previous = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
