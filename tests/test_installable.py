"""The engine installs as a package: a wheel built from pyproject.toml (offline, no build isolation)
makes `classifier.engine` importable from any directory, and the README's Python example runs there."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

from classifier.testing.paths import REPO

pytestmark = pytest.mark.slow
README_EXAMPLE = re.search(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.DOTALL).group(1)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The wheel installed into a folder of its own (the checkout is copied so the build leaves it clean)."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for package in ("classifier", "sceneweb"):
        shutil.copytree(REPO / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    wheels, target = tmp_path_factory.mktemp("wheels"), tmp_path_factory.mktemp("site")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", wheels, source], check=True)
    (wheel,) = wheels.glob("sceneweb-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "-q", "--target", target, wheel], check=True)
    return wheel, target


def test_the_wheel_holds_the_engine(installed):
    wheel, _ = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert "classifier/engine/analyzer.py" in names and "classifier/engine/fetch/__init__.py" in names


def test_the_readme_python_example_runs_from_another_directory(installed, tmp_path, fresh_models_dir, sample_photos):
    _, target = installed
    shutil.copy(sample_photos[0], tmp_path / "photo.jpg")
    (tmp_path / "models").symlink_to(fresh_models_dir)
    code = "import classifier; print(classifier.__file__)\n" + README_EXAMPLE
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(target)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    where, result = run.stdout.splitlines()
    assert where.startswith(str(target))  # the installed copy, not the checkout
    assert len(result.split()) >= 3
