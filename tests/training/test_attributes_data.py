"""Reading the SUN Attribute Database layout, the 2-of-3 rule, the split, names and metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io
import torch

from classifier.engine.errors import DatasetError
from classifier.training.metrics import average_precisions, chance_average_precision, mean_average_precision
from classifier.training.sun_attributes import (
    SunAttributeFiles,
    binarise,
    load_or_make_split,
    make_split,
    name_differences,
    read_database,
    read_split,
)
from tests.support.sun_minidb import cell_array, write_mini_database


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    return write_mini_database(tmp_path_factory.mktemp("sun"), images=20)


@pytest.fixture
def broken(tmp_path):
    """A fresh copy of the miniature database for a test to damage."""
    return write_mini_database(tmp_path, images=6)


def read(folder):
    return read_database(SunAttributeFiles.in_folder(folder))


def test_it_reads_paths_names_and_votes_as_released(mini):
    database = read(mini.folder)
    assert database.paths == mini.paths
    assert database.names == ("fire", "foliage", "ocean", "sunny", "flowers", "ice")
    np.testing.assert_array_equal(database.votes, mini.votes)
    assert database.image_dir == mini.folder / "images"


def test_an_attribute_is_present_with_at_least_two_of_three_votes():
    votes = np.array([[0.0, 1 / 3, 2 / 3, 1.0]])
    assert binarise(votes).tolist() == [[0.0, 0.0, 1.0, 1.0]]


def test_one_vote_of_three_stays_absent_in_single_precision_too():
    assert binarise(np.array([[1 / 3, 2 / 3]], dtype=np.float32)).tolist() == [[0.0, 1.0]]


def test_the_targets_match_the_evidence_drawn_in_the_images(mini):
    assert read(mini.folder).targets.tolist() == (mini.votes > 0.5).astype(np.float32).tolist()


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("images.mat", "a cell array of relative image paths"),
        ("attributes.mat", "a cell array of attribute names"),
        ("attributeLabels_continuous.mat", "an images x attributes (6 x 6) matrix of vote shares"),
    ],
)
def test_a_missing_mat_file_is_named_with_what_it_should_hold(broken, filename, expected):
    (broken.folder / filename).unlink()
    with pytest.raises(DatasetError) as caught:
        read(broken.folder)
    assert str(broken.folder / filename) in caught.value.message
    assert f"is missing: expected {expected}" in caught.value.message


def test_a_mat_file_without_its_variable_says_what_it_holds(broken):
    scipy.io.savemat(broken.folder / "attributes.mat", {"names": cell_array(broken.names)})
    with pytest.raises(DatasetError, match=r"has no variable 'attributes' \(it holds names\)"):
        read(broken.folder)


def test_a_file_that_is_not_matlab_is_rejected(broken):
    (broken.folder / "images.mat").write_text("not matlab")
    with pytest.raises(DatasetError, match="images.mat is not a readable MATLAB file"):
        read(broken.folder)


def test_a_label_matrix_of_the_wrong_shape_is_rejected(broken):
    scipy.io.savemat(broken.folder / "attributeLabels_continuous.mat", {"labels_cv": broken.votes[:, :4]})
    with pytest.raises(DatasetError, match=r"'labels_cv' is 6 x 4; expected an images x attributes \(6 x 6\)"):
        read(broken.folder)


def test_votes_outside_zero_to_one_are_rejected(broken):
    scipy.io.savemat(broken.folder / "attributeLabels_continuous.mat", {"labels_cv": broken.votes * 3})
    with pytest.raises(DatasetError, match="values outside 0..1"):
        read(broken.folder)


def test_names_stored_as_numbers_are_rejected(broken):
    scipy.io.savemat(broken.folder / "attributes.mat", {"attributes": np.arange(6.0)})
    with pytest.raises(DatasetError, match="'attributes' is a float64 array, expected a cell array"):
        read(broken.folder)


def test_a_missing_image_folder_is_reported(broken):
    (broken.folder / "images").rename(broken.folder / "photos")
    with pytest.raises(DatasetError, match="image folder .*images is missing.*pass --images DIR"):
        read(broken.folder)
    assert read_database(SunAttributeFiles.in_folder(broken.folder, image_dir=broken.folder / "photos")).paths


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    """The release's two archives unpacked side by side: SUNAttributeDB/ (the .mat files) and images/."""
    return write_mini_database(tmp_path_factory.mktemp("release"), images=6, layout="official")


def test_the_official_layout_is_found_from_the_folder_holding_both_archives(official):
    assert sorted(p.name for p in official.folder.iterdir()) == ["SUNAttributeDB", "images"]
    database = read(official.folder)
    assert database.paths == official.paths
    assert database.image_dir == official.folder / "images"
    assert (database.image_dir / database.paths[0]).is_file()


def test_the_official_layout_is_found_from_the_mat_files_folder(official):
    database = read(official.folder / "SUNAttributeDB")
    assert database.paths == official.paths and database.image_dir == official.folder / "images"


def test_a_release_without_its_images_archive_says_where_the_photos_belong(tmp_path):
    release = write_mini_database(tmp_path, images=6, layout="official")
    (release.folder / "images").rename(release.folder / "photos")
    with pytest.raises(DatasetError, match="images/ beside the .mat files or beside their folder.*--images DIR"):
        read(release.folder)
    assert read_database(SunAttributeFiles.in_folder(release.folder, image_dir=release.folder / "photos")).paths


