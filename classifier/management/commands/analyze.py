"""Analyse photos from the command line: a readable summary, one JSON object per line, or a table.

Inputs are files, folders, globs and `--list` files (classifier/collection/inputs.py). With
`--out` the rows go to a table in chunks, `--resume` continues one, `--workers` and `--ray`
spread the work, `--report` draws the collection; without it, each result is printed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
from collections import Counter
from pathlib import Path

from django.core.management.base import CommandError
from tqdm import tqdm

from classifier.collection import inputs, report, resume
from classifier.collection.local import default_workers, run_local
from classifier.collection.reading import printable
from classifier.collection.rows import Job, models_text, source_bytes, write_heatmap
from classifier.collection.table import CHUNK_ROWS, TableWriter, read_rows, table_format
from classifier.engine.analyzer import Analysis
from classifier.engine.errors import SceneWebError
from classifier.management.base import SceneWebCommand
from classifier.runtime import analyse_bytes, analyzer_recipe, fetch_policy, get_analyzer, image_limits


def summary(name: str, analysis: Analysis, heatmap: Path | None = None) -> str:
    lines = [name]
    lines += [f"  {s.probability:6.1%}  {s.label}" for s in analysis.scenes]
    lines.append(f"  {analysis.io.label} (outdoor score {analysis.io.score:.2f})")
    if analysis.attributes:
        source = analysis.models["attributes"]
        lines.append("  attributes: " + ", ".join(f"{a.label} {a.score:.2f}" for a in analysis.attributes))
        lines.append(f"    (from {source['source']}: {source['description']}; scores are {source['scores']})")
    else:
        lines.append(f"  attributes: none. {analysis.attributes_note}")
    drawn = f"written to {heatmap}" if heatmap else "not drawn (--heatmap-dir DIR writes it)"
    lines.append(f"  heatmap of '{analysis.cam.label}' {drawn}; {analysis.timings_ms.get('total', 0):.0f} ms")
    return "\n".join(lines)


def counts_line(rows: list[dict], skipped: int, seconds: float) -> str:
    """The end-of-run summary: analysed, failed by code, skipped by resume, photos/s."""
    failures = Counter(row["error_code"] for row in rows if row["error_code"])
    analysed = len(rows) - sum(failures.values())
    failed = ", ".join(f"{code} {n}" for code, n in sorted(failures.items())) or "none"
    rate = len(rows) / seconds if seconds > 0 else 0.0
    return (
        f"{analysed} analysed, {sum(failures.values())} failed ({failed}), {skipped} skipped by --resume; "
        f"{rate:.1f} photos/s"
    )


class Command(SceneWebCommand):
    help = (
        "Analyse photos (files, folders, globs, --list): top-5 scenes, indoor/outdoor, SUN attributes and a "
        "CAM heatmap; printed, or one row per photo in a --out table."
    )

    def add_arguments(self, parser):
        parser.add_argument("images", nargs="*", help="image files, folders (walked), glob patterns or http(s) URLs")
        parser.add_argument("--list", dest="list_file", help="a file of paths or URLs, one per line ('-': stdin)")
        parser.add_argument(
            "--json",
            dest="as_json",
            action="store_true",
            help="print one JSON object per image and line (heatmaps are never inlined: see --heatmap-dir)",
        )
        parser.add_argument(
            "--heatmap-dir",
            type=Path,
            help="write each heatmap overlay as a PNG file here, named in the output (without it none is drawn)",
        )
        parser.add_argument("--out", help="write a table, one row per photo: .parquet (a folder), .jsonl or .csv")
        parser.add_argument("--resume", action="store_true", help="skip the photos already in --out, add the rest")
        parser.add_argument("--workers", type=int, default=default_workers(), help="worker processes (default: cores)")
        parser.add_argument("--chunk-rows", type=int, default=CHUNK_ROWS, help="rows written at a time")
        parser.add_argument("--ray", help="run on the Ray cluster at this address ('auto': the one this node is in)")
        parser.add_argument("--report", type=Path, help="write an HTML page of the collection in this folder")

    def handle(self, *args, images, list_file, out, report: Path | None, **options):
        arguments = list(images)
        if list_file:
            stream = sys.stdin if list_file == "-" else open(list_file, encoding="utf-8")  # noqa: SIM115
            with stream:
                arguments += inputs.read_list(stream)
        if not arguments:
            raise CommandError("Name at least one photo, folder, pattern or URL (or --list FILE).")
        sources = inputs.collect(arguments)
        job = Job(image_limits(), fetch_policy(), options["heatmap_dir"])
        if out is None:
            if options["resume"] or options["ray"] or report:
                raise CommandError("--resume, --ray and --report need a table: add --out PATH.")
            return self._print_each(list(sources), job, options)
        self._tabulate(sources, out, report, job, options)

    def _tabulate(self, sources, out: str, report_dir: Path | None, job: Job, options) -> None:
        table_format(out)
        if "://" in out and not options["ray"]:
            raise CommandError("A table in object storage (s3://...) is written by Ray's writer: add --ray ADDRESS.")
        analyzer = get_analyzer()
        done = resume.done_in(out, models_text(analyzer))
        if done.rows and not options["resume"]:
            raise CommandError(
                f"{out} already holds {done.rows} rows: add --resume to continue it, or choose another --out."
            )
        job = dataclasses.replace(job, done_urls=frozenset(done.urls))
        pending = list(done.pending(sources))
        started = time.perf_counter()
        if options["ray"]:
            from classifier.collection.ray_runner import run_on_ray

            rows = run_on_ray(pending, analyzer_recipe(), job, out, options["ray"])
        else:
            rows = self._write_locally(pending, analyzer, job, out, options)
        skipped = done.skipped + len(pending) - len(rows)  # URLs already in the table by their content
        self.log(counts_line(rows, skipped, time.perf_counter() - started))
        if report_dir is not None:
            page = report.write_report(read_rows(out), report_dir, job.limits.max_bytes)
            self.log(f"Report: {page}")

    def _write_locally(self, pending, analyzer, job: Job, out: str, options) -> list[dict]:
        writer, chunk, rows = TableWriter(Path(out)), [], []
        quiet = options["verbosity"] == 0
        for row in tqdm(
            run_local(pending, analyzer, job, options["workers"]), total=len(pending), unit="photo", disable=quiet
        ):
            chunk.append(row)
            rows.append({"error_code": row["error_code"]})
            if len(chunk) >= options["chunk_rows"]:
                writer.write(chunk)
                chunk = []
        writer.write(chunk)
        return rows

    def _print_each(self, sources: list[inputs.Source], job: Job, options) -> None:
        """Without --out: each result printed (a summary, or --json lines), one photo at a time. A
        heatmap is drawn only to be written into --heatmap-dir, and the output names its file."""
        as_json, heatmap_dir = options["as_json"], job.heatmap_dir
        get_analyzer()  # the models load first: a missing file stops the run, not each photo in turn
        failures = 0
        progress = tqdm(sources, unit="image", disable=len(sources) < 3 or options["verbosity"] == 0)
        for source in progress:
            name = printable(source.name)
            try:
                data = source_bytes(source, job)
                analysis = analyse_bytes(data, heatmap=heatmap_dir is not None).analysis
                heatmap = None
                if heatmap_dir is not None:
                    heatmap = write_heatmap(heatmap_dir, source.name, hashlib.sha256(data).hexdigest(), analysis)
            except SceneWebError as exc:
                failures += 1
                self._emit(
                    as_json,
                    {"image": source.name, "error": exc.message, "code": exc.code},
                    f"{name}: {exc.message}",
                    error=True,
                )
                continue
            record = analysis.to_dict()
            if record["cam"]:
                record["cam"]["png_base64"] = None  # in the file, never on stdout
            record = {"image": source.name, **record, "heatmap": None if heatmap is None else str(heatmap)}
            self._emit(as_json, record, summary(name, analysis, heatmap))
        if failures:
            raise CommandError(f"{failures} of {len(sources)} images could not be analysed.")

    def _emit(self, as_json: bool, record: dict, text: str, error: bool = False) -> None:
        """JSON lines always go to stdout (one per image, names escaped by JSON); readable errors go to stderr."""
        stream = self.stderr if error and not as_json else self.stdout
        with tqdm.external_write_mode():
            stream.write(json.dumps(record) if as_json else text)
