"""A gunicorn worker warms up before it serves: decodes (in its decoder child) and analyses of a
photo-sized JPEG, heatmap on, then one analysis request through Django's handler that leaves no
trace (metrics, rate limit)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.wsgi import get_wsgi_application

from classifier import runtime

REPO = Path(__file__).resolve().parents[2]


def test_warm_up_runs_full_analyses_of_a_photo_sized_image(monkeypatch):
    seen = []

    class Recorder:
        def analyze(self, image, **options):
            seen.append((image.format, image.image.size, image.image.mode, options))

    monkeypatch.setattr(runtime, "get_analyzer", lambda: Recorder())
    runtime.warm_up()
    assert seen == [("JPEG", (960, 720), "RGB", {})] * runtime.WARM_UP_PASSES


def test_each_worker_warms_up_after_setting_its_thread_count_then_through_django():
    """In a fresh process: importing the config sets the process's threads and environment."""
    script = (
        "import logging, types, torch; from classifier import runtime; import sceneweb.gunicorn as g; order = []; "
        "runtime.warm_up = lambda: order.append('warm_up'); torch.set_num_threads = order.append; "
        "g.warm_up_request = lambda: order.append('request') or 200; "
        "g.post_fork(types.SimpleNamespace(log=logging.getLogger()), None); "
        "print(order == [g.torch_threads, 'warm_up', 'request'])"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"


@pytest.fixture
def gunicorn_config():
    """sceneweb/gunicorn.py imported in this process, its traces undone after the test: as a config
    module it points PROMETHEUS_MULTIPROC_DIR at a folder of its own (after which /metrics in this
    process read that folder, not the test's counters), sets SCENEWEB_PARALLEL_MODELS and gives
    PyTorch one thread, as gunicorn's master needs."""
    import torch

    environment, threads = dict(os.environ), torch.get_num_threads()
    import sceneweb.gunicorn as config

    yield config
    os.environ.clear()
    os.environ.update(environment)
    torch.set_num_threads(threads)


def served_counts() -> tuple:
    from prometheus_client import REGISTRY

    return (
        REGISTRY.get_sample_value("sceneweb_requests_total", {"endpoint": "analyze", "status": "200"}),
        REGISTRY.get_sample_value("sceneweb_analysis_stage_seconds_count", {"stage": "total"}),
    )


# Django's handler closes stale database connections as a request starts (a real handler, unlike
# the test client's): the tests that hand it a request may touch the database.
@pytest.mark.django_db(transaction=True)
def test_the_warm_up_request_is_analysed_by_django_and_leaves_no_trace(service, frozen_minute, client, gunicorn_config):
    """Behind https redirects, a host list without "testserver", a rate limit of one analysis a
    minute: the warm-up is answered, counted nowhere, and the first visitor still has the slot."""
    config = gunicorn_config
    service.SCENEWEB_RATE_LIMIT = 1
    service.ALLOWED_HOSTS = ["scenes.example.org"]
    service.SECURE_SSL_REDIRECT = True
    service.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    before = served_counts()
    assert config.warm_up_request(get_wsgi_application()) == 200  # built as these settings say
    assert served_counts() == before
    assert service.SCENEWEB_RATE_LIMIT == 1 and service.ALLOWED_HOSTS == ["scenes.example.org"]
    upload = {"image": ("photo.jpg", runtime.warm_up_photo(), "image/jpeg")}
    headers = {"HTTP_HOST": "scenes.example.org", "HTTP_X_FORWARDED_PROTO": "https"}
    first = client.post("/api/analyze", {"image": _file(upload)}, **headers)
    assert first.status_code == 200
    assert client.post("/api/analyze", {"image": _file(upload)}, **headers).status_code == 429


@pytest.mark.django_db(transaction=True)
def test_the_warm_up_request_needs_no_api_key(service, gunicorn_config):
    config = gunicorn_config
    service.SCENEWEB_API_KEYS = ["ops:" + "0" * 64]
    assert config.warm_up_request(get_wsgi_application()) == 200


def _file(upload: dict):
    from django.core.files.uploadedfile import SimpleUploadedFile

    name, data, kind = upload["image"]
    return SimpleUploadedFile(name, data, content_type=kind)
