"""The production server (gunicorn with sceneweb/gunicorn.py) on generated checkpoints: workers
compute after the fork, a killed worker is replaced, a graceful stop finishes what it started.

"In flight" is established, not guessed: the request has been sent, a worker holds the
connection (/proc), and no answer byte has arrived yet.
"""

from __future__ import annotations

import http.client
import json
import os
import select
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from classifier.testing.paths import REPO
from classifier.testing.servers import Gunicorn, drip_server, running_gunicorn
from tests.support.workers import worker_holding

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="finds workers and connections in /proc (Linux)"),
]


def multipart(photo: bytes) -> tuple[bytes, dict[str, str]]:
    prepared = requests.Request("POST", "http://x/", files={"image": ("photo.jpg", photo, "image/jpeg")}).prepare()
    return prepared.body, dict(prepared.headers)


def analyze(server: Gunicorn, photo: bytes) -> requests.Response:
    return requests.post(
        f"{server.url}/api/analyze?heatmap=0", files={"image": ("photo.jpg", photo, "image/jpeg")}, timeout=120
    )


def send_analysis(server: Gunicorn, photo: bytes) -> http.client.HTTPConnection:
    """The request is fully sent when this returns; the answer is left to read."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    body, headers = multipart(photo)
    connection.request("POST", "/api/analyze?heatmap=0", body=body, headers=headers)
    return connection


def worker_computing(server: Gunicorn, connection: http.client.HTTPConnection, timeout: float = 30) -> int:
    """The worker that has accepted this request and not yet answered it."""
    client_port = connection.sock.getsockname()[1]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = worker_holding(server, client_port)
        if pid is not None:
            readable, _, _ = select.select([connection.sock], [], [], 0)
            assert not readable, "the worker answered before the test could interrupt it"
            return pid
        time.sleep(0.005)
    raise AssertionError(f"no worker accepted the request within {timeout} s")


@pytest.fixture(scope="module")
def server(full_models_dir):
    # Two PyTorch threads per worker: the case that hangs when the master's OpenMP pool existed before the fork;
    # and the networks side by side (with the attribute head there are two): their thread pool must
    # start in each worker, not in the master.
    settings = {"SCENEWEB_TORCH_THREADS": "2", "SCENEWEB_PARALLEL_MODELS": "1"}
    with running_gunicorn(full_models_dir, workers=2, threads=1, **settings) as server:
        yield server


def test_workers_analyse_photos_with_several_pytorch_threads_after_the_fork(server, photo_bytes):
    answers = [analyze(server, photo_bytes) for _ in range(4)]

    assert [a.status_code for a in answers] == [200] * 4
    assert all(len(a.json()["scenes"]) == 5 for a in answers)
    assert all(len(a.json()["attributes"]) == 10 for a in answers)  # computed on the pool, beside the scenes
    assert "2 workers x 1 threads, 2 PyTorch threads each" in server.log
    assert "networks side by side: 1" in server.log


def test_the_docker_health_check_passes_against_the_running_server(server):
    probe = subprocess.run(
        [sys.executable, "-m", "sceneweb.healthcheck"],
        cwd=REPO,
        env={**os.environ, "SCENEWEB_BIND": f"127.0.0.1:{server.port}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert probe.returncode == 0, probe.stderr


def test_a_worker_killed_mid_request_is_replaced_and_the_service_keeps_answering(server, photo_bytes):
    before = server.worker_pids()
    connection = send_analysis(server, photo_bytes)
    victim = worker_computing(server, connection)

    os.kill(victim, signal.SIGKILL)

    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        connection.getresponse()
    after = server.wait_for_workers(2, excluding={victim})
    assert len(after) == 2
    assert len(after - before) == 1
    answers = [analyze(server, photo_bytes) for _ in range(3)]
    assert [a.status_code for a in answers] == [200] * 3
    assert f"Worker (pid:{victim}) was sent SIGKILL" in server.log


def test_a_graceful_stop_completes_the_request_in_flight(models_dir, photo_bytes):
    with running_gunicorn(models_dir, workers=1, threads=1) as server:
        connection = send_analysis(server, photo_bytes)
        worker_computing(server, connection)

        server.process.send_signal(signal.SIGTERM)
        answer = connection.getresponse()

        assert answer.status == 200
        assert [s["index"] for s in json.loads(answer.read())["scenes"]] != []
        assert server.process.wait(timeout=60) == 0
        assert "Handling signal: term" in server.log


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"SCENEWEB_TORCH_THREADS": "1"}, "1"),
        ({"SCENEWEB_TORCH_THREADS": "2"}, "0"),
        ({"SCENEWEB_TORCH_THREADS": "1", "SCENEWEB_PARALLEL_MODELS": "0"}, "0"),
    ],
)
def test_the_config_runs_the_networks_side_by_side_when_a_worker_has_one_thread(settings, expected):
    environment = {k: v for k, v in os.environ.items() if k != "SCENEWEB_PARALLEL_MODELS"}
    probe = subprocess.run(
        [sys.executable, "-c", "import os, sceneweb.gunicorn; print(os.environ['SCENEWEB_PARALLEL_MODELS'])"],
        cwd=REPO,
        env={**environment, **settings},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert probe.stdout.strip() == expected


def test_two_slow_drip_urls_in_flight_leave_the_service_answering(models_dir, photo_bytes):
    """One worker, two threads, both fetching from a host that drips a byte at a time: the fetch
    deadline frees them, so ordinary uploads queued behind them are answered, well before the
    drip would have ended by itself (their client gives up long before that)."""
    with (
        drip_server() as drip,
        running_gunicorn(
            models_dir, workers=1, threads=2, SCENEWEB_ALLOW_PRIVATE_URLS="1", SCENEWEB_FETCH_TIMEOUT="3"
        ) as server,
        ThreadPoolExecutor(2) as pool,
    ):
        slow = [
            pool.submit(requests.post, f"{server.url}/api/analyze", json={"url": drip.url}, timeout=200)
            for _ in range(2)
        ]
        deadline = time.monotonic() + 60
        while drip.connections < 2:  # both request threads of the worker are held by the drip
            assert time.monotonic() < deadline, "the worker never fetched the drip URLs"
            time.sleep(0.05)
        answers = [
            requests.post(
                f"{server.url}/api/analyze?heatmap=0",
                files={"image": ("photo.jpg", photo_bytes, "image/jpeg")},
                timeout=60,
            )
            for _ in range(2)
        ]
        assert [a.status_code for a in answers] == [200, 200]
        refused = [future.result() for future in slow]
    assert [(r.status_code, r.json()["code"]) for r in refused] == [(422, "fetch_timeout")] * 2
