"""`auto` picks a mode from the CPU's flags, only among modes that met the fidelity bar."""

import pytest
import torch

from classifier.engine import acceleration
from classifier.engine.acceleration import InferenceSettings, choose_mode

ZEN4 = frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16"})  # c7a / m7a
SAPPHIRE_RAPIDS = frozenset({"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile"})
CASCADE_LAKE = frozenset({"avx2", "avx512f", "avx512_vnni"})  # c5: int8 dot products, no bf16
HASWELL = frozenset({"avx2", "fma"})


@pytest.mark.parametrize("flags", [ZEN4, SAPPHIRE_RAPIDS])
def test_a_cpu_with_bf16_instructions_gets_bf16_openvino_first_where_it_is_installed(flags):
    assert choose_mode(flags)[0] == "openvino-bf16"
    assert choose_mode(flags, candidates=("bf16",))[0] == "bf16"  # a mode named a candidate by a bench run


def test_openvino_is_a_candidate_only_where_it_is_installed(monkeypatch):
    from classifier.engine.acceleration import _choice

    monkeypatch.setattr(_choice, "openvino_installed", lambda: False)
    assert _choice.installed_candidates() == ()
    monkeypatch.setattr(_choice, "openvino_installed", lambda: True)
    assert _choice.installed_candidates() == ("openvino-bf16",)


def test_a_bf16_cpu_without_openvino_gets_fp32_and_is_told_what_to_install(monkeypatch):
    """PyTorch's bf16 missed the fidelity bar on WideResNet-18, so it is never the default."""
    from classifier.engine.acceleration import _choice

    monkeypatch.setattr(_choice, "openvino_installed", lambda: False)
    lines = []
    monkeypatch.setattr(_choice.log, "info", lambda message, *args: lines.append(message % args))
    assert acceleration.resolved(InferenceSettings(mode="auto", device="cpu"), flags=ZEN4).mode == "fused"
    assert "runs openvino-bf16 natively but it is not installed" in lines[0]
    assert "pip install openvino==" in lines[0]


@pytest.mark.parametrize("flags", [CASCADE_LAKE, HASWELL, frozenset()])
def test_a_cpu_without_the_flags_gets_fp32(flags):
    mode, why = choose_mode(flags)
    assert mode == "fused"
    assert "avx512_bf16" in why and "fp32" in why


def test_int8_is_chosen_only_when_it_is_a_candidate():
    assert choose_mode(CASCADE_LAKE, candidates=("bf16", "onnx-int8"))[0] == "onnx-int8"
    assert choose_mode(SAPPHIRE_RAPIDS, candidates=("onnx-int8",))[0] == "onnx-int8"
    assert choose_mode(CASCADE_LAKE)[0] == "fused"  # today's candidates: int8 missed the fidelity bar


def test_the_flags_are_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert acceleration.cpu_flags(cpuinfo) == {"fpu", "avx2", "avx512_bf16"}
    assert acceleration.cpu_flags(tmp_path / "absent") == frozenset()


def test_auto_resolves_to_a_concrete_mode_and_says_why_in_one_line(monkeypatch):
    from classifier.engine.acceleration import _choice

    lines = []
    monkeypatch.setattr(_choice.log, "info", lambda message, *args: lines.append(message % args))
    chosen = acceleration.resolved(InferenceSettings(mode="auto", device="cpu"), flags=HASWELL)
    assert (chosen.mode, chosen.device) == ("fused", "cpu")
    assert lines == ["sceneweb inference: mode fused on cpu (this CPU has none of amx_bf16, avx512_bf16: fp32)"]
    assert acceleration.resolved(InferenceSettings(mode="auto"), flags=ZEN4).mode.endswith("bf16")


def test_a_mode_chosen_by_name_is_kept_whatever_the_cpu():
    assert acceleration.resolved(InferenceSettings(mode="eager"), flags=ZEN4).mode == "eager"
    assert acceleration.resolved(InferenceSettings(mode="bf16"), flags=HASWELL).mode == "bf16"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_without_a_gpu_auto_runs_on_the_cpu_and_cuda_is_refused():
    assert acceleration.choose_device("auto") == "cpu"
    with pytest.raises(ValueError, match="sees no CUDA GPU"):
        acceleration.choose_device("cuda")
    with pytest.raises(ValueError, match="Unknown device 'tpu'"):
        acceleration.choose_device("tpu")


def test_fp16_is_refused_on_the_cpu_and_onnx_on_the_gpu():
    with pytest.raises(ValueError, match="'fp16' is for GPUs"):
        InferenceSettings(mode="fp16")
    with pytest.raises(ValueError, match="'onnx' runs on the CPU only"):
        InferenceSettings(mode="onnx", device="cuda")
