"""gunicorn with the production config (sceneweb/gunicorn.py) on 127.0.0.1, for the tests and
bench/load.py, and a hostile image host to point it at (`drip_server`).

The server binds port 0 and reports the port the kernel chose, so parallel runs never collide.
Workers are found through /proc (Linux), which also tells their memory.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from classifier.testing.paths import REPO

LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")
WORKER_COUNT = re.compile(r"sceneweb: (\d+) workers")  # logged by sceneweb/gunicorn.py when ready
WARM = re.compile(r"sceneweb: worker (\d+) warm in")  # logged by each worker, sceneweb/gunicorn.py's post_fork


class ServerFailed(RuntimeError):
    pass


@dataclass
class Gunicorn:
    process: subprocess.Popen
    log_path: Path
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> set[int]:
        return children_of(self.process.pid)

    def wait_for_workers(self, count: int, *, excluding: set[int] = frozenset(), timeout: float = 60) -> set[int]:
        """The worker PIDs once `count` of them (none in `excluding`) are up, warm (each logged it after
        its warm-up) and answering."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pids = self.worker_pids()
            warm = {int(pid) for pid in WARM.findall(self.log)}
            if len(pids) >= count and not pids & excluding and pids <= warm:
                wait_until_healthy(self, timeout=deadline - time.monotonic())
                return pids
            self.fail_if_exited()
            time.sleep(0.1)
        raise ServerFailed(f"{count} workers did not come up within {timeout} s; log:\n{self.log[-3000:]}")

    def fail_if_exited(self) -> None:
        if self.process.poll() is not None:
            raise ServerFailed(f"gunicorn exited with {self.process.returncode}; log:\n{self.log[-3000:]}")

    def stop(self, timeout: float = 60) -> int:
        """Graceful stop (SIGTERM); a server still running after `timeout` is killed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            return self.process.wait(timeout=10)


def server_environment(models_dir: Path, **settings: str) -> dict[str, str]:
    """The production config with the models in `models_dir`; the rate limit is off (one client, many requests)."""
    return {
        **os.environ,
        "SCENEWEB_MODELS_DIR": str(models_dir),
        "SCENEWEB_BIND": "127.0.0.1:0",
        "SCENEWEB_RATE_LIMIT": "0",
        "DJANGO_DEBUG": "0",
        "PYTHONUNBUFFERED": "1",
        **settings,
    }


@contextmanager
def running_gunicorn(
    models_dir: Path,
    *,
    workers: int | None = None,
    threads: int | None = None,
    start_timeout: float = 120,
    **settings: str,
) -> Iterator[Gunicorn]:
    """Start `gunicorn -c sceneweb/gunicorn.py` (workers and threads: the config's defaults unless
    given), wait until every worker answers /api/health, stop it gracefully after."""
    if workers is not None:
        settings["SCENEWEB_WORKERS"] = str(workers)
    if threads is not None:
        settings["SCENEWEB_THREADS"] = str(threads)
    log_dir = Path(tempfile.mkdtemp(prefix="sceneweb-gunicorn-"))
    log_path = log_dir / "gunicorn.log"
    settings.setdefault("SCENEWEB_CACHE_DIR", str(log_dir / "cache"))  # its workers' shared cache, nobody else's
    # its converted networks too: a session's shared models folder stays as the fixtures made it
    settings.setdefault("SCENEWEB_INFERENCE_CACHE_DIR", str(log_dir / "converted"))
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "sceneweb/gunicorn.py"],
            cwd=REPO,
            env=server_environment(models_dir, **settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a failed test can kill all of it
        )
    server = Gunicorn(process, log_path)
    try:
        server.port = wait_for_log(server, LISTENING, timeout=start_timeout)
        server.wait_for_workers(wait_for_log(server, WORKER_COUNT, timeout=start_timeout), timeout=start_timeout)
        yield server
    finally:
        server.stop()


def wait_for_log(server: Gunicorn, pattern: re.Pattern, *, timeout: float) -> int:
    """The number the first match of `pattern` in the server's log captures."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = pattern.search(server.log)
        if found:
            return int(found.group(1))
        server.fail_if_exited()
        time.sleep(0.1)
    raise ServerFailed(f"gunicorn did not log {pattern.pattern!r} within {timeout} s; log:\n{server.log[-3000:]}")


def wait_until_healthy(server: Gunicorn, *, timeout: float) -> dict:
    deadline = time.monotonic() + max(timeout, 1)
    while True:
        try:
            with urllib.request.urlopen(f"{server.url}/api/health", timeout=10) as answer:
                return json.load(answer)
        except urllib.error.HTTPError as error:
            raise ServerFailed(f"/api/health answered {error.code}; log:\n{server.log[-3000:]}") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError):  # a worker still warming up
            server.fail_if_exited()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


# -- /proc -------------------------------------------------------------------------------------


def children_of(pid: int) -> set[int]:
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[1]) == pid:
            children.add(int(stat.parent.name))
    return children


def memory_kb(pid: int) -> dict[str, int]:
    """Rss, Pss, Shared_* and Private_* of a process in kB (/proc/PID/smaps_rollup)."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0])
    return fields


# -- a hostile image host ----------------------------------------------------------------------


@dataclass
class Drip:
    url: str
    connections: int = 0


@contextmanager
def drip_server(*, interval: float = 0.25, limit_s: float = 150) -> Iterator[Drip]:
    """An image host from hell: it answers every request one byte every `interval` seconds, in a
    header line that never ends (for at most `limit_s`, so a broken test still stops)."""
    listener = socket.create_server(("127.0.0.1", 0))
    drip = Drip(f"http://127.0.0.1:{listener.getsockname()[1]}/photo.jpg")
    stop = threading.Event()

    def serve(connection: socket.socket) -> None:
        with connection, suppress(OSError):
            connection.recv(65536)
            drip.connections += 1
            deadline = time.monotonic() + limit_s
            for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000:
                if stop.is_set() or time.monotonic() > deadline:
                    return
                connection.sendall(bytes([byte]))
                time.sleep(interval)

    def accept() -> None:
        with suppress(OSError):
            while True:
                threading.Thread(target=serve, args=(listener.accept()[0],), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield drip
    finally:
        stop.set()
        listener.close()
