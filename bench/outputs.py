"""What each `outputs=` choice of /api/analyze costs: one analysis (decoded photo in, the API's JSON
out) per choice, on a fresh install's models (ResNet-18 scenes, CSAIL's WideResNet-18 attribute
matrix), `fused` mode. Every choice is timed in turn inside each round, so load from other
processes falls on all of them alike; medians after warm-up. Random weights (speed does not
depend on their values) and the photos of ../shared/samples/.

`--stages MODES` instead splits one HTTP analysis (a 960x720 JPEG, multipart, heatmap on) into
its stages, per inference mode: Django's own WSGI handler with the whole middleware stack, fed
the request's bytes as gunicorn would (no socket), and each stage of the view timed alone on
the same photo in the same round (upload parsing, the decode with and without its child
process, the overlay, PNG, base64, `to_dict`, JSON); what is left of the handler's time is
Django's: middleware, URL routing, the view's own work.

    .venv/bin/python bench/outputs.py [--rounds 20]
    .venv/bin/python bench/outputs.py --stages fused,auto [--rounds 20]
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import statistics
import sys
import tempfile
import time
import zlib
from pathlib import Path
from unittest.mock import patch

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from classifier.api_request import AnalyzeOptions  # noqa: E402
from classifier.engine import cam, catalogue, encoding, installer  # noqa: E402
from classifier.engine.acceleration import InferenceSettings  # noqa: E402
from classifier.engine.analyzer import OUTPUTS, SceneAnalyzer  # noqa: E402
from classifier.engine.imaging import ImageLimits, decode_image, decode_in_process  # noqa: E402
from classifier.testing.checkpoints import write_matrix_files, write_release  # noqa: E402
from classifier.testing.paths import SHARED  # noqa: E402

CHOICES = {
    "scenes": {"scenes"},
    "scenes,io": {"scenes", "io"},
    "attributes": {"attributes"},
    "cam": {"cam"},
    "heatmap": {"heatmap"},
    "all (default)": set(OUTPUTS),
}


def fresh_install(folder: Path) -> Path:
    release = write_matrix_files(write_release(folder / "release"))
    models = folder / "models"
    models.mkdir()
    for name in (*catalogue.DEFAULT_ASSETS, *catalogue.ATTRIBUTE_MATRIX_ASSETS):
        installer.install_from_dir(name, models, release)
    return models


def one_answer(analyzer: SceneAnalyzer, decoded, outputs: frozenset[str]) -> tuple[float, int]:
    """Milliseconds and bytes of the API's JSON for one photo with these outputs."""
    options = AnalyzeOptions(outputs=outputs, top_k=None, heatmap=True, cam_class=None)
    started = time.perf_counter()
    analysis = analyzer.analyze(decoded, outputs=outputs)
    body = json.dumps(options.select(analysis.to_dict()))
    return (time.perf_counter() - started) * 1000, len(body)


def http_photo(number: int = 0) -> bytes:
    """A sample as a 960x720 JPEG (the first is bench/http_analysis.py's photo: a phone photo's shape)."""
    image = Image.open(sorted((SHARED / "samples").glob("*.jpg"))[number]).convert("RGB").resize((960, 720))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def pillow_png(**options):
    def encode(image: Image.Image) -> bytes:
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", **options)
        return buffer.getvalue()

    return encode


PNG_ENCODERS = {
    "`encoding.png_bytes`: Average filter, Huffman only (now)": encoding.png_bytes,
    "Pillow, its per-row filter choice, Huffman only (before)": pillow_png(
        compress_level=1, compress_type=zlib.Z_HUFFMAN_ONLY
    ),
    "Pillow's defaults (zlib level 6)": pillow_png(),
    "Pillow, 256-colour palette (lossy)": lambda image: pillow_png(compress_level=1)(
        image.quantize(256, method=Image.Quantize.FASTOCTREE)
    ),
}
"""What the heatmap PNG could be encoded with: the service's, the one before it, and two others."""


