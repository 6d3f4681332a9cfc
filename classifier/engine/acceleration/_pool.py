"""Running the scene and attribute networks side by side (SCENEWEB_PARALLEL_MODELS).

Its own module because its hazards are threads and processes, not numerics: PyTorch's
per-thread intra-op setting, and gunicorn forking workers after the analyzer was built.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import torch


class PerProcessPool:
    """A `single_thread_pool` started by the first call in each process.

    Threads do not survive a fork: a pool made in gunicorn's master (where the app and the
    analyzer are built, `preload_app`) would leave every forked worker waiting forever on
    threads that do not exist in it.
    """

    def __init__(self, workers: int):
        self.workers = workers
        self._pool: ThreadPoolExecutor | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()
        forget = weakref.WeakMethod(self._forget)  # a registered hook is never removed: do not keep the pool alive
        os.register_at_fork(after_in_child=lambda: forget() and forget()())

    def _forget(self) -> None:
        """In a forked child: the lock may have been copied held, the threads were not copied at all."""
        self._pool, self._pid, self._lock = None, None, threading.Lock()

    def submit(self, function: Callable, *args) -> Future:
        if self._pid != os.getpid():
            with self._lock:
                if self._pid != os.getpid():
                    self._pool, self._pid = single_thread_pool(self.workers), os.getpid()
        return self._pool.submit(function, *args)


def single_thread_pool(workers: int) -> ThreadPoolExecutor:
    """Worker threads that each run PyTorch on one intra-op thread.

    PyTorch's thread setting is per thread, but a thread that starts using PyTorch adopts the
    value set last anywhere; the caller's value is set again once the workers are ready, so
    threads started later are not left at one.
    """
    previous = torch.get_num_threads()
    ready = threading.Barrier(workers + 1)

    def start() -> None:
        torch.get_num_threads()  # PyTorch's lazy per-thread set-up first, or it undoes the next line later
        torch.set_num_threads(1)
        ready.wait()

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sceneweb-net", initializer=start)
    for _ in range(workers):
        pool.submit(int)
    ready.wait()
    torch.set_num_threads(previous)
    return pool


def timed_inference(network: Callable, batch: torch.Tensor):
    """Run one network in this thread under inference mode; returns (output, milliseconds)."""
    started = time.perf_counter()
    with torch.inference_mode():
        output = network(batch)
    return output, round((time.perf_counter() - started) * 1000, 2)
