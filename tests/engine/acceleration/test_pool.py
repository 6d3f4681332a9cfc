"""The two networks side by side: same answers as the reference, safe for concurrent callers,
the caller's thread setting left alone, and a pool that follows a fork (gunicorn's workers)."""

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import torch

from classifier.engine import acceleration
from classifier.engine.imaging import decode_image
from tests.support.analysis import assert_same_analysis


def test_the_networks_side_by_side_give_the_reference_answers(reference, parallel, sample_photos):
    image = decode_image(sample_photos[0].read_bytes())
    analysis = parallel.analyze(image)
    assert_same_analysis(analysis, reference.analyze(image))
    assert set(analysis.timings_ms) >= {"decode", "preprocess", "resnet18", "densenet201", "cam", "png", "total"}


def test_concurrent_callers_each_get_their_own_photo_analysed(reference, parallel, sample_photos):
    images = [decode_image(p.read_bytes()) for p in sample_photos] * 2
    expected = [reference.analyze(image, heatmap=False) for image in images]
    with ThreadPoolExecutor(max_workers=4) as callers:
        results = list(callers.map(lambda image: parallel.analyze(image, heatmap=False), images))
    for got, want in zip(results, expected, strict=True):
        assert_same_analysis(got, want)


def test_the_parallel_pool_leaves_the_callers_thread_setting_alone():
    before = torch.get_num_threads()
    pool = acceleration.single_thread_pool(2)
    try:
        assert pool.submit(torch.get_num_threads).result() == 1
        assert torch.get_num_threads() == before
    finally:
        pool.shutdown()


def test_the_side_by_side_pool_works_in_a_forked_child(parallel, reference, sample_photos):
    """gunicorn builds the analyzer in its master and forks the workers: the pool must follow."""
    image = decode_image(sample_photos[0].read_bytes())
    expected = [s.index for s in reference.analyze(image, heatmap=False).scenes]
    parallel.analyze(image, heatmap=False)  # the pool's threads now exist in this process only
    child = os.fork()
    if child == 0:
        try:
            torch.set_num_threads(1)  # as gunicorn's config does: OpenMP's team does not survive a fork
            scenes = [s.index for s in parallel.analyze(image, heatmap=False).scenes]
            os._exit(0 if scenes == expected else 1)
        finally:
            os._exit(2)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pid, status = os.waitpid(child, os.WNOHANG)
        if pid:
            assert os.waitstatus_to_exitcode(status) == 0
            return
        time.sleep(0.05)
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
    raise AssertionError("the forked child hung on the analyzer's thread pool")
