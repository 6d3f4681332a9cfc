"""The decoder children: a decode past its deadline is killed, one past its memory cap fails,
a crash is a refusal, and the pool is healthy after each; forked processes and threads get
children of their own."""

from __future__ import annotations

import os
import threading

import pytest

from classifier.engine import imaging
from classifier.engine.decode_sandbox import DecoderPool
from classifier.engine.errors import ImageRejected
from classifier.engine.image_checks import ImageLimits
from classifier.engine.imaging import decode_image
from tests.support.images import jpeg, photo, scan_bomb_jpeg


@pytest.fixture
def pool():
    started = DecoderPool("tests.support.decoders:echo")
    yield started
    started.close()


def ask(pool: DecoderPool, target: str, options: dict, *, timeout_s: float = 10.0, memory_mb: int = 256):
    pool.target = f"tests.support.decoders:{target}"
    return pool.run(b"", options, timeout_s=timeout_s, memory_mb=memory_mb)


def is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_child_answers_with_the_bytes_and_header_and_is_kept_for_the_next_decode(pool):
    first = pool.run(b"\x00\xffpixels", {"n": 1}, timeout_s=10, memory_mb=256)
    assert first.payload == b"\x00\xffpixels"
    assert first.header["n"] == 1 and first.header["pid"] != os.getpid()
    second = pool.run(b"more", {"n": 2}, timeout_s=10, memory_mb=256)
    assert second.header["pid"] == first.header["pid"]
    assert pool.idle_pids() == [first.header["pid"]]


def test_an_answer_larger_than_the_pipe_comes_back_whole_through_the_shared_file(pool):
    pixels = os.urandom(5 * 2**20)  # five times the 1 MB pipe
    first = pool.run(pixels, {}, timeout_s=10, memory_mb=256)
    second = pool.run(b"short", {}, timeout_s=10, memory_mb=256)  # the file shrinks to the next answer
    assert first.payload == pixels and second.payload == b"short"
    assert second.header["pid"] == first.header["pid"]


def test_an_answer_larger_than_the_memory_cap_is_refused_and_its_child_replaced(pool):
    # echo answers with the very bytes it was sent, read before the cap applies: 2 MB against 1 MB
    pid = pool.run(b"", {}, timeout_s=10, memory_mb=256).header["pid"]
    with pytest.raises(ImageRejected) as refused:
        pool.run(b"\0" * 2 * 2**20, {}, timeout_s=10, memory_mb=1)
    assert refused.value.code == "decoder_crashed" and is_gone(pid)
    assert pool.run(b"after", {}, timeout_s=10, memory_mb=256).payload == b"after"


def test_a_decode_past_its_deadline_is_killed_and_the_next_one_works(pool):
    ask(pool, "spin", {"seconds": 0})
    [spinner] = pool.idle_pids()
    with pytest.raises(ImageRejected) as refused:
        ask(pool, "spin", {"seconds": 60}, timeout_s=0.5)
    assert refused.value.code == "decode_timeout"
    assert "0.5 s" in refused.value.message
    assert is_gone(spinner), "the child still burns CPU"
    assert pool.idle_pids() == []
    assert ask(pool, "spin", {"seconds": 0}).header["pid"] != spinner


def test_a_decode_past_its_memory_cap_fails_in_the_child_and_the_next_one_works(pool):
    assert ask(pool, "hungry", {"mb": 64}, memory_mb=256).header["got"] == 64 * 2**20
    with pytest.raises(ImageRejected) as refused:
        ask(pool, "hungry", {"mb": 2048}, memory_mb=256)
    assert refused.value.code == "decode_memory"
    assert "256 MB" in refused.value.message
    assert ask(pool, "hungry", {"mb": 64}, memory_mb=256).header["got"] == 64 * 2**20


def test_a_crashing_decoder_is_a_refusal_and_is_replaced(pool):
    with pytest.raises(ImageRejected) as refused:
        ask(pool, "crash", {})
    assert refused.value.code == "decoder_crashed"
    assert pool.idle_pids() == []
    assert ask(pool, "echo", {}).payload == b""


def test_an_idle_child_that_died_is_replaced_without_failing_the_decode(pool):
    pool.run(b"", {}, timeout_s=10, memory_mb=256)
    [child] = pool.idle_pids()
    os.kill(child, 9)
    os.waitpid(child, 0)
    assert pool.run(b"x", {}, timeout_s=10, memory_mb=256).header["pid"] != child


def test_decodes_at_once_in_several_threads_each_get_a_child(pool):
    pids, barrier = [], threading.Barrier(3)

    def decode() -> None:
        barrier.wait()
        pids.append(ask(pool, "spin", {"seconds": 0.5}).header["pid"])

    ask(pool, "spin", {"seconds": 0})
    threads = [threading.Thread(target=decode) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(pids)) == 3
    assert sorted(pool.idle_pids()) == sorted(pids)


def test_a_forked_process_starts_children_of_its_own_and_leaves_the_parents_alone(pool):
    """gunicorn's preload_app: the master's pool is copied into each worker by a fork."""
    [parents] = [pool.run(b"", {}, timeout_s=10, memory_mb=256).header["pid"]]
    read, write = os.pipe()
    forked = os.fork()
    if forked == 0:  # the "worker"
        try:
            os.close(read)
            own = pool.run(b"", {}, timeout_s=10, memory_mb=256).header["pid"]
            os.write(write, str(own).encode())
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 64)
    os.waitpid(forked, 0)
    assert answer and int(answer) != parents
    assert pool.idle_pids() == [parents]
    assert pool.run(b"", {}, timeout_s=10, memory_mb=256).header["pid"] == parents


def test_a_scan_bomb_let_past_the_scan_count_is_stopped_at_the_deadline():
    """The scan check off: libjpeg walks 3000 x 3000 pixels 5000 times (seconds of CPU,
    docs/benchmarks.md); the child is killed at 0.5 s and the next photo decodes."""
    limits = ImageLimits(max_scans=10**9, decode_timeout_s=0.5)
    with pytest.raises(ImageRejected) as refused:
        decode_image(scan_bomb_jpeg(side=3000, scans=5000), limits)
    assert refused.value.code == "decode_timeout"
    assert decode_image(jpeg(photo((64, 48)))).image.size == (64, 48)


def test_the_decode_entry_point_runs_pillow_in_a_child_not_in_this_process(monkeypatch):
    def fail(*args):
        raise AssertionError("decoded in the calling process")

    monkeypatch.setattr(imaging, "decode_pixels", fail)
    assert decode_image(jpeg(photo((64, 48)))).image.size == (64, 48)
    assert imaging.DECODERS.idle_pids()


def test_a_child_that_answers_a_wrong_size_is_refused():
    with pytest.raises(ImageRejected) as refused:
        imaging._working_image({"size": [4, 4]}, b"\0" * 47, ImageLimits())
    assert refused.value.code == "decoder_crashed"
    with pytest.raises(ImageRejected):
        imaging._working_image({"size": [5000, 4]}, b"\0" * 60000, ImageLimits())
