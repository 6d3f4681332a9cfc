"""Analyse photos from the command line: a readable summary, or one JSON object per line."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from django.core.management.base import CommandError
from tqdm import tqdm

from classifier.engine.analyzer import Analysis
from classifier.engine.errors import SceneWebError
from classifier.engine.imaging import decode_image
from classifier.management.base import SceneWebCommand
from classifier.runtime import get_analyzer, image_limits


def summary(path: Path, analysis: Analysis) -> str:
    lines = [f"{path}"]
    lines += [f"  {s.probability:6.1%}  {s.label}" for s in analysis.scenes]
    lines.append(f"  {analysis.io.label} (outdoor score {analysis.io.score:.2f})")
    if analysis.attributes:
        source = analysis.models["attributes"]
        lines.append("  attributes: " + ", ".join(f"{a.label} {a.score:.2f}" for a in analysis.attributes))
        lines.append(f"    (from {source['source']}: {source['description']}; scores are {source['scores']})")
    else:
        lines.append(f"  attributes: none. {analysis.attributes_note}")
    lines.append(f"  heatmap of '{analysis.cam.label}'; {analysis.timings_ms.get('total', 0):.0f} ms")
    return "\n".join(lines)


class Command(SceneWebCommand):
    help = "Analyse image files: top-5 scenes, indoor/outdoor, SUN attributes and a CAM heatmap."

    def add_arguments(self, parser):
        parser.add_argument("images", nargs="+", type=Path, help="image files to analyse")
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print one JSON object per image and line"
        )
        parser.add_argument("--heatmap-dir", type=Path, help="write each heatmap overlay as <name>_cam.png here")

    def handle(self, *args, images: list[Path], as_json: bool, heatmap_dir: Path | None, **options):
        analyzer = get_analyzer()
        if heatmap_dir:
            heatmap_dir.mkdir(parents=True, exist_ok=True)
        failures = 0
        progress = tqdm(images, unit="image", disable=len(images) < 3 or options["verbosity"] == 0)
        for path in progress:
            try:
                analysis = analyzer.analyze(
                    decode_image(path.read_bytes(), image_limits()), heatmap=heatmap_dir is not None or as_json
                )
            except (OSError, SceneWebError) as exc:
                failures += 1
                message = exc.message if isinstance(exc, SceneWebError) else str(exc)
                self._emit(as_json, {"image": str(path), "error": message}, f"{path}: {message}", error=True)
                continue
            if heatmap_dir:
                target = heatmap_dir / f"{path.stem}_cam.png"
                target.write_bytes(base64.b64decode(analysis.cam.png_base64))
            record = {"image": str(path), **analysis.to_dict()}
            self._emit(as_json, record, summary(path, analysis))
        if failures:
            raise CommandError(f"{failures} of {len(images)} images could not be analysed.")

    def _emit(self, as_json: bool, record: dict, text: str, error: bool = False) -> None:
        """JSON lines always go to stdout (one per image); readable errors go to stderr."""
        stream = self.stderr if error and not as_json else self.stdout
        with tqdm.external_write_mode():
            stream.write(json.dumps(record) if as_json else text)
