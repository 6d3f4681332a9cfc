from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from classifier.checks import check_model_settings
from classifier.engine.places import SCENE_MODELS


def run(command: str, *args) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def test_an_unknown_scene_model_stops_start_up_naming_the_known_ones(settings):
    settings.SCENEWEB_SCENE_MODEL = "resnet9000"
    with pytest.raises(ImproperlyConfigured, match="'resnet9000' is not a registered scene model.*vgg16_hybrid1365"):
        check_model_settings(settings)
    settings.SCENEWEB_SCENE_MODEL = "alexnet"
    settings.SCENEWEB_ATTRIBUTES_SOURCE = "clip"
    with pytest.raises(ImproperlyConfigured, match="SCENEWEB_ATTRIBUTES_SOURCE='clip'"):
        check_model_settings(settings)


def test_list_shows_every_model_with_its_size_and_state(tmp_path, use_models, release_dir):
    use_models(tmp_path)
    run("fetch_models", "--from", str(release_dir), "--verbosity", "0")
    lines = run("fetch_models", "--list").splitlines()
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == set(SCENE_MODELS)
    assert rows["resnet18"].endswith("yes (SCENEWEB_SCENE_MODEL)")
    assert rows["vgg16_hybrid1365"].split()[1:4] == ["1365", "gradcam", "534"]
    assert rows["densenet161"].endswith("2/3 files")  # the labels it shares with resnet18 are there