def png_table(analyzer: SceneAnalyzer, rounds: int) -> list[str]:
    """Each encoder on the overlays of the two samples at 960x720: ms, bytes and the largest pixel error."""
    overlays = []
    for number in range(2):
        decoded = decode_in_process(http_photo(number))
        overlays.append(cam.render_overlay(decoded.image, np.asarray(analyzer.analyze(decoded).cam.grid)))
    lines = [
        "| PNG encoder | median ms | bytes (photo 1, photo 2) | largest pixel error |",
        "| --- | --- | --- | --- |",
    ]
    for name, encode in PNG_ENCODERS.items():
        times = [timed(lambda: encode(overlay))[0] for _ in range(rounds) for overlay in overlays]  # noqa: B023
        encoded = [encode(overlay) for overlay in overlays]
        error = max(
            int(np.abs(np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), int) - np.asarray(overlay, int)).max())
            for png, overlay in zip(encoded, overlays, strict=True)
        )
        sizes = ", ".join(f"{len(png):,}" for png in encoded)
        lines.append(f"| {name} | {statistics.median(times):.1f} | {sizes} | {error} |")
    return lines


def wsgi_post(handler, body: bytes, content_type: str) -> tuple[float, bytes]:
    """Milliseconds and answer of one `POST /api/analyze` through Django's WSGI handler."""
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/analyze",
        "QUERY_STRING": "",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
    }
    statuses = []
    started = time.perf_counter()
    answer = b"".join(handler(environ, lambda status, headers: statuses.append(status)))
    elapsed = (time.perf_counter() - started) * 1000
    if not statuses[0].startswith("200"):
        raise SystemExit(f"/api/analyze answered {statuses[0]}: {answer[:300]!r}")
    return elapsed, answer


def timed(work) -> tuple[float, object]:
    started = time.perf_counter()
    result = work()
    return (time.perf_counter() - started) * 1000, result


def stage_times(handler, analyzer: SceneAnalyzer, photo: bytes, body: bytes, content_type: str) -> dict[str, float]:
    """One round: the request through Django, then each stage of it alone on the same photo."""
    from django.core.handlers.wsgi import WSGIRequest
    from django.http import JsonResponse

    with (
        patch("classifier.views.get_analyzer", return_value=analyzer),
        patch("classifier.runtime.get_analyzer", return_value=analyzer),
    ):
        http_ms, answer = wsgi_post(handler, body, content_type)
    timings = json.loads(answer)["timings_ms"]
    request = WSGIRequest({"REQUEST_METHOD": "POST", "CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(body)),
                           "wsgi.input": io.BytesIO(body), "PATH_INFO": "/api/analyze"})  # fmt: skip
    times = {"HTTP request through Django (WSGI)": http_ms}
    times["decode, in a child (round trip)"] = timings["decode"]
    times["  decode, in process (alone)"], decoded = timed(lambda: decode_in_process(photo))
    times["preprocess"] = timings["preprocess"]
    networks = [stage for stage in timings if stage not in ("decode", "preprocess", "cam", "png", "total")]
    times["networks (" + " + ".join(networks) + ")"] = sum(timings[stage] for stage in networks)
    times["cam (grids)"] = timings["cam"]
    times["heatmap PNG"] = timings["png"]
    analysis = analyzer.analyze(decoded)
    times["  overlay (alone)"], overlay = timed(
        lambda: cam.render_overlay(decoded.image, np.asarray(analysis.cam.grid))
    )
    times["  PNG encode (alone)"], png = timed(lambda: encoding.png_bytes(overlay))
    times["  base64 (alone)"] = timed(lambda: base64.b64encode(png).decode("ascii"))[0]
    times["analysis total (decode to PNG)"] = timings["total"]
    times["Django around the analysis (HTTP - analysis total)"] = http_ms - timings["total"]
    times["  upload parsing (alone)"] = timed(lambda: request.FILES.getlist("image")[0].read())[0]
    times["  to_dict (alone)"], document = timed(analysis.to_dict)
    times["  JSON encoding (alone)"] = timed(lambda: JsonResponse(document).content)[0]
    return times


