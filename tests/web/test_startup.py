"""Start-up: models load once per process, and without weights the server refuses to start, saying how to fix it."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError

from classifier.checks import MISSING_MODEL_FILE, model_files_check
from classifier.testing.paths import REPO


def start_wsgi(models_dir) -> subprocess.CompletedProcess:
    """Import the WSGI module in a fresh interpreter, as gunicorn or runserver would."""
    env = {**os.environ, "SCENEWEB_MODELS_DIR": str(models_dir), "DJANGO_SETTINGS_MODULE": "sceneweb.settings"}
    code = (
        "import sceneweb.wsgi; from classifier.runtime import get_analyzer; print(get_analyzer.cache_info().currsize)"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_server_refuses_to_start_without_weights(tmp_path):
    result = start_wsgi(tmp_path)
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line == (
        "django.core.exceptions.ImproperlyConfigured: sceneweb cannot start: Weight file "
        f"{tmp_path / 'resnet18_places365.pth.tar'} is missing; run `python manage.py fetch_models` "
        "(or `fetch_models --from DIR` on a machine without internet)."
    )


def test_the_server_loads_the_models_when_it_starts(models_dir):
    result = start_wsgi(models_dir)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"  # the analyzer is already built before any request


def test_check_names_every_missing_model_file(settings, tmp_path):
    settings.SCENEWEB_MODELS_DIR = tmp_path
    errors = model_files_check()
    assert {e.id for e in errors} == {MISSING_MODEL_FILE}
    assert sorted(e.msg for e in errors) == sorted(
        f"{tmp_path / name} is missing; the resnet18 scene model cannot load."
        for name in ("resnet18_places365.pth.tar", "categories_places365.txt", "IO_places365.txt")
    )
    assert errors[0].hint == "Run `python manage.py fetch_models` (or add `--from DIR` on a machine without internet)."


def test_manage_py_check_fails_without_weights(settings, tmp_path):
    settings.SCENEWEB_MODELS_DIR = tmp_path
    with pytest.raises(SystemCheckError, match=r"sceneweb\.E001.*resnet18_places365\.pth\.tar is missing"):
        call_command("check", stdout=StringIO(), stderr=StringIO())


def test_manage_py_check_passes_with_the_models_installed(settings, models_dir, samples_dir):
    settings.SCENEWEB_MODELS_DIR = models_dir  # and the sample photos (`samples_dir`), else a hint
    out = StringIO()
    call_command("check", stdout=out)
    assert "no issues" in out.getvalue()


def test_another_scene_model_is_installed_with_its_own_command(settings, models_dir):
    settings.SCENEWEB_MODELS_DIR = models_dir
    settings.SCENEWEB_SCENE_MODEL = "alexnet"
    (error,) = model_files_check()
    assert error.hint.startswith("Run `python manage.py fetch_models --model alexnet`")


def test_reading_the_inference_settings_leaves_the_thread_count_alone(settings):
    import torch

    from classifier.runtime import inference_settings

    before = torch.get_num_threads()
    settings.SCENEWEB_TORCH_THREADS = before + 1
    assert inference_settings().threads == before + 1
    assert torch.get_num_threads() == before  # only building the analyzer applies it
