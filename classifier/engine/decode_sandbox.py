"""Running a decoder on untrusted bytes in a child process that is killed at a deadline.

A decoder bomb runs in C inside Pillow, where nothing in Python can interrupt it: issue 18's
JPEG of thousands of empty scans kept a worker thread busy for minutes after every client had
given up, and only killing the worker stopped it. A process can be killed. So every decode
runs in a child that the caller kills at the deadline, with its address space capped
(`RLIMIT_AS`) so a bomb of memory fails there too, and its CPU capped as a backstop for the
case where its parent died first.

- A child is a fresh interpreter (`python -m classifier.engine.decode_sandbox TARGET`), never a
  fork of the caller: a gunicorn worker has request threads and PyTorch's OpenMP team, whose
  locks a fork would copy half-held. The child imports Pillow and numpy, not PyTorch.
- Each process has its own `DecoderPool`, started by its first decode. gunicorn's master
  (`preload_app`) may have started children before forking workers: a forked process forgets
  them (they and their pipes belong to the master), as `acceleration._pool.PerProcessPool` does
  for threads.
- A child decodes one image at a time; the pool keeps the idle ones and starts another when all
  are busy, so there are as many as images are decoded at once (the worker's threads).
- The messages both ways are a length-prefixed JSON header and raw bytes, never a pickle: a
  child taken over by a malicious file must not be able to run code in its parent through
  what it answers. A request's bytes follow its header on the pipe; an answer's bytes (the
  decoded pixels, megabytes) are written to a memory file the two processes share (`memfd`),
  and only its header crosses the pipe: through the pipe, 1 MB at a time, each chunk was a
  switch between the processes, which cost a 960x720 photo as much as its decode on a busy
  machine (docs/benchmarks.md, "One HTTP analysis, stage by stage"). The parent reads no more
  than the call's memory cap from it, and checks what it reads like anything else the child says.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib
import json
import os
import resource
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from classifier.engine.errors import ImageRejected

FRAME = struct.Struct(">II")  # header length, payload length
ROOT = Path(__file__).resolve().parents[2]
MAX_HEADER = 1 << 16
STARTUP_TIMEOUT_S = 60.0
PIPE_BYTES = 1 << 20
"""Linux's default pipe-max-size; the default 64 KB pipe makes a file of a few MB (a request)
dozens of switches between the two processes, each a wait for a core when the machine is busy
(the answers' pixels do not cross the pipe at all)."""
KEEP_IDLE = 4
"""Idle children kept per process; more are started when more decodes run at once."""
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}
"""numpy's BLAS would otherwise start a thread per core in every child, and glibc reserve 64 MB of
address space per thread that allocates (libheif and libavif decode in threads): both count
against the address-space cap without being used."""

Work = Callable[[bytes, dict], tuple[dict, bytes]]


@dataclass(frozen=True)
class Answer:
    header: dict
    payload: bytes


class SandboxBroken(Exception):
    """The child died or broke the protocol while it had a request; it is not reused."""


class ChildGone(SandboxBroken):
    """The child had died before it was sent the request: a fresh one may take it."""


def answer_file() -> int:
    """A file descriptor for a child's answers: memory only, where Linux has `memfd_create`."""
    if hasattr(os, "memfd_create"):
        return os.memfd_create("sceneweb-decoder-answer", os.MFD_CLOEXEC)
    with tempfile.TemporaryFile() as file:
        return os.dup(file.fileno())