def stages_table(modes: list[str], rounds: int) -> list[str]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sceneweb.settings")
    os.environ["SCENEWEB_RATE_LIMIT"] = "0"  # one client sends everything
    import django
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.handlers.wsgi import WSGIHandler
    from django.test.client import MULTIPART_CONTENT, encode_multipart

    django.setup()
    photo = http_photo()
    boundary = "sceneweb-bench-boundary"
    body = encode_multipart(boundary, {"image": SimpleUploadedFile("photo.jpg", photo, "image/jpeg")})
    content_type = MULTIPART_CONTENT.replace("BoUnDaRyStRiNg", boundary)
    handler = WSGIHandler()
    with tempfile.TemporaryDirectory() as folder:
        models = fresh_install(Path(folder))
        analyzers = {
            mode: SceneAnalyzer.from_models_dir(models, inference=InferenceSettings(mode=mode)) for mode in modes
        }
        times: dict[str, dict[str, list[float]]] = {mode: {} for mode in modes}
        for round_number in range(rounds + 3):
            for mode, analyzer in analyzers.items():
                for stage, ms in stage_times(handler, analyzer, photo, body, content_type).items():
                    if round_number >= 3:  # the first rounds warm up
                        times[mode].setdefault(stage, []).append(ms)
        png = png_table(analyzers[modes[0]], rounds)
    names = [f"{mode} ({analyzer.inference.mode})" if mode == "auto" else mode for mode, analyzer in analyzers.items()]
    lines = ["| stage | " + " | ".join(f"{name} ms" for name in names) + " |", "| --- |" + " --- |" * len(modes)]
    stages = times[modes[0]].keys()
    for stage in stages:
        label = stage.strip()
        cells = " | ".join(f"{statistics.median(times[mode][stage]):.1f}" for mode in modes)
        lines.append(f"| {'&nbsp;&nbsp;' if stage.startswith('  ') else ''}{label} | {cells} |")
    return [*lines, "", *png]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--stages", metavar="MODES", help="split one HTTP analysis into stages, per mode: fused,auto")
    args = parser.parse_args()
    if args.stages:
        print(f"load average at start: {os.getloadavg()}", file=sys.stderr)
        print("\n".join(stages_table(args.stages.split(","), args.rounds)))
        print(f"load average at end: {os.getloadavg()}", file=sys.stderr)
        return
    photos = sorted((SHARED / "samples").glob("*.jpg"))
    if not photos:
        raise SystemExit(f"No photos in {SHARED / 'samples'}.")
    limits = ImageLimits(max_bytes=10 * 2**20, max_pixels=50_000_000)
    decoded = [decode_image(p.read_bytes(), limits) for p in photos]
    print(f"load average at start: {os.getloadavg()}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as folder:
        analyzer = SceneAnalyzer.from_models_dir(fresh_install(Path(folder)))
        times: dict[str, list[float]] = {name: [] for name in CHOICES}
        sizes: dict[str, int] = {}
        for round_number in range(args.rounds + 2):
            for name, outputs in CHOICES.items():
                for image in decoded:
                    ms, size = one_answer(analyzer, image, frozenset(outputs))
                    if round_number >= 2:  # the first two rounds warm up
                        times[name].append(ms)
                    sizes[name] = size
    print(f"load average at end: {os.getloadavg()}", file=sys.stderr)
    full = statistics.median(times["all (default)"])
    print("| outputs= | median ms | share of the full analysis | JSON bytes |")
    print("| --- | --- | --- | --- |")
    for name in CHOICES:
        median = statistics.median(times[name])
        print(f"| `{name}` | {median:.1f} | {median / full:.0%} | {sizes[name]:,} |")


if __name__ == "__main__":
    main()
