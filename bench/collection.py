"""Photos per second over a collection: the engine called one photo at a time against
`manage.py analyze --out --workers 1` and `--workers 2`, with CPU utilisation and peak memory.

Each way runs in its own process on the same photos (real 100x100 JPEGs from
../shared/datasets/intel-scenes, round-robin over its classes) with the same random-weight
models (ResNet-18 alone by default, 3.6 GFLOP a photo; `--attributes` adds the DenseNet-201
head), asking for the same outputs (what a row holds). CPU time is the whole process tree's,
decoder children and start-up included (over wall time and cores); peak memory is the summed
PSS of the tree, sampled with psutil (the weights the forked workers share are counted once).
The rate counts from the first photo to the last (models loaded before); wall time is the
whole command's. The ways take turns for `--rounds` rounds (rates here vary by up to a third
between identical runs), and the table gives each way's median and range. The ways must agree:
every photo's top-5 labels are compared with the one-at-a-time loop's; the run stops if not.

    .venv/bin/python bench/collection.py [--photos 1000] [--side 4032] [--attributes] [--rounds 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from classifier.testing.checkpoints import write_models_dir  # noqa: E402
from classifier.testing.paths import SHARED  # noqa: E402

SAMPLE_S = 0.5


def collection(folder: Path, count: int, side: int | None = None) -> Path:
    """``count`` photos linked into ``folder`` (never copied into the repository); with ``side``,
    each re-encoded instead at that many pixels across (bicubic, JPEG quality 90), as a camera's
    photos of the same scenes would come: decoding then costs what it costs on real collections."""
    classes = sorted(p for p in (SHARED / "datasets" / "intel-scenes" / "train").iterdir() if p.is_dir())
    groups = [sorted(c.glob("*.jpg")) for c in classes]
    chosen = [photo for group in zip(*groups, strict=False) for photo in group][:count]
    if len(chosen) < count:
        raise SystemExit(f"Only {len(chosen)} photos found under {SHARED / 'datasets'}.")
    folder.mkdir()
    for index, photo in enumerate(chosen):
        target = folder / f"{index:05d}-{photo.parent.name}.jpg"
        if side is None:
            target.symlink_to(photo)
        else:
            with Image.open(photo) as image:
                scale = side / max(image.size)
                size = (round(image.width * scale), round(image.height * scale))
                image.convert("RGB").resize(size, Image.Resampling.BICUBIC).save(target, quality=90)
    return folder


def one_at_a_time(folder: Path, out: Path) -> None:
    """The loop a user writes first: read, decode, analyse, keep the labels; in this process."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sceneweb.settings")
    django.setup()
    from classifier.collection.rows import TABLE_OUTPUTS
    from classifier.engine.imaging import decode_image
    from classifier.runtime import get_analyzer, image_limits

    analyzer, limits = get_analyzer(), image_limits()
    labels, started = {}, time.perf_counter()
    for photo in sorted(folder.iterdir()):
        analysis = analyzer.analyze(decode_image(photo.read_bytes(), limits), outputs=TABLE_OUTPUTS)
        labels[os.path.abspath(photo)] = [s.label for s in analysis.scenes]
    seconds = time.perf_counter() - started
    out.write_text(json.dumps({"labels": labels, "photos_per_s": len(labels) / seconds}))


