"""Scene-model fixtures: every scene model's files, in its official format with random weights
(classifier/testing/checkpoints.py writes them). The big ones (VGG16 about 520 MB,
DenseNet-161) are written once per session.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from classifier.engine import catalogue, installer, manifest
from classifier.engine.keras_vgg import CHANNELS_LAST
from classifier.engine.places import SCENE_MODELS
from classifier.testing.checkpoints import (
    copy_label_files,
    write_attribute_matrix,
    write_keras_h5,
    write_official_checkpoint,
)


@pytest.fixture(scope="session")
def scene_release_dir(tmp_path_factory, labels_dir) -> Path:
    """Every scene model's files as downloaded: CSAIL .pth.tar, Keras .h5, W matrix, label files."""
    folder = copy_label_files(tmp_path_factory.mktemp("scene_release"), labels_dir)
    shutil.copyfile(labels_dir / "categories_hybrid1365.txt", folder / "categories_hybrid1365.txt")
    for seed, spec in enumerate(SCENE_MODELS.values()):
        if spec.weights.derived_from is None:
            write_official_checkpoint(folder / spec.weights.filename, spec, seed=seed)
    torch.manual_seed(7)
    vgg = SCENE_MODELS["vgg16_places365"]
    source = catalogue.asset_spec(vgg.weights.derived_from)
    write_keras_h5(folder / source.filename, vgg.build(vgg.weights.num_classes), data_format=CHANNELS_LAST)
    hybrid = SCENE_MODELS["vgg16_hybrid1365"]
    # Hybrid's conversion path is the same as Places365's; its converted checkpoint saves a second 500 MB .h5.
    torch.save(hybrid.build(hybrid.weights.num_classes).state_dict(), folder / hybrid.weights.filename)
    write_attribute_matrix(folder)
    return folder


@pytest.fixture(scope="session")
def scene_models_dir(tmp_path_factory, scene_release_dir) -> Path:
    """A models folder with every registered scene model installed through `fetch_models`' code path."""
    folder = tmp_path_factory.mktemp("scene_models")
    for model in SCENE_MODELS:
        for name in installer.model_assets(model):
            spec = catalogue.asset_spec(name)
            derived = catalogue.converted_into(name)
            if manifest.is_installed(folder, spec) or (derived and (scene_release_dir / derived.filename).is_file()):
                continue
            if spec.derived_from and not (scene_release_dir / spec.filename).is_file():
                installer.install_derived(name, folder)
            else:
                installer.install_from_dir(name, folder, scene_release_dir)
    installer.install_from_dir("labels_sunattribute", folder, scene_release_dir)
    return folder
