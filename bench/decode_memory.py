"""Peak memory of `decode_image` per image format, for docs/benchmarks.md, "Decoding memory".

Each case is one large image (7000 x 7000 by default) decoded in a fresh process, so one case's
memory cannot hide another's. Two figures per case:

- peak RSS: the process's resident high-water mark (``VmHWM``) after the decode, less the
  resident size just before it, the mark reset first (``/proc/self/clear_refs``, Linux): what
  the decode really adds, Pillow's C buffers included. Not `resource.getrusage`'s ``ru_maxrss``:
  it also keeps the peak of the process image before ``exec``, a copy of this (large) parent;
- traced: the peak `tracemalloc` sees, i.e. Python and numpy allocations only.

``--before REV`` also measures `classifier/engine/imaging.py` as it was at a git revision (for
the before/after table); the files are generated once, outside the measured processes.

    .venv/bin/python bench/decode_memory.py [--side 7000] [--before faf0d84] [--out results.md]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MB = 2**20


def pattern(side: int) -> np.ndarray:
    """A photo-like (side, side) float image in [0, 1]: gradients, texture and a little noise,
    so files compress like photos rather than like flat colour."""
    ramp = np.linspace(0.0, 1.0, side, dtype=np.float32)
    texture = 0.5 + 0.5 * np.sin(ramp[:, None] * 300) * np.cos(ramp[None, :] * 220)
    noise = np.random.default_rng(0).random((side, side), dtype=np.float32) * 0.1
    return np.clip(0.6 * ramp[None, :] + 0.3 * texture + noise, 0.0, 1.0)


def write_cases(side: int, folder: Path) -> dict[str, Path]:
    base = pattern(side)
    grey8 = (base * 255).astype(np.uint8)
    rgb = Image.merge("RGB", [Image.fromarray(g) for g in (grey8, grey8[::-1], grey8[:, ::-1])])
    alpha = Image.fromarray((255 - grey8 // 2).astype(np.uint8))
    rgba = rgb.copy()
    rgba.putalpha(alpha)
    cases = {
        "JPEG (RGB)": (rgb, "JPEG", {"quality": 90}),
        "PNG 8-bit RGB": (rgb, "PNG", {"compress_level": 1}),
        "PNG 16-bit grey": (Image.fromarray((base * 65535).astype(np.uint16)), "PNG", {"compress_level": 1}),
        "PNG RGBA": (rgba, "PNG", {"compress_level": 1}),
        "PNG palette": (rgb.quantize(256), "PNG", {"compress_level": 1}),
        "GIF (palette)": (rgb.quantize(256), "GIF", {}),
        "WebP (RGB)": (rgb, "WEBP", {"quality": 80, "method": 0}),
        "TIFF (RGB)": (rgb, "TIFF", {"compression": "tiff_deflate"}),
    }
    paths = {}
    for index, (name, (image, fmt, options)) in enumerate(cases.items()):
        paths[name] = folder / f"case{index}.{fmt.lower()}"
        image.save(paths[name], fmt, **options)
    return paths


def status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def measure(module_path: Path, image_path: Path) -> dict[str, float]:
    """Runs in the child: decode once, report the memory it took."""
    spec = importlib.util.spec_from_file_location("imaging_under_test", module_path)
    imaging = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = imaging
    spec.loader.exec_module(imaging)
    data = image_path.read_bytes()
    limits = imaging.ImageLimits(max_bytes=len(data) + 1, max_pixels=10**10)  # measure, never refuse
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # resets VmHWM
    before_kb = status_kb("VmRSS")
    tracemalloc.start()
    started = time.perf_counter()
    decoded = imaging.decode_image(data, limits)
    seconds = time.perf_counter() - started
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    peak_kb = status_kb("VmHWM")
    return {
        "peak_mb": (peak_kb - before_kb) / 1024,
        "traced_mb": traced / MB,
        "seconds": seconds,
        "file_mb": len(data) / MB,
        "mode": Image.open(image_path).mode,
        "out": list(decoded.image.size),
    }


def run_case(module_path: Path, image_path: Path) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", str(module_path), str(image_path)]
    answer = subprocess.run(command, check=True, capture_output=True, text=True, timeout=600)
    return json.loads(answer.stdout.strip().splitlines()[-1])


def module_at(revision: str, folder: Path) -> Path:
    path = folder / f"imaging_{revision}.py"
    source = subprocess.run(
        ["git", "show", f"{revision}:classifier/engine/imaging.py"], cwd=REPO, check=True, capture_output=True
    ).stdout
    path.write_bytes(source)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=7000, help="width and height of every test image")
    parser.add_argument("--before", metavar="REV", help="also measure imaging.py at this git revision")
    parser.add_argument("--out", type=Path, help="write the markdown table here too")
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"writing {args.side}x{args.side} test images...", file=sys.stderr)
        cases = write_cases(args.side, folder)
        versions = {"now": REPO / "classifier" / "engine" / "imaging.py"}
        if args.before:
            versions = {args.before: module_at(args.before, folder), **versions}
        rows = []
        for name, path in cases.items():
            results = {label: run_case(module, path) for label, module in versions.items()}
            rows.append((name, results))
            print(name, json.dumps(results), file=sys.stderr)
    header = "| image | mode | file MB |" + "".join(
        f" peak RSS MB ({label}) | traced MB ({label}) | s ({label}) |" for label in versions
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for name, results in rows:
        first = next(iter(results.values()))
        cells = "".join(f" {r['peak_mb']:.0f} | {r['traced_mb']:.1f} | {r['seconds']:.2f} |" for r in results.values())
        lines.append(f"| {name} | {first['mode']} | {first['file_mb']:.1f} |{cells}")
    load = os.getloadavg()
    lines.append("")
    lines.append(
        f"{args.side}x{args.side} pixels; {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} when the run ended."
    )
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
