"""Model files fetched by one user are readable by another: the deploy guide's Docker path, where the
host's `sceneweb` user runs `fetch_models` and the container's uid 10001 serves them. The steps run
as two real users (the test suite runs as root and drops privileges in the child processes); a file
that still cannot be read is said to be a permission problem, not a corrupt file."""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from io import StringIO
from pathlib import Path

import pytest
import torch
from django.core.management import call_command

from classifier.engine import catalogue, installer
from classifier.testing.paths import REPO

HOST_USER = 10002  # the guide's `sceneweb` user on the host
CONTAINER_USER = 10001  # the image's USER
WEIGHTS = catalogue.asset_spec("resnet18_places365").filename
DEPLOY_GUIDE = (REPO / "docs" / "deploy-ec2.md").read_text()

FORK = multiprocessing.get_context("fork")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="acting as two users needs root")


def test_installed_model_files_are_readable_by_every_user(tmp_path, release_dir):
    installer.install_from_dir("resnet18_places365", tmp_path, release_dir)
    assert stat.S_IMODE((tmp_path / WEIGHTS).stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "manifest.json").stat().st_mode) == 0o644


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder every user may enter (pytest's own tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="sceneweb-uids-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def as_user(uid: int, work: Callable[[], str]) -> str:
    """What `work` returns when run by `uid`: in a forked child that drops root (the interpreter itself
    lives where another user may not read, so a fresh one could not start), or its error's words."""
    results = FORK.Queue()

    def child() -> None:
        torch.set_num_threads(1)  # OpenMP's thread team does not survive a fork (sceneweb/gunicorn.py)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        try:
            results.put(work())
        except Exception as exc:  # the words are the point of the test
            results.put(f"{type(exc).__name__}: {exc}")

    process = FORK.Process(target=child)
    process.start()
    answer = results.get(timeout=300)
    process.join(timeout=60)
    return answer


def fetch_models(settings, models_dir: Path, *args: str) -> Callable[[], str]:
    def run() -> str:
        settings.SCENEWEB_MODELS_DIR = models_dir
        out = StringIO()
        call_command("fetch_models", *args, stdout=out)
        return out.getvalue()

    return run


@needs_root
def test_files_fetched_by_the_host_user_are_read_by_the_containers_user(shared_tmp, release_dir, settings):
    brought = shared_tmp / "release"
    shutil.copytree(release_dir, brought)
    for item in (brought, *brought.iterdir()):
        os.chown(item, HOST_USER, HOST_USER)  # the files the host user brought along
    models = shared_tmp / "models"
    models.mkdir(mode=0o755)
    os.chown(models, HOST_USER, HOST_USER)  # `sudo -u sceneweb mkdir -p /srv/sceneweb/models`
    fetched = as_user(HOST_USER, fetch_models(settings, models, "--from", str(brought)))
    assert f"copied   {WEIGHTS}" in fetched, fetched
    assert (models / WEIGHTS).stat().st_uid == HOST_USER
    checked = as_user(CONTAINER_USER, fetch_models(settings, models, "--check"))
    assert re.search(rf"^ok +{re.escape(WEIGHTS)} ", checked, re.MULTILINE), checked


@needs_root
def test_a_file_the_server_may_not_read_is_called_a_permission_problem(shared_tmp, models_dir):
    models = shared_tmp / "models"
    shutil.copytree(models_dir, models)
    models.chmod(0o755)
    (models / WEIGHTS).chmod(0o600)  # owned by root
    checked = as_user(CONTAINER_USER, lambda: "\n".join(s.detail for s in installer.check(models)))
    line = next(line for line in checked.splitlines() if WEIGHTS in line)
    assert (
        f"{models / WEIGHTS} cannot be read: permission denied (owner uid 0, mode 0600; this process runs as "
        f"uid {CONTAINER_USER}). Make it readable by that user" in line
    )
    assert "corrupt" not in line


def test_the_guides_docker_run_serves_the_models_from_where_the_volume_is_mounted():
    """The env file names the host's folder; inside the container the models are where `-v` mounts them."""
    run = re.search(r"docker run .*?sceneweb\n", DEPLOY_GUIDE.replace("\\\n", " "), re.DOTALL).group(0)
    env_file = re.search(r"^SCENEWEB_MODELS_DIR=(\S+)$", DEPLOY_GUIDE, re.MULTILINE).group(1)
    overrides = dict(re.findall(r"-e (\w+)=(\S+)", run))
    served = overrides.get("SCENEWEB_MODELS_DIR", env_file if "--env-file" in run else None)
    mounted = re.search(r"-v ([^:\s]+):([^:\s]+)", run)
    assert mounted.group(1) == env_file  # the folder fetch_models filled on the host
    assert served == mounted.group(2) == "/app/models"
    assert "SCENEWEB_MODELS_DIR=/app/models" in (REPO / "Dockerfile").read_text()