class DecoderChild:
    """One child process, its two pipes and the memory file its answers' bytes come back in."""

    def __init__(self, target: str):
        path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
        self.answers = answer_file()
        self.process = subprocess.Popen(
            [sys.executable, "-m", __name__, target, str(self.answers)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, **ONE_THREAD, "PYTHONPATH": path},
            close_fds=True,
            pass_fds=(self.answers,),
        )
        for pipe in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):  # fewer round trips for a photo's megabytes (Linux)
                fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        try:  # the child says it is ready once its imports are done: they are not the request's time
            read_before(self.process.stdout.fileno(), FRAME.size, time.monotonic() + STARTUP_TIMEOUT_S)
        except (TimeoutError, SandboxBroken):
            self.kill()
            raise RuntimeError(f"the decoder child ({target}) did not start; see its message above") from None

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def ask(self, header: dict, payload: bytes, deadline: float) -> Answer:
        """Send one request and wait for its answer until ``deadline`` (`time.monotonic`); the
        answer's bytes, at most the request's memory cap, are read from the shared file."""
        try:
            send(self.process.stdin, header, payload)
        except (BrokenPipeError, ValueError) as exc:
            raise ChildGone("the decoder child is gone") from exc
        fd = self.process.stdout.fileno()
        answer_length, payload_length = FRAME.unpack(read_before(fd, FRAME.size, deadline))
        if answer_length > MAX_HEADER:
            raise SandboxBroken("the decoder child broke the protocol")
        answer = json.loads(read_before(fd, answer_length, deadline))
        if payload_length > header["memory_mb"] * 2**20:
            raise SandboxBroken("the decoder child answered more bytes than it may hold")
        pixels = os.pread(self.answers, payload_length, 0)
        if len(pixels) != payload_length:
            raise SandboxBroken("the decoder child broke the protocol")
        return Answer(answer, pixels)

    def kill(self) -> None:
        """SIGKILL (a bomb may be in C code that ignores everything else) and reap it."""
        self.process.kill()
        self.process.wait()
        self.abandon()

    def abandon(self) -> None:
        """Close this process's ends of the pipes and the answer file, leaving the child alone."""
        for pipe in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                pipe.close()
        with contextlib.suppress(OSError):
            os.close(self.answers)


class DecoderPool:
    """The children of this process that run ``target`` ("module:function"), started on demand."""

    def __init__(self, target: str, keep_idle: int = KEEP_IDLE):
        self.target, self.keep_idle = target, keep_idle
        self._idle: list[DecoderChild] = []
        self._lock = threading.Lock()
        forget = weakref.WeakMethod(self._forget)  # a registered hook is never removed: do not keep the pool alive
        os.register_at_fork(after_in_child=lambda: forget() and forget()())

    def _forget(self) -> None:
        """In a forked process: the children and their pipes are the parent's; the lock may be held."""
        for child in self._idle:
            child.abandon()
        self._idle, self._lock = [], threading.Lock()

    def run(self, payload: bytes, options: dict, *, timeout_s: float, memory_mb: int) -> Answer:
        """``target(payload, options)`` in a child; a refusal there is raised here as the same
        `ImageRejected`, a child past the deadline is killed and the call refused. The deadline
        starts once a child is ready: starting one is not the image's time."""
        header = {"options": options, "timeout_s": timeout_s, "memory_mb": memory_mb}
        try:
            return self._ask(self._take(), header, payload)
        except ChildGone:  # an idle child that died since its last answer (killed, OOM): a fresh one
            return self._ask(DecoderChild(self.target), header, payload)

    def _ask(self, child: DecoderChild, header: dict, payload: bytes) -> Answer:
        timeout_s = header["timeout_s"]
        try:
            answer = child.ask(header, payload, time.monotonic() + timeout_s)
        except TimeoutError:
            child.kill()
            raise ImageRejected(
                f"Decoding this image took longer than {timeout_s:g} s and was stopped; "
                "it may be built to exhaust the decoder. Please send an ordinary photo.",
                code="decode_timeout",
            ) from None
        except ChildGone:
            child.kill()
            raise
        except SandboxBroken:
            child.kill()
            raise ImageRejected(
                "The decoder stopped on this image (it may need more memory than allowed); please send "
                "an ordinary photo.",
                code="decoder_crashed",
            ) from None
        except BaseException:
            child.kill()
            raise
        if answer.header.get("last"):
            child.kill()
        else:
            self._give_back(child)
        return checked(answer)

    def _take(self) -> DecoderChild:
        with self._lock:
            while self._idle:
                child = self._idle.pop()
                if child.alive:
                    return child
                child.kill()
        return DecoderChild(self.target)

    def _give_back(self, child: DecoderChild) -> None:
        if not child.alive:
            child.kill()
            return
        with self._lock:
            if len(self._idle) < self.keep_idle:
                self._idle.append(child)
                return
        child.kill()

    def close(self) -> None:
        """Stop every idle child (tests, and a clean exit; they also stop when this process ends)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for child in idle:
            child.kill()

    def idle_pids(self) -> list[int]:
        with self._lock:
            return [child.process.pid for child in self._idle]


def checked(answer: Answer) -> Answer:
    """A refusal from the child becomes the parent's `ImageRejected`; anything else passes as is."""
    if not answer.header.get("ok"):
        raise ImageRejected(str(answer.header.get("message", "")), code=str(answer.header.get("code", "corrupt_image")))
    return answer


