"""A gunicorn worker warms up before it serves: decodes (in its decoder child) and analyses of a
photo-sized JPEG, heatmap on."""

import subprocess
import sys
from pathlib import Path

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


def test_each_worker_warms_up_after_setting_its_thread_count():
    """In a fresh process: importing the config sets the process's threads and environment."""
    script = (
        "import torch; from classifier import runtime; import sceneweb.gunicorn as g; order = []; "
        "runtime.warm_up = lambda: order.append('warm_up'); torch.set_num_threads = order.append; "
        "g.post_fork(None, None); print(order == [g.torch_threads, 'warm_up'])"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "True"
