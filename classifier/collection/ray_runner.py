"""The same job on a Ray cluster (Ray Data): the sources as a Dataset, an actor pool of analyzers,
and Ray's Parquet writer.

Each actor builds its analyzer once, from the models folder at the same path on every node (the
cluster set-up runs `manage.py fetch_models` there, docs/collections.md), and then turns batches
of sources into rows with the very function the local run uses (`rows.analyse_all`), so the rows
are the same. A photo that fails is a row. When a worker process dies, Ray restarts the actor
and runs its batch again; the table is written only from finished batches, by Ray's writer, to
a local folder (the same file system for every node) or to object storage (s3://...).

Ray is an optional extra (requirements-ray.txt): this module is imported only for `--ray`.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import ray

from classifier.collection.inputs import Source
from classifier.collection.rows import Job, analyse_all
from classifier.collection.table import SCHEMA, to_arrow
from classifier.engine.acceleration import apply_thread_setting
from classifier.engine.analyzer import SceneAnalyzer

BATCH = 4
SOURCE_SCHEMA = pa.schema(
    [
        ("name", pa.string()),
        ("path", pa.string()),
        ("size", pa.int64()),
        ("mtime_ns", pa.int64()),
        ("problem_code", pa.string()),
        ("problem_message", pa.string()),
    ]
)


class PhotoActor:
    """One analyzer per actor, built when the actor starts; called once per batch of sources."""

    def __init__(self, recipe: dict, job: Job):
        apply_thread_setting(recipe["inference"].threads)
        self.analyzer = SceneAnalyzer.from_models_dir(**recipe)
        self.job = job

    def __call__(self, batch: pa.Table) -> pa.Table:
        return to_arrow(list(analyse_all(map(to_source, batch.to_pylist()), self.analyzer, self.job)))


def to_item(source: Source) -> dict:
    code, message = source.problem or (None, None)
    path = None if source.path is None else str(source.path)
    return {
        "name": source.name,
        "path": path,
        "size": source.size,
        "mtime_ns": source.mtime_ns,
        "problem_code": code,
        "problem_message": message,
    }


def to_source(item: dict) -> Source:
    problem = (item["problem_code"], item["problem_message"]) if item["problem_code"] else None
    path = None if item["path"] is None else Path(item["path"])
    return Source(item["name"], path, item["size"], item["mtime_ns"], problem)


def run_on_ray(
    sources: list[Source], recipe: dict, job: Job, out: str, address: str, actor: type = PhotoActor
) -> list[dict]:
    """Analyse ``sources`` on the cluster at ``address`` and append their rows to the Parquet table
    ``out``; returns each new row's error code (for the summary)."""
    if not out.endswith(".parquet"):
        raise ValueError("--ray writes Parquet (Ray's writer): give --out a .parquet path (a folder, or s3://...).")
    if not sources:
        return []
    ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
    workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
    items = pa.Table.from_pylist([to_item(s) for s in sources], schema=SOURCE_SCHEMA)
    rows = (
        ray.data.from_arrow(items)
        .repartition(max(1, -(-len(sources) // BATCH)))
        .map_batches(
            actor,
            fn_constructor_args=(recipe, job),
            batch_size=BATCH,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=workers),
            num_cpus=1,
            max_restarts=-1,
            max_task_retries=-1,
        )
        .materialize()
    )
    rows.write_parquet(out, schema=SCHEMA)
    return rows.select_columns(["error_code"]).take_all()
