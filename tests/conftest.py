"""Shared fixtures: checkpoints in the official formats with random weights (written by
classifier/testing/checkpoints.py), model folders, real label files and photos from ../shared/.

Nothing here touches the network: every weight file is generated, every download goes to a
server on 127.0.0.1.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from classifier.engine import catalogue, installer
from classifier.engine.attributes import ATTRIBUTE_FILENAME
from classifier.testing.checkpoints import write_attribute_checkpoint, write_matrix_files, write_release
from tests.support.paths import shared_path


@pytest.fixture(autouse=True, scope="session")
def static_files_from_source_folders(tmp_path_factory):
    """Production pages link the hashed copies `collectstatic` makes; the suite never runs it, so
    pages link the plain names (tests/web/test_static_files.py covers the production storage)."""
    from django.test.utils import override_settings

    plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    with override_settings(
        STORAGES={"default": {"BACKEND": "django.core.files.storage.FileSystemStorage"}, "staticfiles": plain},
        STATIC_ROOT=tmp_path_factory.mktemp("staticfiles"),
    ):
        yield


@pytest.fixture(autouse=True, scope="session")
def fp32_inference():
    """The in-process service runs fp32 ("fused") in the suite: the same answers on every CPU, and no
    OpenVINO conversion each time a test rebuilds the analyzer. `auto` has its own tests
    (tests/engine/acceleration/test_choice.py); servers started as subprocesses keep it."""
    from django.test.utils import override_settings

    with override_settings(SCENEWEB_INFERENCE_MODE="fused"):
        yield


@pytest.fixture(scope="session")
def labels_dir() -> Path:
    return shared_path("places365")


@pytest.fixture(scope="session")
def release_dir(tmp_path_factory, labels_dir) -> Path:
    """A folder as a user would bring it for `fetch_models --from`: weights plus the label files."""
    return write_release(tmp_path_factory.mktemp("release"), labels_dir)


@pytest.fixture(scope="session")
def attribute_checkpoint_file(tmp_path_factory, labels_dir) -> Path:
    path = tmp_path_factory.mktemp("attributes") / ATTRIBUTE_FILENAME
    return write_attribute_checkpoint(path, labels_dir / "labels_sunattribute.txt", metrics={"test_map": 0.5})


@pytest.fixture(scope="session")
def matrix_release_dir(tmp_path_factory, release_dir) -> Path:
    """`release_dir` plus what `fetch_models` adds for the attributes: WideResNet-18 and CSAIL's matrix."""
    folder = tmp_path_factory.mktemp("matrix_release")
    for item in release_dir.iterdir():
        shutil.copyfile(item, folder / item.name)
    return write_matrix_files(folder)


@pytest.fixture(scope="session")
def fresh_models_dir(tmp_path_factory, matrix_release_dir) -> Path:
    """What `fetch_models` leaves on a fresh install: the scene files and the attribute matrix, no trained head."""
    folder = tmp_path_factory.mktemp("fresh_models")
    for name in (*catalogue.DEFAULT_ASSETS, *catalogue.ATTRIBUTE_MATRIX_ASSETS):
        installer.install_from_dir(name, folder, matrix_release_dir)
    return folder


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory, release_dir) -> Path:
    """An installed models folder without any attribute model (the state before the matrix was installed)."""
    folder = tmp_path_factory.mktemp("models")
    for name in catalogue.DEFAULT_ASSETS:
        installer.install_from_dir(name, folder, release_dir)
    return folder


@pytest.fixture(scope="session")
def full_models_dir(tmp_path_factory, models_dir, attribute_checkpoint_file) -> Path:
    """An installed models folder with the attribute head too."""
    folder = tmp_path_factory.mktemp("models_full")
    for item in models_dir.iterdir():
        if item.is_file():  # not converted/: the networks converted by earlier tests' analyzers
            shutil.copyfile(item, folder / item.name)
    shutil.copyfile(attribute_checkpoint_file, folder / ATTRIBUTE_FILENAME)
    return folder


@pytest.fixture(scope="session")
def sample_photos() -> list[Path]:
    photos = sorted(shared_path("samples").glob("*.jpg"))
    if not photos:
        pytest.skip("../shared/samples/ holds no photos")
    return photos


@pytest.fixture
def photo_bytes(sample_photos) -> bytes:
    return sample_photos[0].read_bytes()


@pytest.fixture
def use_models(settings):
    """Point the service at a models folder for one test; the process analyzer is rebuilt."""
    from classifier.runtime import get_analyzer

    def use(folder: Path) -> Path:
        settings.SCENEWEB_MODELS_DIR = folder
        get_analyzer.cache_clear()
        return folder

    yield use
    get_analyzer.cache_clear()


def service_loggers() -> list:
    import logging

    return [logging.getLogger(n) for n in list(logging.root.manager.loggerDict) if n.split(".")[0] == "sceneweb"]


@pytest.fixture(scope="session")
def configured_loggers() -> dict:
    """The service's loggers as settings.LOGGING made them (pytest-django has set Django up by now)."""
    return {logger.name: (logger.level, logger.propagate) for logger in service_loggers()}


@pytest.fixture(autouse=True)
def service_loggers_as_configured(configured_loggers):
    """Before every test, the service's loggers as configured: a test or library that reconfigures
    logging (a level, `disabled`, `propagate`) cannot silence the log-line tests that run after it."""
    for logger in service_loggers():
        level, propagate = configured_loggers.get(logger.name, (0, True))
        logger.setLevel(level)
        logger.disabled, logger.propagate = False, propagate
