import pytest

from classifier.engine.errors import ModelFileError
from classifier.engine.labels import (
    INDOOR,
    OUTDOOR,
    PlacesLabels,
    category_name,
    read_attribute_names,
    read_categories,
    read_io_labels,
)


def test_it_parses_the_official_label_files(labels_dir):
    categories = read_categories(labels_dir / "categories_places365.txt")
    io = read_io_labels(labels_dir / "IO_places365.txt")
    attributes = read_attribute_names(labels_dir / "labels_sunattribute.txt")
    assert (len(categories), len(io), len(attributes)) == (365, 365, 102)
    assert categories[0] == "airfield"
    assert categories[-1] == "zen_garden"
    assert "apartment_building/outdoor" in categories
    assert io[0] == OUTDOOR  # /a/airfield 2
    assert io[1] == INDOOR  # /a/airplane_cabin 1
    assert attributes[:3] == ("boating", "driving", "biking")


def test_it_strips_the_letter_folder_from_category_names():
    assert category_name("/a/apartment_building/outdoor") == "apartment_building/outdoor"
    assert category_name("tench, Tinca tinca") == "tench, Tinca tinca"


@pytest.mark.parametrize(
    ("text", "reader", "message"),
    [
        ("/a/airfield 0\n/b/bar 2\n", read_categories, "entry 2 has index 2, expected 1"),
        ("/a/airfield\n", read_categories, "expected '<name> <index>'"),
        ("/a/airfield 0\n", read_categories, "expected 365 entries, found 1"),
        ("/a/airfield 3\n", read_io_labels, "trailing 1 (indoor) or 2 (outdoor)"),
        ("a\na\n", lambda p: read_attribute_names(p, expected=2), "repeat"),
    ],
)
def test_it_rejects_malformed_label_files(tmp_path, text, reader, message):
    path = tmp_path / "labels.txt"
    path.write_text(text)
    with pytest.raises(ModelFileError) as caught:
        reader(path)
    assert message in caught.value.message
    assert str(path) in caught.value.message
    assert "fetch_models" in caught.value.message


def test_it_names_a_missing_label_file_and_the_command_that_installs_it(tmp_path):
    with pytest.raises(ModelFileError) as caught:
        read_categories(tmp_path / "categories_places365.txt")
    assert caught.value.code == "labels_missing"
    assert "categories_places365.txt" in caught.value.message
    assert "python manage.py fetch_models" in caught.value.message


def test_places_labels_need_matching_lengths():
    with pytest.raises(ValueError, match="2 categories but 1 IO labels"):
        PlacesLabels(("a", "b"), (0,))