def send(stream, header: dict, payload: bytes, payload_file: int | None = None) -> None:
    """A header and its bytes: after it on ``stream``, or, with ``payload_file``, written there first."""
    encoded = json.dumps(header).encode()
    if payload_file is not None:
        os.ftruncate(payload_file, len(payload))
        os.pwrite(payload_file, payload, 0)
    stream.write(FRAME.pack(len(encoded), len(payload)) + encoded)
    if payload_file is None:
        stream.write(payload)
    stream.flush()


def read_before(fd: int, size: int, deadline: float) -> bytes:
    """Exactly ``size`` bytes from ``fd``; `TimeoutError` at the deadline, `SandboxBroken` at EOF."""
    chunks, missing = [], size
    while missing:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError
        chunk = os.read(fd, min(missing, 1 << 20))
        if not chunk:
            raise SandboxBroken("the decoder child stopped")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def read_exactly(stream, size: int) -> bytes | None:
    data = stream.read(size)
    return data if len(data) == size else None


# -- in the child ---------------------------------------------------------------------------------


def limit_resources(memory_mb: int, timeout_s: float) -> None:
    """Cap this child for the next request: its address space at what it holds now plus
    ``memory_mb`` (Linux, where /proc says what it holds; elsewhere only the deadline holds),
    its CPU time at what it has used plus twice the deadline (the parent kills it at the
    deadline; this stops it if the parent is gone). Soft limits only, so the next request may
    set other ones."""
    held = address_space()
    if held is not None:
        resource.setrlimit(resource.RLIMIT_AS, (held + memory_mb * 2**20, resource.RLIM_INFINITY))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = int(usage.ru_utime + usage.ru_stime + 2 * timeout_s) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, resource.RLIM_INFINITY))


def address_space() -> int | None:
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    except OSError:
        return None


def serve(work: Work, answer_file: int) -> None:
    """Answer requests on stdin until it closes, each answer's bytes in ``answer_file``. A
    MemoryError is answered, then the child ends: after an allocation failed halfway, its state
    is not to be trusted with the next file."""
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a stray print must not corrupt the answers
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is for the parent; the child ends with its pipe
    answers.write(FRAME.pack(0, 0))  # ready
    answers.flush()
    while (frame := read_exactly(requests, FRAME.size)) is not None:
        header_length, payload_length = FRAME.unpack(frame)
        header = json.loads(read_exactly(requests, header_length) or b"{}")
        payload = read_exactly(requests, payload_length) or b""
        limit_resources(header["memory_mb"], header["timeout_s"])
        try:
            answer, pixels = work(payload, header["options"])
            answer = {"ok": True, **answer}
        except ImageRejected as refused:
            answer, pixels = {"ok": False, "code": refused.code, "message": refused.message}, b""
        except MemoryError:
            limit = header["memory_mb"]
            message = f"Decoding this image needs more than the {limit} MB allowed; please send a smaller photo."
            answer, pixels = {"ok": False, "code": "decode_memory", "message": message, "last": True}, b""
        send(answers, answer, pixels, answer_file)
        if answer.get("last"):
            return


def main(target: str, answer_file: str) -> None:
    module, _, name = target.partition(":")
    serve(getattr(importlib.import_module(module), name), int(answer_file))


if __name__ == "__main__":
    main(*sys.argv[1:3])
