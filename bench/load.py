"""Load test of the production server: gunicorn with sceneweb/gunicorn.py on 127.0.0.1, random-weight
checkpoints (speed and memory do not depend on the weight values), the real label files and
photos from ../shared/. For docs/benchmarks.md, "Load test".

At each concurrency level it sends a fixed number of `POST /api/analyze` requests (multipart
photo, heatmap on, as the page asks) and reports throughput, latency percentiles, errors and
worker restarts (worker PIDs before and after). Memory per process (RSS, and PSS, which splits
each shared page among the processes sharing it) shows what the workers share with the master.
Bounded: a request count per level, a time limit per level and per request; it stops by itself.
The rate limit is turned off for the run (one client address sends everything).

With `--drip N`, N more clients keep asking the server to analyse image URLs on a local host that
sends one byte every quarter second and never finishes (each such request ends at the fetch
deadline, `--fetch-timeout`): what ordinary uploads get while slow fetches hold request threads.

With `--modes fused,auto` one server per inference mode (same config) is started, and the modes
take each level in turn; the report ends with each mode's throughput against the first's.

    .venv/bin/python bench/load.py [--levels 1,2,4,8] [--requests 300] [--no-attributes | --fresh-install]
        [--modes fused,auto] [--workers N] [--threads N] [--level-seconds 600] [--drip N] [--fetch-timeout S]
        [--out results.md]
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import re
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import requests
import torch
from tqdm import tqdm

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.http_analysis import fresh_install  # noqa: E402
from classifier.testing.checkpoints import write_models_dir  # noqa: E402
from classifier.testing.paths import SHARED  # noqa: E402
from classifier.testing.servers import Gunicorn, drip_server, memory_kb, running_gunicorn  # noqa: E402

MB = 1024  # smaps figures are in kB


@dataclass
class LevelResult:
    concurrency: int
    sent: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    restarts: int = 0
    drips: dict[str, int] = field(default_factory=dict)  # answers to the slow-drip URL requests, by outcome

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else float("nan")

    @property
    def throughput(self) -> float:
        """Answered analyses per second."""
        return len(self.latencies_ms) / self.seconds

    def row(self) -> str:
        errors = sum(self.errors.values())
        detail = f" ({', '.join(f'{k}: {v}' for k, v in sorted(self.errors.items()))})" if errors else ""
        drips = ", ".join(f"{k}: {v}" for k, v in sorted(self.drips.items())) or "-"
        return (
            f"| {self.concurrency} | {self.sent} | {self.throughput:.2f} | {self.percentile(50):.0f} | "
            f"{self.percentile(95):.0f} | {self.percentile(99):.0f} | {errors}{detail} | {self.restarts} | {drips} |"
        )


def outcome_of(answer: requests.Response) -> str:
    try:
        return f"{answer.status_code} {answer.json().get('code', 'ok')}"
    except ValueError:
        return f"{answer.status_code}"


def keep_dripping(server: Gunicorn, url: str, result: LevelResult, stop: threading.Event, lock: threading.Lock) -> None:
    """One client asking, again and again, for the analysis of an image URL that never arrives."""
    while not stop.is_set():
        try:
            outcome = outcome_of(requests.post(f"{server.url}/api/analyze", json={"url": url}, timeout=120))
        except requests.RequestException as exc:
            outcome = type(exc).__name__
        with lock:
            result.drips[outcome] = result.drips.get(outcome, 0) + 1


def run_level(
    server: Gunicorn, photos: list[bytes], concurrency: int, count: int, limit_s: float, drip_url: str, drips: int
) -> LevelResult:
    result = LevelResult(concurrency)
    local = threading.local()
    deadline = time.monotonic() + limit_s
    lock = threading.Lock()

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()  # one kept-alive connection per client thread
        return local.session

    def one(photo: bytes) -> None:
        if time.monotonic() > deadline:
            return
        started = time.perf_counter()
        try:
            answer = session().post(
                f"{server.url}/api/analyze", files={"image": ("photo.jpg", photo, "image/jpeg")}, timeout=120
            )
            outcome = (
                "ok" if answer.status_code == 200 and answer.json().get("scenes") else f"HTTP {answer.status_code}"
            )
        except requests.RequestException as exc:
            outcome = type(exc).__name__
        elapsed = (time.perf_counter() - started) * 1000
        with lock:
            result.sent += 1
            if outcome == "ok":
                result.latencies_ms.append(elapsed)
            else:
                result.errors[outcome] = result.errors.get(outcome, 0) + 1

    before = server.worker_pids()
    stop = threading.Event()
    dripping = [
        threading.Thread(target=keep_dripping, args=(server, drip_url, result, stop, lock), daemon=True)
        for _ in range(drips)
    ]
    for thread in dripping:
        thread.start()
    time.sleep(1 if dripping else 0)  # the slow fetches are in flight before the level starts
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        futures = [pool.submit(one, photo) for photo in itertools.islice(itertools.cycle(photos), count)]
        for future in tqdm(as_completed(futures), total=count, desc=f"concurrency {concurrency}", unit="req"):
            future.result()
    result.seconds = time.perf_counter() - started
    stop.set()
    for thread in dripping:
        thread.join(timeout=150)
    result.restarts = len(before - server.worker_pids())
    return result


def memory_table(server: Gunicorn) -> list[str]:
    """Per process: RSS, PSS, pages still shared with the master since the fork, and private pages
    (what one more worker costs). The master's anonymous memory is what every worker would hold
    on its own without preload."""
    processes = [("master", server.process.pid)] + [
        (f"worker {i}", pid) for i, pid in enumerate(sorted(server.worker_pids()), 1)
    ]
    lines = [
        "| process | RSS MB | PSS MB | shared copy-on-write MB | private MB |",
        "| --- | --- | --- | --- | --- |",
    ]
    rss = pss = 0
    for name, pid in processes:
        m = memory_kb(pid)
        rss, pss = rss + m["Rss"], pss + m["Pss"]
        private = m["Private_Clean"] + m["Private_Dirty"]
        figures = (m["Rss"], m["Pss"], m["Shared_Dirty"], private)
        lines.append(f"| {name} | " + " | ".join(f"{kb / MB:.0f}" for kb in figures) + " |")
    lines.append(f"| all | {rss / MB:.0f} | **{pss / MB:.0f}** (the real total) | | |")
    master = memory_kb(server.process.pid)["Anonymous"] / MB
    lines += ["", f"The master's anonymous memory (models loaded, warmed up): {master:.0f} MB."]
    return lines


def mode_setting(mode: str) -> dict[str, str]:
    return {"SCENEWEB_INFERENCE_MODE": mode} if mode else {}


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    memory_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{model}, {len(os.sched_getaffinity(0))} cores, {memory_gb:.0f} GB RAM; Python {platform.python_version()}, "
        f"torch {torch.__version__}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="1,2,4,8", help="concurrency levels, comma-separated")
    parser.add_argument("--requests", type=int, default=300, help="requests at the highest level (fewer below)")
    parser.add_argument("--workers", type=int, help="SCENEWEB_WORKERS (default: the config's, one per core)")
    parser.add_argument("--threads", type=int, help="SCENEWEB_THREADS (default: the config's)")
    parser.add_argument("--no-attributes", action="store_true", help="serve without the DenseNet-201 attribute head")
    parser.add_argument("--level-seconds", type=float, default=600, help="stop sending at a level after this long")
    parser.add_argument("--drip", type=int, default=0, help="clients keeping slow-drip image URLs in flight")
    parser.add_argument("--fetch-timeout", type=float, default=15, help="SCENEWEB_FETCH_TIMEOUT for the run")
    parser.add_argument(
        "--modes",
        default="",
        help="SCENEWEB_INFERENCE_MODE of each server, comma-separated (fused,auto): one server per mode, same "
        "config, all up at once and taking each level in turn; default: one server in its default mode",
    )
    parser.add_argument(
        "--fresh-install",
        action="store_true",
        help="serve what fetch_models installs (ResNet-18, WideResNet-18 + CSAIL's attribute matrix), not DenseNet-201",
    )
    parser.add_argument("--out", type=Path, help="also write the markdown here")
    args = parser.parse_args()
    modes = args.modes.split(",") if args.modes else [""]

    levels = [int(level) for level in args.levels.split(",")]
    photos = [p.read_bytes() for p in sorted((SHARED / "samples").glob("*.jpg"))]
    if not photos:
        sys.exit(f"No photos in {SHARED / 'samples'}; the load test sends real photos from ../shared/samples/.")
    settings = {"workers": args.workers, "threads": args.threads}
    settings = {k: v for k, v in settings.items() if v is not None}
    settings |= {"SCENEWEB_FETCH_TIMEOUT": str(args.fetch_timeout)}
    if args.drip:
        settings |= {"SCENEWEB_ALLOW_PRIVATE_URLS": "1"}  # the drip host is on 127.0.0.1

    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="sceneweb-load-") as folder:
        if args.fresh_install:
            models, served = fresh_install(Path(folder)), "ResNet-18 + WideResNet-18 attribute matrix, as fetch_models"
        else:
            models = write_models_dir(Path(folder), attributes=not args.no_attributes)
            served = "ResNet-18 + DenseNet-201 attributes" if not args.no_attributes else "ResNet-18 only"
        weights_mb = sum(f.stat().st_size for f in models.iterdir()) / 2**20
        with drip_server() as drip, ExitStack() as servers_up:
            servers = {
                mode: servers_up.enter_context(running_gunicorn(models, **settings, **mode_setting(mode)))
                for mode in modes
            }
            idle_memory = {mode: memory_table(server) for mode, server in servers.items()}
            results: dict[str, list[LevelResult]] = {mode: [] for mode in modes}
            for level in levels:  # the modes take each level in turn: the machine's other load falls on all alike
                count = max(level * 4, args.requests * level // max(levels))
                for mode, server in servers.items():
                    results[mode].append(
                        run_level(server, photos, level, count, args.level_seconds, drip.url, args.drip)
                    )
            loaded_memory = {mode: memory_table(server) for mode, server in servers.items()}
            logs = {mode: server.log for mode, server in servers.items()}
    load_after = load_average()

    lines = [
        f"Machine: {machine()}.",
        f"Load average (1, 5, 15 min) before: {load_before}; after: {load_after}.",
        f"Model files {weights_mb:.0f} MB ({served}); preload on.",
        f"{len(photos)} real photos from ../shared/samples/, cycled; heatmap on; rate limit off; "
        f"{args.drip} slow-drip URL requests in flight (fetch deadline {args.fetch_timeout:g} s).",
    ]
    for mode in modes:
        config = re.search(r"sceneweb: (\d+ workers .*)", logs[mode]).group(1)
        inference = re.search(r"sceneweb inference: (mode .*)", logs[mode])
        lines += [
            "",
            f"**{mode or 'the default mode'}** ({inference.group(1) if inference else 'mode not logged'}). "
            f"Server: {config}.",
            "",
            "| concurrency | requests | req/s | p50 ms | p95 ms | p99 ms | errors | worker restarts | drip answers |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
            *(r.row() for r in results[mode]),
            "",
            "Memory after start-up (warm, before any request):",
            "",
            *idle_memory[mode],
            "",
            "Memory after the load:",
            "",
            *loaded_memory[mode],
        ]
    if len(modes) > 1:
        lines += ["", f"Throughput against {modes[0]}, level by level:", ""]
        lines += ["| concurrency | " + " | ".join(f"{mode} req/s" for mode in modes[1:]) + " |"]
        lines += ["| --- |" + " --- |" * (len(modes) - 1)]
        for number, level in enumerate(levels):
            first = results[modes[0]][number]
            cells = (f"{results[mode][number].throughput / first.throughput:.2f}x" for mode in modes[1:])
            lines.append(f"| {level} | " + " | ".join(cells) + " |")
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.write_text(report + "\n")


if __name__ == "__main__":
    main()
