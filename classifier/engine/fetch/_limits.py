"""The limits of one fetch: what a caller allows (`FetchPolicy`) and the clock that enforces
the time limit across every step (`Deadline`)."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import suppress
from dataclasses import dataclass

from classifier.engine.errors import FetchFailed


@dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int = 10 * 1024 * 1024
    connect_timeout: float = 5.0
    total_timeout: float = 15.0
    """The whole fetch: DNS, connect, TLS, headers, body and every redirect (see `Deadline`)."""
    max_redirects: int = 3
    allow_loopback: bool = False
    """Test-only (SCENEWEB_ALLOW_PRIVATE_URLS): lets tests serve images from 127.0.0.1.
    Private networks, link-local (metadata) and the rest stay refused even then."""


class Deadline:
    """The one clock of a whole fetch: DNS, connect, TLS, headers, body and every redirect.

    Socket timeouts bound each wait, not their sum: a server sending one byte every half
    second never trips them, whether in the status line, a header, a chunk-size line or the
    body, and http.client reads lines of up to 64 KB. So a timer shuts down every connection
    of the fetch when the time is up: the read blocked then sees end-of-file at once, and
    `fetch_image` reports `fetch_timeout` (checking `expired`, since an end-of-file cut at the
    deadline could otherwise pass for the end of the answer).
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._watched: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def __enter__(self) -> Deadline:
        return self

    def __exit__(self, *exc_info) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._watched:
                sock.close()
            self._watched.clear()

    def error(self) -> FetchFailed:
        return FetchFailed(
            f"The image did not arrive within {self.seconds:g} seconds; try a faster server or upload the file.",
            code="fetch_timeout",
        )

    @property
    def passed(self) -> bool:
        return self.expired or time.monotonic() >= self.ends

    def remaining(self) -> float:
        """Seconds left; raises `fetch_timeout` when none are."""
        if self.passed:
            raise self.error()
        return max(self.ends - time.monotonic(), 0.001)

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down at the deadline. A duplicate descriptor is kept, so a socket closed
        meanwhile (and its number reused by another request) is never touched, and TLS wrapping,
        which detaches the original socket object, does not escape the shutdown."""
        with self._lock:
            if self.expired:  # connected just too late: the next read fails, as `fetch_timeout`
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                return
            self._watched.append(sock.dup())

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._watched:
                with suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
