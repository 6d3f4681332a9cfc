"""The analysis and the display photo stay on the server; the browser holds only a key to them."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from classifier.panel.inputs import PanelRefused
from classifier.panel.state import DISPLAY_SIDE, EXPIRED, PanelState, display_jpeg, load_state, save_state


def test_a_saved_state_comes_back_by_its_key():
    state = PanelState({"scenes": [{"label": "beach"}]}, b"jpeg bytes")
    key = save_state(state)
    assert len(key) == 24
    assert load_state(key) == state


def test_each_analysis_gets_its_own_key():
    state = PanelState({}, b"")
    assert save_state(state) != save_state(state)


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
    photo = Image.open(io.BytesIO(display_jpeg(Image.new("RGBA", (2000, 1000)))))
    assert photo.format == "JPEG"
    assert photo.size == (DISPLAY_SIDE, DISPLAY_SIDE // 2)
