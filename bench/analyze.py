"""Speed of one full analysis (bytes in, Analysis with heatmap PNG out), per inference mode,
against the naive pipeline and the machine's own compute bound, all measured in one run.

- compute bound: (3.6 + 8.6) GFLOP (ResNet-18 + DenseNet-201 at 224 px) divided by the
  GFLOP/s of a large fp32 matrix multiply on this machine (torch.mm 2048^3, measured here);
- baseline: what a first version would do: PIL decode at full size, torchvision transforms run
  separately for each network, eval mode under no_grad, a forward hook for the CAM, the overlay
  saved with Pillow's default PNG settings, nothing else;
- modes: the engine's `SceneAnalyzer` with each inference mode (and the two networks side by
  side), and with the two int8 paths the service does not run (bench/candidates.py: OpenVINO
  quantised by NNCF, PyTorch's PT2E through torch.export), their networks swapped into a
  "fused" analyzer; every mode and the baseline are timed in turn inside the same round, so
  load from other processes falls on all of them alike. Medians after warm-up;
- the networks alone: ResNet-18 and WideResNet-18, batch 1, under every candidate of
  bench/candidates.py, timed in turn inside each round (`--network-rounds 0` leaves it out,
  `--rounds 0` leaves out the whole analyses).

int8 is calibrated on the last photo of each scene15 class (bench/fidelity.py and
bench/trained_fidelity.py score others). Random weights (speed does not depend on their
values), the photos of ../shared/samples/ and one 4032x3024 photo made from them (a
phone-sized JPEG, where reduced-size decoding matters).

    nice -n 19 .venv/bin/python bench/analyze.py [--rounds 20] [--batch 8] [--network-rounds 15] [--json out.json]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from tqdm import tqdm  # noqa: E402

from bench import candidates  # noqa: E402
from classifier.engine import acceleration, cam  # noqa: E402
from classifier.engine.analyzer import SceneAnalyzer  # noqa: E402
from classifier.engine.catalogue import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402
from classifier.engine.imaging import decode_image  # noqa: E402
from classifier.engine.places import build_scene_net, scene_model_spec  # noqa: E402
from classifier.testing.checkpoints import write_models_dir  # noqa: E402
from classifier.testing.paths import SHARED  # noqa: E402

GFLOP = {"resnet18": 3.6, "densenet201": 8.6}


# -- setting up -----------------------------------------------------------------------------


def photos() -> dict[str, bytes]:
    found = {p.name: p.read_bytes() for p in sorted((SHARED / "samples").glob("*.jpg"))}
    if not found:
        raise SystemExit(f"No photos in {SHARED / 'samples'}: the benchmark reads real photos from ../shared/.")
    first = Image.open(io.BytesIO(next(iter(found.values())))).convert("RGB")
    buffer = io.BytesIO()
    first.resize((4032, 3024), Image.Resampling.BICUBIC).save(buffer, format="JPEG", quality=90)
    found["phone_4032x3024.jpg"] = buffer.getvalue()
    return found


def matmul_gflops(threads: int, size: int = 2048, repeats: int = 9) -> float:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        torch.mm(a, b)
        times.append(time.perf_counter() - started)
    torch.set_num_threads(previous)
    return 2 * size**3 / statistics.median(times) / 1e9


def resident_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def load_average() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


# -- the naive pipeline ---------------------------------------------------------------------


class Baseline:
    """The pipeline before any optimisation, on the same weights as the engine."""

    def __init__(self, reference: SceneAnalyzer):
        from torchvision import transforms

        self.resnet = reference.scene_net.net.eval()
        self.attributes = reference.attribute_model  # eager: the DenseNet-201 head or WideResNet-18 + matrix
        self.transform = transforms.Compose(
            [transforms.Resize((224, 224)), transforms.ToTensor(), transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
        )

    def analyze(self, data: bytes) -> dict[str, float]:
        timings, features = {}, {}
        clock = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[name] = (now - clock) * 1000
            clock = now

        image = Image.open(io.BytesIO(data)).convert("RGB")
        lap("decode")
        scene_input = self.transform(image).unsqueeze(0)
        attribute_input = self.transform(image).unsqueeze(0)
        lap("preprocess")
        hook = self.resnet.layer4.register_forward_hook(lambda m, i, o: features.update(map=o))
        with torch.no_grad():
            probabilities = torch.softmax(self.resnet(scene_input)[0], 0)
            hook.remove()
            lap("resnet18")
            self.attributes.scores(attribute_input)
            lap(self.attributes.name)
        top = probabilities.topk(5).indices.tolist()
        grids = [cam.class_activation_map(features["map"][0], self.resnet.fc.weight[i]) for i in top]
        lap("cam")
        buffer = io.BytesIO()
        cam.render_overlay(image, grids[0], max_side=512).save(buffer, format="PNG")  # Pillow's defaults
        base64.b64encode(buffer.getvalue())
        lap("png")
        timings["total"] = sum(timings.values())
        return timings


# -- the modes ------------------------------------------------------------------------------


def calibration_photos() -> tuple[Path, ...]:
    """int8 calibration: the last photo of each scene15 class (bench/fidelity.py scores the first ones)."""
    classes = sorted((SHARED / "datasets" / "scene15" / "train").glob("*"))
    return tuple(sorted(c.glob("*.jpg"))[-1] for c in classes if any(c.glob("*.jpg")))


def mode_settings(onnx: bool, openvino: bool) -> dict[str, acceleration.InferenceSettings]:
    modes = {
        "eager": acceleration.InferenceSettings(mode="eager"),
        "fused": acceleration.InferenceSettings(mode="fused"),
        "fused, parallel": acceleration.InferenceSettings(mode="fused", parallel=True),
        "bf16": acceleration.InferenceSettings(mode="bf16"),
        "bf16, parallel": acceleration.InferenceSettings(mode="bf16", parallel=True),
    }
    if onnx:
        modes["onnx"] = acceleration.InferenceSettings(mode="onnx")
        modes["onnx, parallel"] = acceleration.InferenceSettings(mode="onnx", parallel=True)
        calibration = calibration_photos()
        modes["onnx-int8"] = acceleration.InferenceSettings(mode="onnx-int8", calibration=calibration)
        modes["onnx-int8, parallel"] = acceleration.InferenceSettings(
            mode="onnx-int8", parallel=True, calibration=calibration
        )
    if openvino:
        modes["openvino"] = acceleration.InferenceSettings(mode="openvino")
        modes["openvino-bf16"] = acceleration.InferenceSettings(mode="openvino-bf16")
    return modes


def analyzers(models: Path, onnx: bool, int8: list[str]) -> dict[str, Callable[[], SceneAnalyzer]]:
    """How to build each compared analyzer: the engine's modes, then the int8 candidates."""
    made = {
        name: (lambda s=settings: SceneAnalyzer.from_models_dir(models, inference=s))
        for name, settings in mode_settings(onnx, "openvino" in candidates.installed(["openvino"])).items()
    }
    calibration = acceleration.calibration_batches(calibration_photos(), 224, IMAGENET_MEAN, IMAGENET_STD)
    for name in int8:
        made[name] = lambda n=name: candidates.with_int8_networks(
            SceneAnalyzer.from_models_dir(models, inference=acceleration.InferenceSettings(mode="fused")),
            n,
            calibration,
        )
    return made


