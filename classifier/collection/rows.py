"""One photo in, one table row out: read or fetch, decode, analyse, write the heatmap.

Every failure is caught here and becomes the row's `error_code` and `error_message`, so a
collection of a million photos is never stopped by one of them. Reading and decoding run one
photo ahead of the networks on a second thread (Pillow and file reads release the GIL), so the
networks rarely wait for a file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from classifier.collection.inputs import Source
from classifier.collection.reading import read_photo_file
from classifier.collection.table import COLUMNS, LIST_COLUMNS
from classifier.engine.analyzer import OUTPUTS, Analysis, SceneAnalyzer
from classifier.engine.atomic import write_atomically
from classifier.engine.errors import SceneWebError, SourceUnreadable
from classifier.engine.fetch import FetchPolicy, fetch_image
from classifier.engine.imaging import DecodedImage, ImageLimits, decode_image

SCHEMA_VERSION = 1
LOOKAHEAD = 2
"""Photos read and decoded ahead of the one being analysed."""
TABLE_OUTPUTS = frozenset({"scenes", "io", "attributes"})
"""What a row holds without --heatmap-dir: no class-activation grids are computed for it."""


@dataclass(frozen=True)
class Job:
    """What every worker needs besides the analyzer; small and picklable (it travels to Ray actors)."""

    limits: ImageLimits
    policy: FetchPolicy
    heatmap_dir: Path | None = None
    done_urls: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    """(url, sha256) pairs already in the table: a URL's content decides whether it is done."""

    @property
    def outputs(self) -> frozenset[str]:
        return TABLE_OUTPUTS if self.heatmap_dir is None else OUTPUTS


def models_text(analyzer: SceneAnalyzer) -> str:
    """The models that made a row, as the table stores them (resume compares this text)."""
    return json.dumps(analyzer.models, sort_keys=True)


def analyse_all(sources: Iterable[Source], analyzer: SceneAnalyzer, job: Job) -> Iterator[dict]:
    """A row per source, in order (a URL already in the table gives none)."""
    models = models_text(analyzer)
    with ThreadPoolExecutor(1, thread_name_prefix="decode-ahead") as reader:
        pending = []
        for source in sources:
            pending.append(reader.submit(load, source, job, models))
            if len(pending) > LOOKAHEAD:
                yield from _finished(pending.pop(0).result(), analyzer, job)
        for future in pending:
            yield from _finished(future.result(), analyzer, job)


def _finished(loaded: tuple[dict, DecodedImage | None] | None, analyzer: SceneAnalyzer, job: Job) -> Iterator[dict]:
    if loaded is not None:
        row, decoded = loaded
        yield finish(row, decoded, analyzer, job)


def load(source: Source, job: Job, models: str) -> tuple[dict, DecodedImage | None] | None:
    """The row so far and the decoded photo (None when it failed: the row says why)."""
    row = blank_row(source, models)
    try:
        data = source_bytes(source, job)
        if source.is_url:
            row["bytes"] = len(data)
        row["sha256"] = hashlib.sha256(data).hexdigest()
        if source.is_url and (source.name, row["sha256"]) in job.done_urls:
            return None
        decoded = decode_image(data, job.limits)
    except Exception as exc:  # one photo's failure is its row, never the run's end
        return failed(row, exc), None
    row["format"] = decoded.format
    row["width"], row["height"] = decoded.original_size
    return row, decoded


def source_bytes(source: Source, job: Job) -> bytes:
    """A source's bytes: a URL fetched under the job's address policy, a file read within its byte
    limit; a source the walk could not read raises what the walk found."""
    if source.problem is not None:
        raise SourceUnreadable(source.problem[1], code=source.problem[0])
    if source.is_url:
        return fetch_image(source.name, job.policy)
    return read_photo_file(source.path, job.limits.max_bytes)


def finish(row: dict, decoded: DecodedImage | None, analyzer: SceneAnalyzer, job: Job) -> dict:
    if decoded is None:
        return row
    try:
        analysis = analyzer.analyze(decoded, outputs=job.outputs)
        fill(row, analysis)
        if job.heatmap_dir is not None:
            row["heatmap"] = str(write_heatmap(job.heatmap_dir, row["source"], row["sha256"], analysis))
    except Exception as exc:
        failed(row, exc)
    return row


def blank_row(source: Source, models: str) -> dict:
    """Every column of the table (`table.SCHEMA`), empty, but what is known before the photo is read."""
    row = {name: [] if name in LIST_COLUMNS else None for name in COLUMNS}
    row.update(
        schema_version=SCHEMA_VERSION,
        source=source.name,
        bytes=source.size,
        mtime_ns=source.mtime_ns,
        models=models,
    )
    return row


def fill(row: dict, analysis: Analysis) -> None:
    attributes = analysis.models.get("attributes") or {}
    row.update(
        scene_labels=[s.label for s in analysis.scenes],
        scene_indices=[s.index for s in analysis.scenes],
        scene_probabilities=[s.probability for s in analysis.scenes],
        io_label=analysis.io.label,
        io_score=analysis.io.score,
        attribute_labels=[a.label for a in analysis.attributes],
        attribute_scores=[a.score for a in analysis.attributes],
        attribute_source=attributes.get("source"),
        attributes_note=analysis.attributes_note,
        decode_ms=analysis.timings_ms.get("decode"),
        total_ms=analysis.timings_ms.get("total"),
    )


def failed(row: dict, exc: Exception) -> dict:
    if isinstance(exc, SceneWebError):
        row["error_code"], message = exc.code, exc.message
    else:
        row["error_code"], message = "internal_error", f"{type(exc).__name__}: {exc}"
    row["error_message"] = " ".join(message.split())  # one line: the CSV and JSONL tails stay line-based
    return row


def write_heatmap(folder: Path, source: str, sha256: str, analysis: Analysis) -> Path:
    """`<stem>_<sha256 prefix>_cam.png`: two `IMG_0001.jpg` in two folders get two files. Written
    into a temporary file and renamed, so an existing symlink of that name is replaced, never followed."""
    stem = PurePosixPath(urlsplit(source).path).stem if "://" in source else Path(source).stem
    safe = re.sub(r"[^\w.-]", "_", stem)[:80] or "photo"
    return write_atomically(folder / f"{safe}_{sha256[:12]}_cam.png", base64.b64decode(analysis.cam.png_base64))
