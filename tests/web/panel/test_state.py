"""The analysis and the display photo stay on the server; the browser holds only a key to them."""

from __future__ import annotations

import io

import pytest
from django.core.cache import cache
from PIL import Image

from classifier.engine.analyzer import Analysis, IndoorOutdoor
from classifier.engine.scores import Heatmap, SceneScore
from classifier.panel.inputs import PanelRefused
from classifier.panel.state import DISPLAY_SIDE, EXPIRED, PanelState, load_state, save_state

BEACH = Analysis(
    scenes=[SceneScore("beach", 48, 0.9)],
    io=IndoorOutdoor("outdoor", 1.0),
    attributes=[],
    attributes_note="none here",
    cam=Heatmap("beach", 48, [[0.5] * 7] * 7),
    cams=[Heatmap("beach", 48, [[0.5] * 7] * 7)],
)


def test_a_saved_state_comes_back_by_its_key_with_the_analysis_itself():
    state = PanelState.of(BEACH, Image.new("RGB", (64, 48), (0, 90, 200)), "beach.jpg")
    key = save_state(state)
    assert len(key) == 24
    kept = load_state(key)
    assert kept == state and kept.analysis == BEACH and kept.analysis.cams[0].grid == [[0.5] * 7] * 7
    assert kept.display is None and kept.picture().size == (64, 48)  # the cache keeps the JPEG, not the picture


def test_a_new_state_draws_on_its_own_picture_without_decoding_its_jpeg():
    picture = Image.new("RGB", (2000, 1000), (10, 20, 30))
    state = PanelState.of(BEACH, picture, "wide.jpg")
    assert state.picture() is state.display and state.display.size == (DISPLAY_SIDE, DISPLAY_SIDE // 2)
    assert picture.size == (2000, 1000)  # the decoded photo itself is left whole


def test_each_analysis_gets_its_own_key():
    state = PanelState(BEACH, b"")
    assert save_state(state) != save_state(state)


@pytest.mark.parametrize("kept", [{"analysis": {"scenes": []}, "photo": b""}, "text", None], ids=str)
def test_an_entry_that_holds_no_analysis_is_an_expired_result(kept):
    cache.set("sceneweb:panel:" + "k" * 24, kept)
    with pytest.raises(PanelRefused, match=EXPIRED):
        load_state("k" * 24)


def test_an_entry_written_by_code_this_release_lacks_is_an_expired_result(monkeypatch):
    def unpickle(*args, **kwargs):
        raise AttributeError("Can't get attribute 'OldAnalysis' on <module 'classifier.engine.analyzer'>")

    monkeypatch.setattr("classifier.panel.state.cache.get", unpickle)
    with pytest.raises(PanelRefused, match=EXPIRED):
        load_state("k" * 24)


@pytest.mark.parametrize("key", ["A" * 100_000, "short", "a" * 23 + "/", ["a" * 24], {"scenes": []}, None, 24])
def test_a_key_this_server_never_issues_is_refused_before_the_cache_is_read(key, monkeypatch):
    monkeypatch.setattr("classifier.panel.state.cache.get", lambda *a: pytest.fail("cache read"))
    with pytest.raises(PanelRefused, match="never issued"):
        load_state(key)


def test_an_unknown_or_expired_key_asks_for_a_new_analysis():
    with pytest.raises(PanelRefused, match=EXPIRED) as refused:
        load_state("x" * 24)
    assert refused.value.code == "panel_state_expired"


def test_the_kept_photo_is_a_small_jpeg():
    photo = Image.open(io.BytesIO(PanelState.of(BEACH, Image.new("RGB", (2000, 1000)), "x").photo))
    assert photo.format == "JPEG"
    assert photo.size == (DISPLAY_SIDE, DISPLAY_SIDE // 2)
