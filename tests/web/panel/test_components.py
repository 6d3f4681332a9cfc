"""The results area built from an analysis (`classifier.panel.components`), called as plain functions."""

from __future__ import annotations

import json

import pytest

from classifier.engine.analyzer import AttributeScore
from classifier.panel import actions
from classifier.panel.components import attributes_view, heat_style, present, readable, timing_text
from tests.support.panel import image_of, photo_of, upload_of


def test_the_presentation_shows_five_bars_with_the_top_one_selected(analysed):
    shown = present(analysed.state)
    assert len(shown.bars) == 5
    assert shown.view.bar_classes == ["sw-bar is-selected"] + ["sw-bar"] * 4
    assert shown.view.selected == 0
    top = analysed.analysis.scenes[0]
    assert readable(top.label) in shown.view.caption
    assert shown.timing.startswith("The server took ")
    assert shown.headline.lower().startswith(readable(top.label))


def test_another_scene_is_heat_mapped_from_the_stored_grid(analysed, monkeypatch):
    monkeypatch.setattr(actions, "analyse_bytes", lambda *a, **k: pytest.fail("no second forward pass"))
    first = present(analysed.state, 0).view
    third = present(analysed.state, 2).view
    assert third.bar_classes[2] == "sw-bar is-selected"
    assert readable(analysed.analysis.cams[2].label) in third.caption
    assert third.heat != first.heat
    assert image_of(third.heat).size == photo_of(analysed).size


def test_the_indoor_outdoor_verdict_is_labelled_with_its_score(analysed):
    io_view = present(analysed.state).io
    text = json.dumps([c.to_plotly_json() for c in io_view], default=lambda c: c.to_plotly_json())
    assert analysed.analysis.io.label in text
    assert f"outdoor score {analysed.analysis.io.score:.2f}" in text


def test_without_attributes_the_note_says_how_to_install_them(analysed):
    (note,) = attributes_view([], analysed.analysis.attributes_note)
    assert "densenet201_sunattributes.pth" in note.children


def test_attributes_are_listed_with_their_scores():
    attributes = [AttributeScore("natural light", 0.93), AttributeScore("open area", 0.5)]
    head = {"source": "densenet201", "description": "the head", "scores": "probabilities"}
    listing, origin = attributes_view(attributes, None, head, selected=1)
    buttons = [row.children for row in listing.children]
    assert [b.children[0].children for b in buttons] == ["natural light", "open area"]
    assert [b.children[2].children for b in buttons] == ["93%", "50%"]  # probabilities read as percentages
    assert [getattr(b, "aria-pressed") for b in buttons] == ["false", "true"]
    assert "probability" in origin.children
    matrix = {"source": "wideresnet18-linear", "description": "the matrix", "scores": "raw linear responses"}
    listing, origin = attributes_view([AttributeScore("natural light", 85.1)], None, matrix)
    assert listing.children[0].children.children[2].children == "85.1"  # never "85.10", never a percentage
    assert "or percentages" in origin.children


def test_with_the_attribute_model_the_panel_lists_ten_attributes(service, use_models, full_models_dir, photo_bytes):
    use_models(full_models_dir)
    outcome = actions.analyse_source("upload", upload_of(photo_bytes))
    listing = present(outcome.state).attributes[0]  # then the line naming the source
    assert [row.children.children[0].children for row in listing.children] == [
        a.label for a in outcome.analysis.attributes
    ]
    assert len(listing.children) == 10


def test_category_names_read_as_words():
    assert readable("apartment_building/outdoor") == "apartment building (outdoor)"
    assert readable("mountain") == "mountain"


def test_timings_are_summed_up_in_words():
    assert timing_text({"decode": 3.2, "resnet18": 40.4, "total": 43.6}) == (
        "The server took 44 ms: reading the photo 3 ms, the resnet18 network 40 ms."
    )


def test_the_heatmap_switch_and_opacity_only_change_a_style():
    assert heat_style(0.3, ["on"]) == {"opacity": 0.3}
    assert heat_style(None, ["on"]) == {"opacity": 0.5}
    assert heat_style(0.3, []) == {"display": "none"}
    assert heat_style("0.3; background:url(x)", ["on"]) == {"opacity": 0.5}
