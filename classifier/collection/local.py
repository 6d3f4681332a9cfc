"""The job on this machine: worker processes forked after the analyzer is loaded once.

Like gunicorn's preload, the weights are loaded in the parent and the children share its
pages (copy-on-write; inference only reads them). Each child takes a batch of sources, reads and
decodes one photo ahead on a second thread (`rows.analyse_all`), and sends the rows back in
order; PyTorch's threads are split between the children so they do not fight for the cores.
Photos go through the networks one at a time (`SceneAnalyzer.analyze` takes one photo): at one
thread per process a batch of up to 8 gained at most 1.05x on openvino-bf16's ResNet-18 here
(docs/benchmarks.md, "Batching in a collection worker").
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
from collections.abc import Iterable, Iterator, Sequence

import torch

from classifier.collection.inputs import Source
from classifier.collection.rows import Job, analyse_all
from classifier.engine.analyzer import SceneAnalyzer

BATCH = 16
"""Sources handed to a worker at a time. A worker's decode-ahead pipeline starts empty with each
batch (its first photo waits for its decode): 16 gave 3-6% more photos/s than 4 here. Small
enough that rows come back steadily for the chunk writer (64 rows) and that the last batches
leave neither worker idle for long."""

_forked: tuple[SceneAnalyzer, Job] | None = None


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def run_local(sources: Sequence[Source], analyzer: SceneAnalyzer, job: Job, workers: int) -> Iterator[dict]:
    """Rows in the order of ``sources``; ``workers`` 1 runs in this process."""
    if workers <= 1:
        yield from analyse_all(sources, analyzer, job)
        return
    global _forked
    _forked = (analyzer, job)
    threads = max(1, default_workers() // workers)
    context = multiprocessing.get_context("fork")
    try:
        with context.Pool(workers, initializer=torch.set_num_threads, initargs=(threads,)) as pool:
            for rows in pool.imap(_analyse_batch, _batches(sources, batch_size(len(sources), workers))):
                yield from rows
    finally:
        _forked = None


def batch_size(photos: int, workers: int) -> int:
    """`BATCH`, or less when there are fewer than `BATCH` photos for each worker: 20 photos are
    10 and 10, not 16 and 4."""
    return max(1, min(BATCH, -(-photos // workers)))


def _analyse_batch(batch: list[Source]) -> list[dict]:
    analyzer, job = _forked
    return list(analyse_all(batch, analyzer, job))


def _batches(sources: Iterable[Source], size: int) -> Iterator[list[Source]]:
    iterator = iter(sources)
    while batch := list(itertools.islice(iterator, size)):
        yield batch
