"""What the browser sends is read and bounded before any work (`classifier.panel.inputs`)."""

from __future__ import annotations

import pytest
from dash.exceptions import PreventUpdate

from classifier.engine.errors import ImageRejected
from classifier.panel.inputs import (
    DEFAULT_OPACITY,
    PanelRefused,
    bytes_of_data_uri,
    check_bar_count,
    opacity_of,
    photo_bytes,
    scene_index,
)
from tests.support.panel import upload_of


def test_an_upload_is_read_back_to_its_bytes():
    assert bytes_of_data_uri(upload_of(b"\xff\xd8 photo")) == b"\xff\xd8 photo"


@pytest.mark.parametrize("sent", ["data:image/jpeg;base64,@@@not-base64", {"contents": 1}, None])
def test_an_upload_that_cannot_be_read_is_refused_in_plain_words(sent):
    with pytest.raises(ImageRejected, match=r"^The file could not be read; please choose it again\.$"):
        bytes_of_data_uri(sent)


def test_an_input_that_is_no_way_in_changes_nothing():
    with pytest.raises(PreventUpdate):
        photo_bytes("get-json", None, None)


def test_a_sample_is_read_by_its_gallery_name(samples_dir, sample_photos):
    name = sample_photos[0].name
    assert photo_bytes({"type": "sample", "name": name}, None, None) == (
        sample_photos[0].read_bytes(),
        f"sample {name}",
    )


@pytest.mark.parametrize("index", [0, 4])
def test_a_scene_index_among_the_listed_scenes_is_taken(index):
    assert scene_index(index, 5) == index


@pytest.mark.parametrize("index", [5, -1, True, "1", 1.5, None, 10**100, [1]])
def test_a_scene_index_outside_the_listed_scenes_is_refused(index):
    with pytest.raises(PanelRefused, match=r"^Pick one of the 5 listed scenes\.$"):
        scene_index(index, 5)


def test_a_page_with_another_number_of_bars_is_told_to_reload(settings):
    settings.SCENEWEB_TOP_K = 5
    check_bar_count(5)
    with pytest.raises(PanelRefused, match="The page is out of date; please reload it."):
        check_bar_count(500)


@pytest.mark.parametrize("opacity", ["0.3; background:url(x)", float("nan"), float("inf"), [0.3], {"x": 1}, True])
def test_an_opacity_that_is_not_a_number_is_the_default(opacity):
    assert opacity_of(opacity) == DEFAULT_OPACITY


def test_an_opacity_out_of_range_is_clamped():
    assert opacity_of(7) == 1.0
    assert opacity_of(-1e308) == 0.0
    assert opacity_of(0.3) == 0.3
