"""The one attribute-source policy: what `choose_attribute_source` picks is what the analyzer
serves and what `fetch_models --check` reports, with the same files and the same way out."""

from __future__ import annotations

import pytest

from classifier.engine import attribute_sources, installer
from classifier.engine.analyzer import SceneAnalyzer
from classifier.engine.attribute_sources import AttributeSource, choose_attribute_source
from classifier.engine.attributes import AttributeModel
from classifier.engine.linear_attributes import LinearAttributeModel


@pytest.fixture(scope="module")
def head_and_matrix_dir(tmp_path_factory, fresh_models_dir, attribute_checkpoint_file):
    folder = tmp_path_factory.mktemp("head_and_matrix")
    for item in fresh_models_dir.iterdir():
        (folder / item.name).symlink_to(item)
    (folder / attribute_checkpoint_file.name).symlink_to(attribute_checkpoint_file)
    return folder


def test_auto_takes_the_trained_head_when_it_is_installed_and_the_matrix_otherwise(
    head_and_matrix_dir, fresh_models_dir
):
    assert choose_attribute_source(head_and_matrix_dir).source == "densenet201"
    choice = choose_attribute_source(fresh_models_dir)
    assert (choice.source, choice.missing, choice.model) == ("wideresnet18", (), LinearAttributeModel)
    assert choice.assets == ("wideresnet18_places365", "wideresnet18_sceneattributes", "labels_sunattribute")


def test_a_named_source_is_served_even_when_the_other_is_installed(head_and_matrix_dir, fresh_models_dir):
    assert choose_attribute_source(head_and_matrix_dir, "wideresnet18").source == "wideresnet18"
    head = choose_attribute_source(fresh_models_dir, "densenet201")
    assert (head.source, head.model) == ("densenet201", AttributeModel)
    assert head.missing == ("densenet201_sunattributes.pth",)
    assert head.note.startswith("densenet201_sunattributes.pth not installed; train it with `python manage.py")


def test_with_nothing_installed_auto_gives_both_ways_and_a_named_source_its_own(models_dir):
    auto = choose_attribute_source(models_dir)
    assert auto.missing == ("wideresnet18_places365.pth.tar", "W_sceneattribute_wideresnet18.npy")
    assert "python manage.py fetch_models" in auto.note and "train_attributes" in auto.note
    matrix = choose_attribute_source(models_dir, "wideresnet18")
    assert "fetch_models --model wideresnet18" in matrix.note and "train_attributes" not in matrix.note


def test_an_unknown_source_is_refused_with_the_choices(models_dir):
    with pytest.raises(ValueError, match="'clip'; choose one of auto, densenet201, wideresnet18"):
        choose_attribute_source(models_dir, "clip")


@pytest.mark.parametrize("requested", attribute_sources.ATTRIBUTE_SOURCES)
@pytest.mark.parametrize("folder", ["models_dir", "fresh_models_dir", "head_and_matrix_dir"])
def test_the_analyzer_and_the_install_check_agree(request, folder, requested):
    models = request.getfixturevalue(folder)
    analyzer = SceneAnalyzer.from_models_dir(models, attributes_source=requested)
    status = installer.check_attribute_source(models, requested)
    choice = choose_attribute_source(models, requested)
    if choice.missing:
        assert analyzer.attribute_model is None and status.state == "missing"
        assert analyzer.attributes_note == status.detail == choice.note
    else:
        assert isinstance(analyzer.attribute_model, choice.model) and status.state == "ok"
        assert isinstance(analyzer.map_source, AttributeSource)  # the eager model has every member
        assert analyzer.attributes_note is None
        assert status.source == ("trained head" if choice.head else "matrix")
