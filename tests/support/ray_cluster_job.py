"""Run in a subprocess inside a network namespace holding only `lo` (tests/collection/test_ray.py):
a real Ray cluster of two node processes with one CPU each, then the three collection jobs.

Usage: ray_cluster_job.py PHOTOS MORE_PHOTOS CRASH_PHOTOS WORKDIR
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import django


def main(photos: str, more: str, crash: str, workdir: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sceneweb.settings")
    django.setup()
    import ray
    from django.core.management import call_command
    from ray.cluster_utils import Cluster

    from classifier.collection import inputs
    from classifier.collection.ray_runner import run_on_ray
    from classifier.collection.rows import Job
    from classifier.runtime import analyzer_recipe, fetch_policy, image_limits
    from tests.support.ray_faults import CrashOnceActor

    node = {"num_cpus": 1, "object_store_memory": 80 * 2**20, "include_dashboard": False}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "node_ip_address": "127.0.0.1"})
    cluster.add_node(num_cpus=1, object_store_memory=80 * 2**20, node_ip_address="127.0.0.1")
    cluster.wait_for_nodes()
    try:
        out = str(Path(workdir) / "ray.parquet")
        call_command("analyze", photos, "--out", out, "--ray", cluster.address, stdout=io.StringIO())
        log = io.StringIO()
        call_command("analyze", photos, more, "--out", out, "--ray", cluster.address, "--resume", stdout=log)
        (Path(workdir) / "resume.log").write_text(log.getvalue())
        job = Job(image_limits(), fetch_policy())
        sources = list(inputs.collect([crash]))
        crashed = str(Path(workdir) / "crashed.parquet")
        run_on_ray(sources, analyzer_recipe(), job, crashed, cluster.address, actor=CrashOnceActor)
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:])