def monitored(command: list[str], env: dict) -> dict:
    """Run ``command``; CPU utilisation and peak PSS of its process tree.

    The command's CPU time is this process's RUSAGE_CHILDREN before and after: the command and
    every process it waited for (pool workers), each counted once. The decoder children are
    killed at exit, not waited for, so theirs is the last time sampled from each (every
    `SAMPLE_S`: the last moments of a child are missed). (Summing psutil's per-process times for
    everything counted a reaped worker twice: as itself and in its parent's children_user.)"""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    process = psutil.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    started, peak, decoders = time.perf_counter(), 0, {}
    while process.poll() is None:
        total = 0
        for member in [process, *process.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):  # a process that ended between listing and reading
                total += member.memory_full_info().pss
                if "decode_sandbox" in " ".join(member.cmdline()):
                    times = member.cpu_times()
                    decoders[member.pid] = times.user + times.system
        peak = max(peak, total)
        time.sleep(SAMPLE_S)
    wall = time.perf_counter() - started
    output = process.stdout.read()
    if process.returncode:
        raise SystemExit(f"{command} failed:\n{output}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    decoder_s = sum(decoders.values())
    return {
        "output": output,
        "cpu_s": cpu_s,
        "decoder_cpu_s": decoder_s,
        "cpu_pct": 100 * (cpu_s + decoder_s) / wall / psutil.cpu_count(),
        "wall_s": wall,
        "peak_mb": peak / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--side", type=int, help="re-encode each photo this many pixels across (e.g. 4032)")
    parser.add_argument("--attributes", action="store_true", help="with the DenseNet-201 attribute head")
    parser.add_argument("--rounds", type=int, default=3, help="times each way runs, taking turns")
    parser.add_argument("--loop-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loop_child:
        return one_at_a_time(Path(args.loop_child[0]), Path(args.loop_child[1]))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = collection(tmp / "photos", args.photos, args.side)
        env = {**os.environ, "SCENEWEB_MODELS_DIR": str(write_models_dir(tmp, attributes=args.attributes))}
        rounds = [one_round(folder, tmp, env) for _ in range(args.rounds)]
    size = f" re-encoded {args.side} px across" if args.side else " (100 x 100 as in the dataset)"
    print(f"{args.photos} photos{size}, {psutil.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end")
    print(f"{args.rounds} rounds, the three ways taking turns; median (lowest-highest) over the rounds")
    print("| way | photos/s | vs one at a time | CPU use | CPU ms per photo | of it, decoders | wall s | peak PSS MB |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for index, way in enumerate(rounds[0]):
        runs = [r[index] for r in rounds]
        speedups = [r[index]["photos_per_s"] / r[0]["photos_per_s"] for r in rounds]
        print(
            f"| {way['way']} | {spread([r['photos_per_s'] for r in runs], '.1f')} | {spread(speedups, '.2f', 'x')} | "
            f"{statistics.median(r['cpu_pct'] for r in runs):.0f}% | "
            f"{statistics.median(1000 * (r['cpu_s'] + r['decoder_cpu_s']) / args.photos for r in runs):.1f} | "
            f"{statistics.median(1000 * r['decoder_cpu_s'] / args.photos for r in runs):.1f} | "
            f"{statistics.median(r['wall_s'] for r in runs):.1f} | {max(r['peak_mb'] for r in runs):.0f} |"
        )
    if args.json:
        kept = [[{k: v for k, v in r.items() if k != "output"} for r in rnd] for rnd in rounds]
        args.json.write_text(json.dumps(kept, indent=2))


def one_round(folder: Path, tmp: Path, env: dict) -> list[dict]:
    """The loop, then `analyze --workers 1` and `--workers 2`, each in a fresh process."""
    import pyarrow.dataset as pads

    loop = monitored([sys.executable, __file__, "--loop-child", str(folder), str(tmp / "loop.json")], env)
    reference = json.loads((tmp / "loop.json").read_text())
    results = [{"way": "engine, one photo at a time", "photos_per_s": reference["photos_per_s"], **loop}]
    for workers in (1, 2):
        table = tmp / f"workers{workers}.parquet"
        shutil.rmtree(table, ignore_errors=True)  # the last round's table (a Parquet table is a folder)
        command = [sys.executable, "manage.py", "analyze", str(folder), "--out", str(table)]
        run = monitored([*command, "--workers", str(workers), "-v", "0"], env)
        rows = pads.dataset(table).to_table(columns=["source", "scene_labels"]).to_pylist()
        if {r["source"]: r["scene_labels"] for r in rows} != reference["labels"]:
            raise SystemExit(f"--workers {workers} gave other top-5 labels than the one-photo loop")
        rate = float(run["output"].rsplit(";", 1)[1].split()[0])
        results.append({"way": f"analyze --workers {workers}", "photos_per_s": rate, **run})
    return results


def spread(values: list[float], spec: str, unit: str = "") -> str:
    low, high = min(values), max(values)
    median = statistics.median(values)
    return f"{median:{spec}}{unit} ({low:{spec}}-{high:{spec}})" if len(values) > 1 else f"{median:{spec}}{unit}"


if __name__ == "__main__":
    main()
