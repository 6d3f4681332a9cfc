"""What each visitor action does (`classifier.panel.actions`), called as the plain functions they are
(test_endpoint.py calls them through django-plotly-dash's update endpoint)."""

from __future__ import annotations

import base64
import io
import json
import re

import pytest
from PIL import Image

from classifier.engine import cam, encoding
from classifier.engine.image_checks import ACCEPTED_TEXT
from classifier.panel import actions
from classifier.panel.actions import UNEXPECTED, act, analyse_source, json_file, overlay_file
from classifier.panel.inputs import PanelInputs
from classifier.panel.state import DISPLAY_SIDE, EXPIRED, load_state
from tests.support.httpserver import local_server, serve_bytes
from tests.support.images import image_bytes, raw_png
from tests.support.panel import photo_of, upload_of


def test_an_upload_is_analysed_once_without_the_png(analysed):
    assert analysed.error == ""
    assert analysed.status == "Analysed your photo."
    assert len(analysed.analysis.scenes) == 5
    assert analysed.analysis.cam.png_base64 is None
    assert len(analysed.analysis.cams) == 5


def test_the_photo_comes_back_small(analysed):
    photo = photo_of(analysed)
    assert photo.format == "JPEG"
    assert max(photo.size) <= DISPLAY_SIDE


def test_a_sample_click_analyses_that_sample(service, sample_photos):
    outcome = analyse_source({"type": "sample", "name": sample_photos[0].name})
    assert outcome.status == f"Analysed sample {sample_photos[0].name}."
    assert len(outcome.analysis.scenes) == 5


def test_a_url_is_fetched_and_analysed(service, photo_bytes):
    with local_server({"/p.jpg": serve_bytes(photo_bytes, "image/jpeg")}) as base:
        outcome = analyse_source("url-go", url=f"{base}/p.jpg")
    assert outcome.error == ""
    assert outcome.status == "Analysed p.jpg."  # named after the address's last part


def test_a_refused_url_becomes_an_inline_message(service):
    outcome = analyse_source("url", url="http://169.254.169.254/latest/meta-data")
    assert outcome.analysis is None and outcome.key is None
    assert outcome.error.startswith("We do not fetch from a link-local address")


def test_a_file_that_is_not_an_image_becomes_an_inline_message(service):
    outcome = analyse_source("upload", upload_of(b"plain text", "text/plain"))
    assert outcome.analysis is None
    assert outcome.error == f"This is not an image format we accept; please send {ACCEPTED_TEXT}."


@pytest.mark.parametrize("upload", ["data:image/jpeg;base64,@@@not-base64", {"contents": 1}])
def test_an_unreadable_upload_becomes_an_inline_message(service, upload):
    assert analyse_source("upload", upload).error == "The file could not be read; please choose it again."


def test_missing_weights_become_an_inline_message(service, use_models, tmp_path, photo_bytes):
    use_models(tmp_path)
    outcome = analyse_source("upload", upload_of(photo_bytes))
    assert "manage.py fetch_models" in outcome.error


def test_the_rate_limit_applies_to_the_panel_too(service, settings, photo_bytes, frozen_minute):
    settings.SCENEWEB_RATE_LIMIT = 1
    analyse_source("upload", upload_of(photo_bytes), client="198.51.100.7")
    outcome = analyse_source("upload", upload_of(photo_bytes), client="198.51.100.7")
    assert outcome.error.startswith("Too many analyses from your address")


def test_a_png_upload_with_transparency_is_analysed(service):
    outcome = analyse_source("upload", upload_of(image_bytes(Image.new("RGBA", (300, 200)), "PNG"), "image/png"))
    assert outcome.error == ""


def test_an_unexpected_failure_becomes_a_calm_message(service, photo_bytes, monkeypatch):
    def broken(*args, **options):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(actions, "analyse_bytes", broken)
    outcome = analyse_source("upload", upload_of(photo_bytes))
    assert outcome.error == UNEXPECTED


def test_the_json_download_is_the_analysis_named_after_the_photo_and_its_top_scene(analysed):
    download = json_file(analysed.state)
    top = analysed.analysis.scenes[0].label
    assert download["filename"] == f"your-photo-{re.sub('[^a-z0-9]+', '-', top)}.json"
    assert json.loads(download["content"]) == json.loads(json.dumps(analysed.analysis.to_dict()))


def test_the_overlay_download_is_a_png_of_the_selected_heatmap(analysed):
    download = overlay_file(analysed.state, 1, 0.6, ["on"])
    second = re.sub("[^a-z0-9]+", "-", analysed.analysis.cams[1].label)
    assert download["filename"].endswith(f"-heatmap-{second}.png")
    png = Image.open(io.BytesIO(base64.b64decode(download["content"])))
    assert png.format == "PNG"
    assert png.size == photo_of(analysed).size


# -- what the browser sends back is a key, and nothing it sends is trusted -----------------------


def inputs(**values) -> PanelInputs:
    return PanelInputs(**({"bar_count": 5} | values))


FAKE_CUSTOM = {"name": "x", "classes": [], "cam": {"label": "x", "grid": [[1.0] * 7] * 7}}


