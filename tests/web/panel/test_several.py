"""Several photos at once, kept results shown again, and attribute maps, through `actions.act`."""

from __future__ import annotations

import json

import pytest

from classifier.panel import actions
from classifier.panel.actions import act
from classifier.panel.inputs import PanelInputs
from classifier.panel.state import EXPIRED
from tests.support.panel import upload_of


def inputs(**values) -> PanelInputs:
    return PanelInputs(**({"bar_count": 5} | values))


def uploads(*photos: tuple[str, bytes]) -> dict:
    return {"photos": [{"name": name, "uri": upload_of(data)} for name, data in photos], "sent": 1}


def test_several_photos_give_a_strip_each_with_its_result_or_its_own_error(service, photo_bytes):
    sent = uploads(("a.jpg", photo_bytes), ("notes.jpg", b"plain text"), ("c.jpg", photo_bytes))
    changes = act("uploads", inputs(uploads=sent))
    assert changes["announce"].startswith("a.jpg: ")  # the first that worked is shown
    strip = json.dumps([c.to_plotly_json() for c in changes["strip"]], default=lambda c: c.to_plotly_json())
    assert "3 photos: pick one" in strip
    assert strip.count('"type": "strip"') == 2  # two buttons, one for each result
    assert "This is not an image format we accept" in strip  # the broken one says why
    assert changes["upload_feedback"] == {"error": "1 of the 3 photos could not be analysed.", "status": ""}
    keys = [e.children.id["key"] for e in changes["strip"][1].children if "is-failed" not in str(e)]
    key = keys[1]
    again = act({"type": "strip", "key": key}, inputs())
    assert again["key"] == key and again["meta"]["name"] == "c.jpg"


def test_more_photos_than_the_setting_allows_are_refused_beside_the_drop_zone(service, settings, photo_bytes):
    settings.SCENEWEB_PAGE_MAX_PHOTOS = 2
    changes = act("uploads", inputs(uploads=uploads(*[("p.jpg", photo_bytes)] * 3)))
    assert changes == {"upload_feedback": {"error": "Choose at most 2 photos at once.", "status": ""}}


@pytest.mark.parametrize("sent", [None, {"photos": "x"}, {"photos": []}, {"photos": [1]}])
def test_a_malformed_uploads_store_is_a_message(service, sent):
    assert act("uploads", inputs(uploads=sent))["upload_feedback"]["error"].startswith("The photos could not be read")


def test_a_result_asked_for_by_the_address_is_shown_again_until_it_expires(service, sample_photos, monkeypatch):
    first = act({"type": "sample", "name": sample_photos[0].name}, inputs())
    monkeypatch.setattr(actions, "analyse_bytes", lambda *a, **k: pytest.fail("no second analysis"))
    shown = act("wanted", inputs(wanted=first["key"]))
    assert shown["summary"] == first["summary"] and shown["alt"] == first["summary"]
    assert shown["opacity"] == 0.5  # every photo starts at the default opacity
    assert act("wanted", inputs(wanted="A" * 24)) == {"error": EXPIRED}
    assert act({"type": "recent", "key": "../etc"}, inputs())["error"].startswith("The page sent back a result")


def test_an_attribute_click_shows_its_map_and_the_png_follows(service, use_models, fresh_models_dir, photo_bytes):
    use_models(fresh_models_dir)
    first = act("uploads", inputs(uploads=uploads(("m.jpg", photo_bytes))))
    clicked = act({"type": "attr-bar", "index": 2}, inputs(key=first["key"]))
    assert clicked["attribute"] == 2 and clicked["bar_pressed"] == ["false"] * 5
    assert clicked["heat"] != first["heat"]
    pressed = [b.children for b in clicked["attributes"][0].children]
    assert [getattr(b, "aria-pressed") for b in pressed].index("true") == 2
    png = act("get-png", inputs(key=first["key"], attribute=2, selected=0, opacity=0.5, shown=["on"]))["png"]
    label = pressed[2].children[0].children.replace(" ", "-").replace("/", "-")
    assert png["filename"].startswith("m-") and png["filename"].endswith(f"-heatmap-{label}.png")
    assert act({"type": "attr-bar", "index": 99}, inputs(key=first["key"]))["error"].startswith("This attribute")