def test_missing_images_are_counted_and_named(broken):
    (broken.folder / "images" / broken.paths[2]).unlink()
    with pytest.raises(DatasetError, match=f"1 of 6 images listed in images.mat are not under .*{broken.paths[2]}"):
        read(broken.folder)


def test_the_split_is_80_10_10_disjoint_and_complete():
    split = make_split(14340, seed=0)
    assert (len(split.train), len(split.val), len(split.test)) == (11472, 1434, 1434)
    assert sorted(split.train + split.val + split.test) == list(range(14340))


def test_the_same_seed_gives_the_same_split_and_another_seed_another():
    assert make_split(500, seed=3) == make_split(500, seed=3)
    assert make_split(500, seed=3).test != make_split(500, seed=4).test


def test_a_written_split_is_reused_whatever_the_seed(mini, tmp_path):
    database = read(mini.folder)
    path = tmp_path / "split.json"
    first, created = load_or_make_split(path, database, seed=1)
    again, created_again = load_or_make_split(path, database, seed=99)
    assert (created, created_again) == (True, False)
    assert again == first
    saved = json.loads(path.read_text())
    assert saved["format"] == "sceneweb-attributes-split/1"
    assert saved["seed"] == 1
    assert saved["test"] == [database.paths[i] for i in first.test]


def test_a_split_of_another_database_is_refused(mini, tmp_path):
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"format": "sceneweb-split/1", "train": ["x/elsewhere.jpg"], "val": [], "test": []}))
    with pytest.raises(DatasetError, match="lists 1 train images that this database does not have"):
        read_split(path, read(mini.folder))


@pytest.mark.parametrize("tag", ["sceneweb-split/1", None])
def test_a_split_written_before_the_tags_were_distinct_still_reads(mini, tmp_path, tag):
    database = read(mini.folder)
    payload = {"seed": 5, "images": 20, "train": list(database.paths[:16]), "val": [database.paths[16]], "test": []}
    path = tmp_path / "split.json"
    path.write_text(json.dumps(payload if tag is None else {"format": tag, **payload}))
    split = read_split(path, database)
    assert (split.seed, split.train, split.val, split.test) == (5, tuple(range(16)), (16,), ())


@pytest.mark.parametrize("tag", ["sceneweb-finetune-split/1", "sceneweb-split/1"])
def test_a_finetune_split_is_refused_by_its_tag_or_its_layout(mini, tmp_path, tag):
    path = tmp_path / "split.json"
    path.write_text(json.dumps({"format": tag, "classes": ["a", "b"], "parts": {"train": [], "val": [], "test": []}}))
    with pytest.raises(DatasetError, match=r"is not a sceneweb-attributes-split/1 file.*; delete it"):
        read_split(path, read(mini.folder))


def test_name_differences_are_listed_by_position():
    differences = name_differences(("sailing/ boating", "driving"), ("boating", "driving", "biking"), "labels.txt")
    assert differences == [
        "the dataset has 2 attributes, labels.txt has 3",
        "attribute 1: dataset 'sailing/ boating', labels.txt 'boating'",
    ]


def test_the_release_names_match_the_service_label_file(labels_dir):
    from classifier.engine.labels import read_attribute_names

    names = read_attribute_names(labels_dir / "labels_sunattribute.txt")
    assert name_differences(names, names, "labels_sunattribute.txt") == []


def test_average_precision_is_undefined_without_positives():
    targets = np.array([[1, 0], [0, 0], [1, 0]])
    scores = np.array([[0.9, 0.1], [0.2, 0.5], [0.8, 0.3]])
    aps = average_precisions(targets, scores)
    assert aps[0] == 1.0 and np.isnan(aps[1])
    assert mean_average_precision(targets, scores) == 1.0


def test_chance_map_is_the_mean_positive_rate():
    targets = np.array([[1, 0, 0], [0, 0, 1], [1, 1, 0], [1, 0, 0]])
    assert chance_average_precision(targets) == pytest.approx((3 / 4 + 1 / 4 + 1 / 4) / 3)


def test_a_photo_is_turned_upright_by_its_exif_orientation_as_the_service_does(tmp_path):
    """A camera stores this photo sideways (red left, blue right) with Orientation 6: upright,
    red is on top. The training images must be the upright photo the service analyses."""
    from PIL import Image

    from classifier.training.attribute_inputs import photo_inputs
    from classifier.training.attribute_training import TrainingOptions
    from classifier.training.sun_attributes import SunAttributeDatabase

    stored = Image.new("RGB", (40, 20), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    (tmp_path / "a").mkdir()
    stored.save(tmp_path / "a" / "sideways.jpg", exif=exif, quality=95)
    database = SunAttributeDatabase(tmp_path, ("a/sideways.jpg",), ("red",), np.ones((1, 1)))
    options = TrainingOptions(image_size=32, batch_size=1, workers=0)
    images, _ = next(iter(photo_inputs(database, options, torch.device("cpu")).loader([0], None)))
    red_minus_blue = images[0, 0] - images[0, 2]
    assert red_minus_blue[:8].mean() > 2 and red_minus_blue[-8:].mean() < -2  # red on top, blue below
