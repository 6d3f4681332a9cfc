import pytest

from classifier.engine import catalogue
from classifier.engine.places import SCENE_MODELS, SCENE_NET_BUILDERS


@pytest.mark.parametrize("weights", catalogue.scene_weights(), ids=lambda w: w.name)
def test_every_scene_weight_record_names_files_and_an_architecture_that_exist(weights):
    assert weights.arch in SCENE_NET_BUILDERS
    for name in weights.files:
        assert name in catalogue.ASSETS, f"{weights.name} names {name}, which the catalogue lacks"
    assert catalogue.asset_spec(weights.labels).reader == "categories"
    assert SCENE_MODELS[weights.model].weights is weights


def test_a_converted_file_and_its_source_find_each_other():
    keras = catalogue.asset_spec("vgg16_hybrid1365_keras")
    converted = catalogue.converted_into(keras.name)
    assert converted.derived_from == keras.name and converted.num_classes == 1365
    assert converted.files[0] == keras.name  # the source is installed before its conversion
    assert catalogue.converted_into("resnet18_places365") is None


def test_a_record_with_an_unknown_reader_is_refused_when_written():
    with pytest.raises(ValueError, match="unknown reader 'pickle'"):
        catalogue.AssetSpec(name="x", filename="x.bin", urls=(), reader="pickle", description="")
