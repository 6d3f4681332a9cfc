"""End-to-end analysis of a fresh install over HTTP, per inference mode, against the fp32
compute bound and the naive pipeline, all measured in one run (docs/benchmarks.md, "Targets").

- the install: what `fetch_models` leaves (ResNet-18 scenes, WideResNet-18 + CSAIL's attribute
  matrix), random weights (speed does not depend on their values);
- the server: gunicorn with sceneweb/gunicorn.py, one worker, its default threads; sequential
  `POST /api/analyze` of a 960x720 JPEG, heatmap on, timed by the client (upload to JSON);
- the first ten requests of each fresh worker are kept apart (warm-up), then `--requests` more;
- the bound: the networks' FLOPs (counted with `torch.utils.flop_counter`) divided by the fp32
  matmul rate (torch.mm 2048^3, 2 threads) measured before and after the servers ran;
- the naive pipeline (bench/analyze.py `Baseline`) runs in this process, without HTTP, on the
  same weights: the ratio to it is therefore a lower bound.

With `--startup`, instead: start-up and memory (docs/benchmarks.md, "Start-up and memory per
worker"). gunicorn with 1 and 2 workers, each with a cold cache of converted networks (an empty
SCENEWEB_INFERENCE_CACHE_DIR: the master converts) and then a warm one (the master reads them
back): seconds from launch until every worker has logged that it is warm, and each worker's USS
(memory only it holds) and PSS (its share of what it shares with the master and the others),
from psutil's `memory_full_info`, once warm and again after the first ten requests.

    nice -n 10 .venv/bin/python bench/http_analysis.py [--modes fused,auto] [--requests 20] [--rounds 2]
    nice -n 10 .venv/bin/python bench/http_analysis.py --startup [--modes auto] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import io
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import psutil  # noqa: E402
import requests  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from bench.analyze import Baseline, load_average, machine, matmul_gflops  # noqa: E402
from classifier.engine import catalogue, installer  # noqa: E402
from classifier.engine.acceleration import InferenceSettings  # noqa: E402
from classifier.engine.analyzer import SceneAnalyzer  # noqa: E402
from classifier.testing.checkpoints import write_matrix_files, write_models_dir  # noqa: E402
from classifier.testing.paths import SHARED  # noqa: E402
from classifier.testing.servers import running_gunicorn  # noqa: E402

FIRST = 10
CHOSEN = re.compile(r"sceneweb inference: mode (\S+)")


def fresh_install(folder: Path) -> Path:
    models = write_models_dir(folder, attributes=False)
    write_matrix_files(folder / "release")
    for name in catalogue.ATTRIBUTE_MATRIX_ASSETS:
        installer.install_from_dir(name, models, folder / "release")
    return models


def photo() -> bytes:
    image = Image.open(sorted((SHARED / "samples").glob("*.jpg"))[0]).convert("RGB").resize((960, 720))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def network_gflop(analyzer: SceneAnalyzer) -> float:
    batch = torch.randn(1, 3, 224, 224)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        analyzer.scene_net(batch)
        analyzer.attribute_model.scores(batch)
    return counter.get_total_flops() / 1e9


def requests_ms(url: str, data: bytes, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        answer = requests.post(f"{url}/api/analyze", files={"image": ("photo.jpg", data, "image/jpeg")}, timeout=60)
        answer.raise_for_status()
        times.append((time.perf_counter() - started) * 1000)
    return times


def memory_mb(pid: int) -> tuple[float, float]:
    """(USS, PSS) of one process, in MiB."""
    info = psutil.Process(pid).memory_full_info()
    return info.uss / 2**20, info.pss / 2**20


def startup(models: Path, mode: str, workers: int, cache: Path, data: bytes) -> dict:
    """One server's start: seconds until every worker is warm, and each worker's memory then and after
    the first ten requests (spread over the workers by gunicorn, as they come)."""
    started = time.perf_counter()
    env = {"SCENEWEB_INFERENCE_MODE": mode, "SCENEWEB_INFERENCE_CACHE_DIR": str(cache)}
    with running_gunicorn(models, workers=workers, start_timeout=900, **env) as server:  # every worker warm
        ready_s = time.perf_counter() - started
        pids = sorted(server.worker_pids())
        warm = [memory_mb(pid) for pid in pids]
        requests_ms(server.url, data, FIRST)
        served = [memory_mb(pid) for pid in pids]
        master = memory_mb(server.process.pid)
        chosen = CHOSEN.findall(server.log)
    return {"ready_s": ready_s, "warm": warm, "served": served, "master": master, "chosen": chosen[-1]}


def startup_table(models: Path, modes: list[str], worker_counts: list[int], data: bytes) -> None:
    print("| mode | workers | cache | ready s | each worker USS / PSS MiB, warm | after 10 requests | master |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for mode in modes:
        for workers in worker_counts:
            with tempfile.TemporaryDirectory(prefix="sceneweb-converted-") as cache:
                for state in ("cold", "warm"):
                    run = startup(models, mode, workers, Path(cache), data)
                    each = ", ".join(f"{u:.0f} / {p:.0f}" for u, p in run["warm"])
                    after = ", ".join(f"{u:.0f} / {p:.0f}" for u, p in run["served"])
                    master = f"{run['master'][0]:.0f} / {run['master'][1]:.0f}"
                    label = mode if run["chosen"] == mode else f"{mode} ({run['chosen']})"
                    print(f"| {label} | {workers} | {state} | {run['ready_s']:.1f} | {each} | {after} | {master} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default="fused,auto", help="SCENEWEB_INFERENCE_MODE values, comma-separated")
    parser.add_argument("--requests", type=int, default=20, help="requests after the first ten, per server")
    parser.add_argument("--rounds", type=int, default=2, help="servers started per mode, in turn")
    parser.add_argument("--startup", action="store_true", help="measure start-up time and memory per worker instead")
    parser.add_argument("--workers", default="1,2", help="with --startup: worker counts, comma-separated")
    args = parser.parse_args()
    modes, data = args.modes.split(","), photo()
    if args.startup:
        print(f"Machine: {machine()}; load before `{load_average()}`.")
        with tempfile.TemporaryDirectory(prefix="sceneweb-http-") as folder:
            startup_table(fresh_install(Path(folder)), modes, [int(n) for n in args.workers.split(",")], data)
        print(f"Load after `{load_average()}`.")
        return
    load_before = load_average()
    rates = [matmul_gflops(2) for _ in range(3)]
    first = {m: [] for m in modes}
    steady = {m: [] for m in modes}
    naive = []
    with tempfile.TemporaryDirectory(prefix="sceneweb-http-") as folder:
        models = fresh_install(Path(folder))
        reference = SceneAnalyzer.from_models_dir(models, inference=InferenceSettings(mode="eager"))
        gflop = network_gflop(reference)
        baseline = Baseline(reference)
        for _ in range(3):
            baseline.analyze(data)
        for _ in range(args.rounds):
            naive += [baseline.analyze(data)["total"] for _ in range(args.requests)]
            for mode in modes:
                env = {"SCENEWEB_INFERENCE_MODE": mode, "SCENEWEB_RATE_LIMIT": "0"}
                with running_gunicorn(models, workers=1, start_timeout=600, **env) as server:
                    first[mode].append(requests_ms(server.url, data, FIRST))
                    steady[mode] += requests_ms(server.url, data, args.requests)
                    chosen = [line for line in server.log.splitlines() if "sceneweb inference:" in line]
                    print(mode, "->", chosen[-1] if chosen else "?", file=sys.stderr)
    rates += [matmul_gflops(2) for _ in range(3)]
    rate = statistics.median(rates)
    bound = gflop / rate * 1000
    naive_ms = statistics.median(naive)
    print(f"Machine: {machine()}; load before `{load_before}`, after `{load_average()}`.")
    print(
        f"Networks {gflop:.1f} GFLOP; fp32 matmul {rate:.0f} GFLOP/s (runs: {', '.join(f'{r:.0f}' for r in rates)}) "
        f"-> fp32 compute bound {bound:.0f} ms; naive pipeline (in-process) {naive_ms:.0f} ms."
    )
    print()
    print("| mode | median ms (after warm-up) | x fp32 bound | x faster than naive | first ten requests ms |")
    print("| --- | --- | --- | --- | --- |")
    for mode in modes:
        median = statistics.median(steady[mode])
        tens = " / ".join(", ".join(f"{t:.0f}" for t in run) for run in first[mode])
        print(f"| {mode} | {median:.0f} | {median / bound:.2f} | {naive_ms / median:.2f}x | {tens} |")


if __name__ == "__main__":
    main()
