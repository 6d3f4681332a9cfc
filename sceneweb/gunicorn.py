"""gunicorn configuration for production: `gunicorn -c sceneweb/gunicorn.py` from the project root.

- The app (and with it the model weights) is loaded once in the master (`preload_app`); the
  forked workers share those pages copy-on-write instead of each holding its own copy.
- The cores are divided, not oversubscribed: each worker runs `threads` requests at a time and
  gives PyTorch `torch_threads` intra-op threads, so workers x threads x torch threads stays
  within the cores (each PyTorch thread busy-waits on its core; two teams on one core thrash).
- The master runs PyTorch single-threaded (its warm-up included): GNU OpenMP, which PyTorch's
  CPU wheels use, does not survive a fork once its thread team exists, and a worker forked from
  a master that ran a multi-threaded operation can hang on its first one (reproduced here with
  a 512 x 512 matmul). Each worker sets its own thread count after the fork.

Every value comes from the environment (docs/settings.md); defaults derive from the cores
this process may use.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from classifier.engine.acceleration import choose_device
from sceneweb.env import env_int, env_str


def available_cpus() -> int:
    """Cores this process may run on: a container's or taskset's CPU set, not the host's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def torch_threads_per_worker(cpus: int, workers: int, threads: int) -> int:
    """An equal share of the cores for each request a worker may be computing at once."""
    return max(1, cpus // (workers * threads))


CPUS = available_cpus()

wsgi_app = "sceneweb.wsgi:application"
bind = env_str("SCENEWEB_BIND", "127.0.0.1:8000")
workers = env_int("SCENEWEB_WORKERS", CPUS, minimum=1)
# Two threads: a worker waiting on an upload or a fetched image URL still serves another request.
threads = env_int("SCENEWEB_THREADS", 2, minimum=1)
worker_class = "gthread"
# The same variable the app reads (0 = automatic); here automatic means a fair share of the cores.
torch_threads = env_int("SCENEWEB_TORCH_THREADS", 0, minimum=0) or torch_threads_per_worker(CPUS, workers, threads)
# CUDA does not survive a fork: with a GPU each worker loads its own models (no preload, and
# no analysis in the master); on a CPU the workers share the master's pages copy-on-write.
ON_GPU = choose_device(env_str("SCENEWEB_DEVICE", "auto")) == "cuda"
preload_app = not ON_GPU
# With one PyTorch thread per worker, an analysis still uses two cores by running its two networks
# side by side (docs/benchmarks.md, "Load test"); set before the app, which reads it, is loaded.
os.environ.setdefault("SCENEWEB_PARALLEL_MODELS", "1" if torch_threads == 1 else "0")

# A worker silent for this long is killed and replaced; an analysis takes well under a second.
timeout = env_int("SCENEWEB_TIMEOUT", 60, minimum=1)
graceful_timeout = env_int("SCENEWEB_GRACEFUL_TIMEOUT", 30, minimum=1)
keepalive = 5  # behind nginx or a load balancer, which keep connections open
# Recycling workers bounds any slow leak; the jitter keeps them from restarting all at once.
max_requests = env_int("SCENEWEB_MAX_REQUESTS", 2000, minimum=0)
max_requests_jitter = max_requests // 10

accesslog = "-"
errorlog = "-"
loglevel = "info"
# request_id: the id the app answered in X-Request-ID (classifier/requestid.py), as in its own lines
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms pid=%(p)s request_id=%({x-request-id}o)s'
proc_name = "sceneweb"
# The control socket sits at one path per user, which a second instance on the host would take
# over; systemd and Docker signal the master directly.
control_socket_disable = True

torch.set_num_threads(1)  # in the master, before the app loads (see the module docstring)

# /metrics adds up every worker's numbers (prometheus_client's multiprocess mode): each process
# writes them under this folder, which must be set before the app imports prometheus_client.
OWN_METRICS_DIR = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")  # else the operator's, kept at exit
if OWN_METRICS_DIR:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="sceneweb-metrics-")
METRICS_DIR = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def on_starting(server) -> None:
    """A folder left by an earlier run would add its counts to ours: start from nothing."""
    for stale in METRICS_DIR.glob("*.db"):
        stale.unlink()


def child_exit(server, worker) -> None:
    """A worker that exits (recycled, killed) stops counting in the live gauges (analyses in flight)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server) -> None:
    if OWN_METRICS_DIR:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)


def when_ready(server) -> None:
    """In the master, before the fork: one analysis initialises PyTorch's lazy state (kernels,
    oneDNN primitives) once for every worker, so no visitor pays for it."""
    from PIL import Image

    from classifier.runtime import get_analyzer

    torch.set_num_threads(1)  # again: loading the app applies SCENEWEB_TORCH_THREADS, meant for the workers
    # Not on a GPU, nor with OpenVINO: a model it has run in the master crashes every forked worker.
    if not ON_GPU and not get_analyzer().inference.mode.startswith("openvino"):
        get_analyzer().analyze(Image.new("RGB", (320, 240), (120, 140, 160)))
    server.log.info(
        "sceneweb: %d workers x %d threads, %d PyTorch threads each, on %d cores; networks side by side: %s",
        workers,
        threads,
        torch_threads,
        CPUS,
        os.environ["SCENEWEB_PARALLEL_MODELS"],
    )


def post_fork(server, worker) -> None:
    """In each worker, before it accepts a connection: its thread count, then warm-up passes at that
    count and one analysis request through Django, so the first visitor is served as fast as the
    tenth (a worker that answers health is warm)."""
    from classifier.runtime import warm_up

    started = time.perf_counter()
    torch.set_num_threads(torch_threads)
    warm_up()
    status = warm_up_request()
    if status != 200:
        server.log.warning("sceneweb: the warm-up request answered %s; the first analysis will be slower", status)
    server.log.info("sceneweb: worker %d warm in %.1f s", os.getpid(), time.perf_counter() - started)


def warm_up_request(application=None) -> int:
    """`POST /api/analyze` of a photo, heatmap on, handed to a WSGI application (by default the
    one gunicorn serves, `wsgi_app`) without a network; its status. The passes of `warm_up` leave
    Django's own first request (URL resolver, middleware, view, JSON, PNG encoding) to the first
    visitor, whose analysis then took 2.3-2.6x the tenth's (docs/benchmarks.md, "Warm-up").

    It leaves no trace: no rate-limit slot or API key is needed (settings overridden while
    nothing else runs in this process), nothing is counted in /metrics (`metrics.uncounted`), and
    a successful analysis writes no log line; gunicorn's access log never sees it.
    """
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import RequestFactory, override_settings

    from classifier import metrics
    from classifier.runtime import warm_up_photo

    if application is None:
        from sceneweb.wsgi import application

    extra = {}
    if settings.SECURE_PROXY_SSL_HEADER:  # an https request as the proxy says it, or SSL redirects answer 301
        header, value = settings.SECURE_PROXY_SSL_HEADER
        extra[header] = value
    photo = SimpleUploadedFile("warm-up.jpg", warm_up_photo(), content_type="image/jpeg")
    request = RequestFactory(secure=True).post("/api/analyze", {"image": photo}, **extra)
    answer = []
    quiet = override_settings(
        ALLOWED_HOSTS=["testserver"], SCENEWEB_RATE_LIMIT=0, SCENEWEB_API_KEYS=[], SCENEWEB_API_KEYS_FILE=""
    )
    with quiet, metrics.uncounted():
        body = application(request.environ, lambda status, headers, *exc_info: answer.append(int(status[:3])))
        b"".join(body)
        getattr(body, "close", lambda: None)()
    return answer[0]
