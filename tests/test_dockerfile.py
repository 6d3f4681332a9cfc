"""The Dockerfile, read the way .ci/dockerfile_steps.py reads it (CI then runs those steps)."""

from __future__ import annotations

import importlib.util
import re
import sys

from classifier.testing.paths import REPO


def dockerfile_steps():
    spec = importlib.util.spec_from_file_location("dockerfile_steps", REPO / ".ci" / "dockerfile_steps.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


steps = dockerfile_steps()
DOCKERFILE = steps.parse((REPO / "Dockerfile").read_text())


def test_the_image_serves_with_gunicorn_and_the_production_config():
    assert DOCKERFILE.cmd == ["gunicorn", "-c", "sceneweb/gunicorn.py"]
    assert DOCKERFILE.env["SCENEWEB_BIND"] == "0.0.0.0:8000"
    assert DOCKERFILE.healthcheck == ["python", "-m", "sceneweb.healthcheck"]


def test_the_image_installs_cpu_only_torch_at_the_requirements_pins():
    install = DOCKERFILE.runs[0]
    assert install.startswith("grep -E '^(torch|torchvision)==' requirements.txt | xargs pip install")
    assert DOCKERFILE.args["TORCH_INDEX"] == "https://download.pytorch.org/whl/cpu"
    pins = re.findall(r"^(torch|torchvision)==\S+$", (REPO / "requirements.txt").read_text(), re.MULTILINE)
    assert pins == ["torch", "torchvision"]


def test_the_image_runs_as_a_user_without_privileges():
    users = [
        rest for instruction, rest in steps.instructions((REPO / "Dockerfile").read_text()) if instruction == "USER"
    ]
    assert users == ["10001:10001"]


def test_models_are_fetched_at_build_time_only_when_asked():
    assert DOCKERFILE.args["FETCH_MODELS"] == "0"
    assert 'if [ "$FETCH_MODELS" = "1" ]; then python manage.py fetch_models; fi' in DOCKERFILE.runs


def test_the_build_context_leaves_out_local_state():
    patterns = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    ignore = steps.docker_ignored(patterns)

    names = [".git", ".venv", "staticfiles", "db.sqlite3", "models", "classifier", "Dockerfile"]
    assert ignore(str(REPO), names) == {".git", ".venv", "staticfiles", "db.sqlite3"}
    assert ignore(str(REPO / "models"), ["README.md", "resnet18_places365.pth.tar"]) == {"resnet18_places365.pth.tar"}
    assert ignore(str(REPO / "classifier"), ["__pycache__", "views.py"]) == {"__pycache__"}
