"""What the decode sandbox costs and what it stops, for docs/benchmarks.md, "Decoder bombs".

Two tables:

- the JPEG scan bomb of issue 18 (`tests.support.images.scan_bomb_jpeg`): decoded by
  `classifier/engine/imaging.py` as it was at ``--before REV`` (in this process, as the service
  did), by `decode_image` now (refused from its scan count), and by `decode_image` with the scan
  count lifted (killed at the deadline);
- the sandbox's per-call overhead: `decode_image` (child process) against `decode_in_process`
  (the same work here), median of ``--repeat`` calls per photo, and the first call's start of a
  child.

    nice -n 10 .venv/bin/python bench/decode_sandbox.py [--before 3df4315] [--repeat 20]
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from classifier.engine import imaging  # noqa: E402
from classifier.engine.errors import ImageRejected  # noqa: E402
from classifier.engine.image_checks import ImageLimits  # noqa: E402
from classifier.testing.bombs import scan_bomb_jpeg  # noqa: E402

SHARED = REPO.parent / "shared"
BOMBS = ((2000, 5000), (4000, 5000), (7000, 5000))


def seconds(call) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        call()
        outcome = "decoded"
    except ImageRejected as refused:
        outcome = refused.code
    return time.perf_counter() - started, outcome


def module_at(revision: str, folder: Path):
    path = folder / f"imaging_{revision}.py"
    path.write_bytes(
        subprocess.run(
            ["git", "show", f"{revision}:classifier/engine/imaging.py"], cwd=REPO, check=True, capture_output=True
        ).stdout
    )
    spec = importlib.util.spec_from_file_location("imaging_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def bomb_table(before) -> list[str]:
    lines = [
        "| bomb | file KB | before: decoded in-process, s | now: refused, ms | now, scan count lifted: stopped at, s |",
        "|---|---|---|---|---|",
    ]
    lifted = ImageLimits(max_scans=10**9)
    for side, scans in BOMBS:
        data = scan_bomb_jpeg(side=side, scans=scans)
        old = f"{seconds(lambda d=data: before.decode_image(d))[0]:.1f}" if before else "-"
        refused, code = seconds(lambda d=data: imaging.decode_image(d))
        stopped, stop_code = seconds(lambda d=data: imaging.decode_image(d, lifted))
        lines.append(
            f"| {side}x{side}, {scans} scans | {len(data) / 1024:.0f} | {old} | {refused * 1000:.1f} ({code}) "
            f"| {stopped:.1f} ({stop_code}) |"
        )
        print(lines[-1], file=sys.stderr)
    return lines


def encoded(size: tuple[int, int], fmt: str) -> bytes:
    """A smooth gradient (compresses like a photo, not like flat colour)."""
    ramp = np.linspace(0, 255, size[0], dtype=np.float32)[None, :] * np.linspace(0.3, 1, size[1])[:, None]
    grey = Image.fromarray(ramp.astype(np.uint8))
    buffer = io.BytesIO()
    Image.merge("RGB", [grey, grey.transpose(Image.Transpose.FLIP_LEFT_RIGHT), grey]).save(buffer, fmt)
    return buffer.getvalue()


def photos() -> dict[str, bytes]:
    cases = {
        "JPEG 64x48": encoded((64, 48), "JPEG"),
        "JPEG 1024x768": encoded((1024, 768), "JPEG"),
        "JPEG 4000x3000": encoded((4000, 3000), "JPEG"),
        "PNG 2000x1500": encoded((2000, 1500), "PNG"),
    }
    sample = next(iter(sorted((SHARED / "samples").glob("*.jpg"))), None)
    if sample:
        cases[f"sample {sample.name}"] = sample.read_bytes()
    return cases


def overhead_table(repeat: int) -> list[str]:
    imaging.DECODERS.close()
    tiny = encoded((64, 48), "JPEG")
    first, _ = seconds(lambda: imaging.decode_image(tiny))
    lines = [
        "| photo | file KB | in-process ms | child process ms | overhead ms |",
        "|---|---|---|---|---|",
    ]
    for name, data in photos().items():
        here = statistics.median(seconds(lambda d=data: imaging.decode_in_process(d))[0] for _ in range(repeat))
        child = statistics.median(seconds(lambda d=data: imaging.decode_image(d))[0] for _ in range(repeat))
        cells = (len(data) / 1024, here * 1000, child * 1000, (child - here) * 1000)
        lines.append(f"| {name} | " + " | ".join(f"{cell:.1f}" for cell in cells) + " |")
        print(lines[-1], file=sys.stderr)
    lines.append("")
    lines.append(f"The first decode of a process, which starts its child: {first * 1000:.0f} ms.")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", metavar="REV", help="also decode the bombs with imaging.py at this git revision")
    parser.add_argument("--repeat", type=int, default=20, help="calls per photo for the overhead medians")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        before = module_at(args.before, Path(tmp)) if args.before else None
        lines = [*bomb_table(before), "", *overhead_table(args.repeat)]
    load = os.getloadavg()
    lines += ["", f"{os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end."]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