def build(make: Callable[[], SceneAnalyzer], photo: bytes) -> tuple[SceneAnalyzer, dict]:
    """The analyzer, with its start-up cost (built and first request answered) and memory."""
    rss = resident_mb()
    started = time.perf_counter()
    analyzer = make()
    loaded = time.perf_counter()
    analyzer.analyze(decode_image(photo))
    return analyzer, {
        "load_s": round(loaded - started, 2),
        "first_request_s": round(time.perf_counter() - loaded, 2),
        "rss_growth_mb": round(resident_mb() - rss, 1),
    }


def engine_analysis(analyzer: SceneAnalyzer, data: bytes) -> dict[str, float]:
    started = time.perf_counter()
    analysis = analyzer.analyze(decode_image(data))
    timings = dict(analysis.timings_ms)
    timings["total"] = (time.perf_counter() - started) * 1000  # bytes in, Analysis with PNG out
    return timings


def batch_rate(analyzer: SceneAnalyzer, batch: torch.Tensor, repeats: int) -> float:
    """Images per second through both networks for a batch (the networks alone)."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        with torch.inference_mode():
            analyzer.scene_net(batch)
            analyzer.attribute_model.scores(batch)
        times.append(time.perf_counter() - started)
    return len(batch) / statistics.median(times)


# -- the run --------------------------------------------------------------------------------


def networks_alone(rounds: int, threads: int, names: list[str]) -> dict[str, dict[str, float]]:
    """Batch-1 milliseconds of ResNet-18 and WideResNet-18 under each candidate (medians)."""
    calibration = acceleration.calibration_batches(calibration_photos(), 224, IMAGENET_MEAN, IMAGENET_STD)
    batch = torch.randn(1, 3, 224, 224)
    table = {}
    for name in ("resnet18", "wideresnet18"):
        net = build_scene_net(scene_model_spec(name))
        networks = {c: candidates.scene_network(c, net, 224, threads, calibration) for c in tqdm(names, desc=name)}
        times = {label: [] for label in networks}
        with torch.inference_mode():
            for round_index in range(rounds + 2):
                for label, network in networks.items():
                    started = time.perf_counter()
                    network(batch)
                    if round_index >= 2:
                        times[label].append((time.perf_counter() - started) * 1000)
        table[name] = {label: round(statistics.median(t), 2) for label, t in times.items()}
    return table


def run(rounds: int, batch_size: int, onnx: bool, network_rounds: int = 0) -> dict:
    torch.set_num_threads(acceleration.InferenceSettings().threads_per_network)
    report = {"machine": machine(), "load_before": load_average(), "torch": torch.__version__}
    report["gflops"] = round(statistics.median(matmul_gflops(torch.get_num_threads()) for _ in range(3)), 1)
    report["bound_ms"] = round(sum(GFLOP.values()) / report["gflops"] * 1000, 1)
    if rounds:
        report.update(whole_analyses(rounds, batch_size, onnx))
    if network_rounds:
        names = [c for c in candidates.installed(candidates.CANDIDATES) if onnx or not c.startswith("onnx")]
        report["networks"] = networks_alone(network_rounds, torch.get_num_threads(), names)
        report["network_rounds"] = network_rounds
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    report["load_after"] = load_average()
    report["rounds"] = rounds
    return report


def whole_analyses(rounds: int, batch_size: int, onnx: bool) -> dict:
    images = photos()
    with tempfile.TemporaryDirectory() as folder:
        models = write_models_dir(Path(folder))
        first = next(iter(images.values()))
        built, startup = {}, {}
        int8 = candidates.installed(candidates.INT8_ONLY_HERE)
        for name, make in tqdm(analyzers(models, onnx, int8).items(), desc="building modes"):
            built[name], startup[name] = build(make, first)
        pipelines = {"baseline": Baseline(built["eager"]).analyze}
        pipelines.update({name: (lambda data, a=a: engine_analysis(a, data)) for name, a in built.items()})
        samples: dict[str, dict[str, list[dict]]] = {name: {photo: [] for photo in images} for name in pipelines}
        for round_index in tqdm(range(rounds + 1), desc="rounds"):
            for photo, data in images.items():
                for name, pipeline in pipelines.items():
                    timings = pipeline(data)
                    if round_index:  # round 0 warms up
                        samples[name][photo].append(timings)
        batch = torch.randn(batch_size, 3, 224, 224)
        rates = {name: round(batch_rate(a, batch, max(3, rounds // 4)), 2) for name, a in built.items()}
    return {
        "modes": {name: summary(per_photo) for name, per_photo in samples.items()},
        "startup": startup,
        "batch": {"size": batch_size, "images_per_s": rates},
    }


def summary(per_photo: dict[str, list[dict]]) -> dict:
    """Median of every stage, per photo and over all photos."""

    def medians(runs: list[dict]) -> dict:
        return {stage: round(statistics.median(r.get(stage, 0.0) for r in runs), 1) for stage in runs[0]}

    every = [r for runs in per_photo.values() for r in runs]
    return {"all": medians(every), **{photo: medians(runs) for photo, runs in per_photo.items()}}


def machine() -> str:
    info = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), "?")
    flags = next((line.split(":", 1)[1].split() for line in info if line.startswith("flags")), [])
    simd = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "amx_tile") if f in flags]
    return f"{model}, {os.cpu_count()} cores, {'+'.join(simd)}"


# -- the report -----------------------------------------------------------------------------

STAGES = ("decode", "preprocess", "resnet18", "densenet201", "cam", "png", "total")


def markdown(report: dict) -> str:
    lines = [
        f"Machine: {report['machine']}; torch {report['torch']}; fp32 matmul {report['gflops']} GFLOP/s "
        f"-> compute bound {report['bound_ms']} ms per analysis; {report['rounds']} rounds after warm-up.",
        f"Load: before `{report['load_before']}`; after `{report['load_after']}`.",
    ]
    if "modes" in report:
        lines += analyses_table(report)
    if "networks" in report:
        nets = report["networks"]
        lines += [
            "",
            f"The networks alone, batch 1 ({report['network_rounds']} rounds, medians):",
            "",
            "| runtime and precision | ResNet-18 ms | x vs fused | WideResNet-18 ms | x vs fused |",
            "| --- | --- | --- | --- | --- |",
        ]
        for label in nets["resnet18"]:
            cells = [f"{nets[n][label]:.1f} | {nets[n]['fused'] / nets[n][label]:.2f}x" for n in nets]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def analyses_table(report: dict) -> list[str]:
    bound = report["bound_ms"]
    baseline = report["modes"]["baseline"]["all"]["total"]
    lines = [
        "",
        "| mode | " + " | ".join(STAGES) + " ms | x bound | vs baseline | batch img/s | start-up s | RSS +MB |",
        "| --- " * (len(STAGES) + 6) + "|",
    ]
    for name, result in report["modes"].items():
        row = result["all"]
        start = report["startup"].get(name, {})
        cells = [f"{row.get(s, 0.0):.1f}" for s in STAGES]
        lines.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {row['total'] / bound:.2f} | {baseline / row['total']:.2f}x"
            + f" | {report['batch']['images_per_s'].get(name, '-')}"
            + f" | {start.get('load_s', 0) + start.get('first_request_s', 0):.1f} | {start.get('rss_growth_mb', '-')} |"
        )
    lines += ["", "Per photo, total ms (median):", "", "| mode | " + " | ".join(report["modes"]["baseline"]) + " |"]
    lines.append("| --- " * (len(report["modes"]["baseline"]) + 1) + "|")
    for name, result in report["modes"].items():
        lines.append(f"| {name} | " + " | ".join(f"{v['total']:.1f}" for v in result.values()) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20, help="rounds of whole analyses (0: the networks alone only)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--no-onnx", action="store_true", help="skip the onnx modes")
    parser.add_argument(
        "--network-rounds", type=int, default=15, help="rounds of the networks-alone table (0: leave it out)"
    )
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args()
    onnx = not args.no_onnx and _has_onnxruntime()
    report = run(args.rounds, args.batch, onnx, args.network_rounds)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    print(markdown(report))


def _has_onnxruntime() -> bool:
    return bool(candidates.installed(["onnx"]))


if __name__ == "__main__":
    main()
