"""`analyze --ray` on a real Ray cluster of two node processes (one CPU each) on this machine.

Ray advertises the machine's non-loopback address even when told 127.0.0.1, so the cluster and
its driver run in a subprocess inside a network namespace holding only `lo` (`unshare --net`, as
root): no packet of these tests can leave loopback. Where namespaces are not allowed they skip.
The cluster is started once (start-up is expensive on 2 cores) and runs three jobs.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from classifier.collection.table import read_rows
from classifier.testing.paths import REPO
from tests.support.photo_collections import assert_same_rows, photo_folder

pytest.importorskip("ray", reason="Ray is the optional extra of requirements-ray.txt")
pytestmark = pytest.mark.slow
JOB_TIMEOUT_S = 540


def isolated_network_command() -> list[str]:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("unshare or ip is missing: the Ray tests need a network namespace holding only lo")
    probe = subprocess.run(["unshare", "--net", "ip", "link", "set", "lo", "up"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"network namespaces are not allowed here ({probe.stderr.strip()}): Ray would leave loopback")
    return ["unshare", "--net", "sh", "-c", 'ip link set lo up && exec "$0" "$@"']


@pytest.fixture(scope="module")
def ray_run(tmp_path_factory, fresh_models_dir):
    work = tmp_path_factory.mktemp("ray")
    photos = photo_folder(work / "photos", 6)
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    more = photo_folder(work / "more", 2, start=6)
    crash = photo_folder(work / "crash", 5, start=8)
    shutil.copyfile(next(crash.iterdir()), crash / "crash-once.jpg")
    env = {
        **os.environ,
        "SCENEWEB_MODELS_DIR": str(fresh_models_dir),
        "PYTHONPATH": str(REPO),
        "RAY_USAGE_STATS_ENABLED": "0",
        "SCENEWEB_TORCH_THREADS": "1",
        "SCENEWEB_INFERENCE_MODE": "fused",
    }
    script = [
        sys.executable,
        "-m",
        "tests.support.ray_cluster_job",
        str(photos),
        str(more),
        str(crash),
        str(work),
    ]
    done = subprocess.run(
        isolated_network_command() + script, env=env, cwd=REPO, capture_output=True, text=True, timeout=JOB_TIMEOUT_S
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return work


def local_rows(settings, use_models, models_dir, folders, out: Path) -> list[dict]:
    from django.core.management import call_command

    settings.SCENEWEB_INFERENCE_MODE = "fused"  # as on the cluster
    use_models(models_dir)
    call_command("analyze", *map(str, folders), "--out", str(out), "--workers", "1", stdout=io.StringIO())
    return read_rows(out)


def test_the_cluster_writes_the_rows_a_local_run_writes_and_resumes(ray_run, settings, use_models, fresh_models_dir):
    rows = read_rows(ray_run / "ray.parquet")
    expected = local_rows(
        settings, use_models, fresh_models_dir, [ray_run / "photos", ray_run / "more"], ray_run / "local.jsonl"
    )
    assert_same_rows(rows, expected)
    broken = next(r for r in rows if r["source"].endswith("broken.jpg"))
    assert broken["error_code"] == "corrupt_image"
    assert "2 analysed, 0 failed (none), 7 skipped by --resume" in (ray_run / "resume.log").read_text()


def test_a_worker_killed_mid_run_is_retried_and_no_photo_is_lost_or_written_twice(
    ray_run, settings, use_models, fresh_models_dir
):
    assert (ray_run / "crash" / "crash-once.crashed").exists()  # the worker did die once
    rows = read_rows(ray_run / "crashed.parquet")
    expected = local_rows(settings, use_models, fresh_models_dir, [ray_run / "crash"], ray_run / "crash-local.jsonl")
    assert_same_rows(rows, expected)
    assert len(rows) == 6 and not any(r["error_code"] for r in rows)
