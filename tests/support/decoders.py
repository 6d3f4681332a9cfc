"""Stand-in decoders for the sandbox tests: each misbehaves the way a decoder bomb would, in a
decoder child (`DecoderPool("tests.support.decoders:NAME")`)."""

from __future__ import annotations

import os
import signal
import time


def echo(data: bytes, options: dict) -> tuple[dict, bytes]:
    """Answers with the bytes it was given and its own process id."""
    print("a stray print goes to stderr, not into the answer")
    return {"pid": os.getpid(), **options}, data


def spin(data: bytes, options: dict) -> tuple[dict, bytes]:
    """Burns CPU for ``seconds``, as libjpeg does on a scan bomb (no Python signal reaches C code)."""
    stop = time.monotonic() + options["seconds"]
    while time.monotonic() < stop:
        pass
    return {"pid": os.getpid()}, b""


def hungry(data: bytes, options: dict) -> tuple[dict, bytes]:
    """Asks for ``mb`` megabytes at once, as a decoder allocating a huge image would."""
    block = bytearray(options["mb"] * 2**20)
    return {"pid": os.getpid(), "got": len(block)}, b""


def crash(data: bytes, options: dict) -> tuple[dict, bytes]:
    """Dies the way a decoder with a memory bug does."""
    os.kill(os.getpid(), signal.SIGSEGV)
    return {}, b""
