"""Which inference mode runs when SCENEWEB_INFERENCE_MODE is `auto`: read from the CPU's flags.

Kept apart from the modes themselves because the decision is a small pure function of a flag
set (tested with made-up CPUs) plus one place that reads the real flags and logs the outcome.
A mode is a candidate only if it met the fidelity bar on trained networks (bench/fidelity.py,
docs/benchmarks.md); a CPU without the instructions a candidate needs gets fp32 ("fused").
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import torch

from classifier.engine.acceleration._openvino import OPENVINO_MISSING, openvino_installed

log = logging.getLogger("sceneweb")

NATIVE_FLAGS: dict[str, tuple[str, ...]] = {
    "openvino-bf16": ("amx_bf16", "avx512_bf16"),
    "bf16": ("amx_bf16", "avx512_bf16"),
    "onnx-int8": ("amx_int8", "avx512_vnni"),
}
"""The CPU flags (any one suffices) under which a reduced-precision mode runs natively; without
them oneDNN emulates bf16 in fp32 (slower than fp32) and int8 loses its 4x dot products."""

PASSES_FIDELITY = ("openvino-bf16",)
"""Modes that met every bar of bench/trained_fidelity.py on both trained networks (ResNet-18 and
WideResNet-18), fastest first. PyTorch's bf16 met it on ResNet-18 only (99.22% top-1 agreement
on WideResNet-18 against the 99.5% bar) and every int8 path (ONNX Runtime, OpenVINO/NNCF,
PT2E) missed it on both: docs/benchmarks.md, "Fidelity on a trained network"."""

FALLBACK = "fused"


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The flags of the first CPU listed; none where the file is absent (not Linux)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    line = next((line for line in text.splitlines() if line.startswith("flags")), "")
    return frozenset(line.partition(":")[2].split())


def choose_mode(flags: frozenset[str], candidates: tuple[str, ...] = PASSES_FIDELITY) -> tuple[str, str]:
    """(mode, why): the first candidate this CPU runs natively, else fp32, saying what was missing."""
    for mode in candidates:
        found = _native_flags(mode, flags)
        if found:
            return mode, f"this CPU has {found[0]} and {mode} passes the fidelity bar"
    not_installed = [mode for mode in PASSES_FIDELITY if mode not in candidates and _native_flags(mode, flags)]
    if not_installed:
        return FALLBACK, f"this CPU runs {not_installed[0]} natively but it is not installed ({OPENVINO_MISSING}): fp32"
    wanted = sorted({flag for mode in PASSES_FIDELITY for flag in NATIVE_FLAGS.get(mode, ())})
    return FALLBACK, f"this CPU has none of {', '.join(wanted)}: fp32"


def _native_flags(mode: str, flags: frozenset[str]) -> list[str]:
    return [flag for flag in NATIVE_FLAGS.get(mode, ()) if flag in flags]


def installed_candidates() -> tuple[str, ...]:
    """The candidates whose runtime is installed here (openvino is an optional package)."""
    return tuple(m for m in PASSES_FIDELITY if not m.startswith("openvino") or openvino_installed())


def choose_device(requested: str) -> str:
    """ "cpu" or "cuda": `auto` takes the GPU when PyTorch sees one."""
    if requested not in ("auto", "cpu", "cuda"):
        raise ValueError(f"Unknown device {requested!r}; choose one of: auto, cpu, cuda")
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("SCENEWEB_DEVICE=cuda but PyTorch sees no CUDA GPU; choose cpu or auto")
    return requested


def resolved(settings, flags: frozenset[str] | None = None):
    """The settings with a concrete mode and device, logging once which mode runs and why."""
    device = choose_device(settings.device)
    if settings.mode != "auto":
        mode, why = settings.mode, "chosen by SCENEWEB_INFERENCE_MODE"
    elif device == "cuda":
        mode, why = "bf16" if torch.cuda.is_bf16_supported() else "fp16", "the networks run on the GPU"
    else:
        mode, why = choose_mode(cpu_flags() if flags is None else flags, installed_candidates())
    log.info("sceneweb inference: mode %s on %s (%s)", mode, device, why)
    return dataclasses.replace(settings, mode=mode, device=device)
