"""Shared fixtures: checkpoints in the official formats with random weights, model folders,
real label files and photos from ../shared/, and small generated images.

Nothing here touches the network: every weight file is generated, every download goes to a
server on 127.0.0.1.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from classifier.engine import assets
from classifier.engine.attributes import ATTRIBUTE_FILENAME, build_attribute_net, save_attribute_checkpoint
from classifier.engine.labels import read_attribute_names
from classifier.engine.places import build_resnet18

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
LABEL_FILES = ("categories_places365.txt", "IO_places365.txt", "labels_sunattribute.txt")


def shared_path(*parts: str) -> Path:
    """A path in ../shared/, or a clean skip saying what is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: these tests read real data from ../shared/ beside the repository")
    return path


def write_places_checkpoint(path: Path, net: torch.nn.Module | None = None, *, seed: int = 0) -> Path:
    """The CSAIL release format: {'epoch', 'arch', 'state_dict' with 'module.' keys, 'best_prec1'}."""
    if net is None:
        torch.manual_seed(seed)
        net = build_resnet18(365)
    state = {f"module.{k}": v for k, v in net.state_dict().items()}
    torch.save({"epoch": 90, "arch": "resnet18", "state_dict": state, "best_prec1": 54.7}, path)
    return path


def image_bytes(image: Image.Image, fmt: str = "JPEG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


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


@pytest.fixture(scope="session")
def labels_dir() -> Path:
    return shared_path("places365")


@pytest.fixture(scope="session")
def release_dir(tmp_path_factory, labels_dir) -> Path:
    """A folder as a user would bring it for `fetch_models --from`: weights plus the label files."""
    folder = tmp_path_factory.mktemp("release")
    write_places_checkpoint(folder / "resnet18_places365.pth.tar")
    for name in LABEL_FILES:
        shutil.copyfile(labels_dir / name, folder / name)
    return folder


@pytest.fixture(scope="session")
def attribute_checkpoint_file(tmp_path_factory, labels_dir) -> Path:
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("attributes") / ATTRIBUTE_FILENAME
    names = read_attribute_names(labels_dir / "labels_sunattribute.txt")
    save_attribute_checkpoint(path, build_attribute_net(len(names)), names, {"test_map": 0.5})
    return path


@pytest.fixture(scope="session")
def matrix_release_dir(tmp_path_factory, release_dir) -> Path:
    """`release_dir` plus what `fetch_models` adds for the attributes: WideResNet-18 and CSAIL's matrix."""
    from tests.engine.conftest import write_matrix_files

    folder = tmp_path_factory.mktemp("matrix_release")
    for item in release_dir.iterdir():
        shutil.copyfile(item, folder / item.name)
    return write_matrix_files(folder)


@pytest.fixture(scope="session")
def fresh_models_dir(tmp_path_factory, matrix_release_dir) -> Path:
    """What `fetch_models` leaves on a fresh install: the scene files and the attribute matrix, no trained head."""
    folder = tmp_path_factory.mktemp("fresh_models")
    for name in (*assets.DEFAULT_ASSETS, *assets.ATTRIBUTE_MATRIX_ASSETS):
        assets.install_from_dir(name, folder, matrix_release_dir)
    return folder


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory, release_dir) -> Path:
    """An installed models folder without any attribute model (the state before the matrix was installed)."""
    folder = tmp_path_factory.mktemp("models")
    for name in assets.DEFAULT_ASSETS:
        assets.install_from_dir(name, folder, release_dir)
    return folder


@pytest.fixture(scope="session")
def full_models_dir(tmp_path_factory, models_dir, attribute_checkpoint_file) -> Path:
    """An installed models folder with the attribute head too."""
    folder = tmp_path_factory.mktemp("models_full")
    for item in models_dir.iterdir():
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