def no_rendering(monkeypatch):
    """Any heatmap, PNG or analysis from here on fails the test."""
    monkeypatch.setattr(cam, "render_overlay", lambda *a, **k: pytest.fail("rendered"))
    monkeypatch.setattr(encoding, "png_bytes", lambda *a, **k: pytest.fail("rendered"))
    monkeypatch.setattr(actions, "analyse_bytes", lambda *a, **k: pytest.fail("analysed"))


def test_the_browser_gets_a_key_and_the_server_keeps_the_analysis(service, sample_photos):
    changes = act({"type": "sample", "name": sample_photos[0].name}, inputs())
    assert changes["error"] == "" and changes["results_class"] == "sw-results"
    assert isinstance(changes["key"], str) and len(changes["key"]) == 24
    assert load_state(changes["key"]).analysis.scenes[0].label in json.dumps(
        [b[0].to_plotly_json() for b in changes["bars"]]
    )
    assert changes["photo"].startswith("data:image/jpeg;base64,")
    assert "analysis" not in changes


def test_fewer_scenes_than_bars_leave_the_rest_blank(analysed, settings, sample_photos):
    settings.SCENEWEB_TOP_K = 7  # the page has 7 bars; the analyzer, built for 5, lists 5 scenes
    changes = act({"type": "sample", "name": sample_photos[0].name}, inputs(bar_count=7))
    assert changes["bars"][5:] == [None, None]
    assert changes["bar_classes"][5:] == ["sw-bar is-unused"] * 2


def test_a_bar_click_and_the_png_are_rendered_from_the_kept_analysis(analysed):
    clicked = act({"type": "scene-bar", "index": 3}, inputs(key=analysed.key))
    assert clicked["bar_classes"][3] == "sw-bar is-selected" and clicked["selected"] == 3
    assert clicked["bar_pressed"][3] == "true" and clicked["bar_pressed"].count("true") == 1
    assert set(clicked) == {
        "bar_classes",
        "bar_pressed",
        "heat",
        "caption",
        "selected",
        "attribute",
        "attributes",
        "error",
    }
    png = act("get-png", inputs(key=analysed.key, selected=3, opacity=0.5, shown=["on"]))["png"]
    fourth = re.sub("[^a-z0-9]+", "-", analysed.analysis.cams[3].label)
    assert png["filename"].endswith(f"-heatmap-{fourth}.png")


def test_a_client_already_refused_gets_no_work_done_through_the_panel(analysed, settings, monkeypatch, frozen_minute):
    settings.SCENEWEB_RATE_LIMIT = 1
    client = "198.51.100.9"
    act({"type": "scene-bar", "index": 1}, inputs(key=analysed.key), client=client)  # the one allowed
    no_rendering(monkeypatch)
    actions_sent = [
        ({"type": "scene-bar", "index": 2}, inputs(key=analysed.key)),
        ("get-png", inputs(key=analysed.key, selected=0, shown=["on"])),
        ("upload", inputs(upload=upload_of(b"anything"))),
    ]
    for trigger, sent in actions_sent:
        assert act(trigger, sent, client=client)["error"].startswith("Too many analyses from your address")


@pytest.mark.parametrize(
    "forged",
    [
        pytest.param({"scenes": [], "cams": [], "custom": [FAKE_CUSTOM] * 500}, id="analysis with 500 custom entries"),
        pytest.param(upload_of(raw_png(7000, 7000, bit_depth=16, color_type=2), "image/png"), id="16-bit png"),
        pytest.param("A" * 100_000, id="long string"),
        pytest.param(["a" * 24], id="list"),
        pytest.param(None, id="none"),
    ],
)
def test_a_forged_result_is_refused_before_any_work(service, monkeypatch, forged):
    no_rendering(monkeypatch)
    for trigger in ({"type": "scene-bar", "index": 0}, "get-png"):
        changes = act(trigger, inputs(key=forged, selected=0, shown=["on"]))
        assert changes == {"error": "The page sent back a result this server never issued; please reload the page."}


def test_an_unknown_or_expired_key_asks_for_a_new_analysis(service, monkeypatch):
    no_rendering(monkeypatch)
    assert act("get-png", inputs(key="x" * 24, selected=0)) == {"error": EXPIRED}


@pytest.mark.parametrize("index", [5, -1, True, "1", 1.5, None, 10**100])
def test_a_scene_index_outside_the_listed_scenes_is_refused(analysed, monkeypatch, index):
    no_rendering(monkeypatch)
    assert act({"type": "scene-bar", "index": index}, inputs(key=analysed.key)) == {
        "error": "Pick one of the 5 listed scenes."
    }
    assert act("get-png", inputs(key=analysed.key, selected=index)) == {"error": "Pick one of the 5 listed scenes."}


def test_a_page_with_another_number_of_bars_is_told_to_reload(analysed, monkeypatch):
    no_rendering(monkeypatch)
    assert act({"type": "scene-bar", "index": 0}, inputs(key=analysed.key, bar_count=500)) == {
        "error": "The page is out of date; please reload it."
    }
