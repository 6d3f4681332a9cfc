"""What each visitor action does, as plain functions the callbacks present and the tests call.

A new photo is analysed once, without the PNG (the page renders its own overlays), and kept on the
server (`state`). A click on a scene bar re-renders one of the grids the analysis already carries
(`cams`), never a second forward pass. "Download overlay PNG" renders the PNG. Each of these takes
one slot of the visitor's per-minute allowance, the same as the API, after the cheap checks of
what the browser sent and before any work.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import numpy as np
from dash import dcc
from dash.exceptions import PreventUpdate
from django.conf import settings

from classifier.engine import cam
from classifier.engine.errors import SceneWebError
from classifier.engine.imaging import decode_image
from classifier.panel.components import HeatView, data_uri, heat_style, heat_view, present
from classifier.panel.inputs import PanelInputs, check_bar_count, photo_bytes, scene_index
from classifier.panel.state import PanelState, display_jpeg, load_state, save_state
from classifier.ratelimit import take_rate_slot
from classifier.runtime import get_analyzer, image_limits

logger = logging.getLogger("sceneweb.panel")

UNEXPECTED = "Something went wrong while analysing this photo; please try another one."


def take_slot(client: str | None) -> None:
    """`client` (the visitor's address) takes a slot of the same per-minute allowance as the API;
    the plain functions run without one when the tests call them."""
    if client is not None:
        take_rate_slot(client)


@dataclass(frozen=True)
class Outcome:
    """What one attempt to analyse a photo leaves on the page."""

    state: PanelState | None
    key: str | None
    error: str
    status: str

    @property
    def analysis(self) -> dict | None:
        return self.state.analysis if self.state else None


def analyse_source(
    trigger: str | dict, upload: object = None, url: object = None, *, client: str | None = None
) -> Outcome:
    """Analyse the photo behind `trigger` and keep it on the server; any refusal becomes a plain-words
    message and the page stays as it was."""
    try:
        take_slot(client)
        data, name = photo_bytes(trigger, upload, url)
        decoded = decode_image(data, image_limits())
        analysis = get_analyzer().analyze(decoded, heatmap=False)
        state = PanelState(analysis.to_dict(), display_jpeg(decoded.image))
        key = save_state(state)  # a cache outage is a message too (`sharedcache.CacheUnavailable`)
    except SceneWebError as exc:
        return Outcome(None, None, exc.message, "")
    except PreventUpdate:
        raise
    except Exception:
        logger.exception("panel analysis failed")
        return Outcome(None, None, UNEXPECTED, "")
    return Outcome(state, key, "", f"Analysed {name}.")


def json_file(analysis: dict) -> dict:
    return dcc.send_string(json.dumps(analysis, indent=2), "scene-analysis.json")


def overlay_file(state: PanelState, selected: int, opacity: object, shown: object) -> dict:
    """The photo with the selected heatmap blended as on screen, as a PNG (at display size)."""
    alpha = heat_style(opacity, shown).get("opacity", 0.0)
    chosen = state.analysis["cams"][selected]
    grid = np.asarray(chosen["grid"], dtype=np.float32)
    overlay = cam.render_overlay(state.picture(), grid, alpha=alpha, max_side=None)
    return dcc.send_bytes(cam.png_bytes(overlay), f"scene-heatmap-{chosen['index']}.png")


def heat_changes(view: HeatView) -> dict[str, object]:
    unused = ["sw-bar is-unused"] * (settings.SCENEWEB_TOP_K - len(view.bar_classes))
    return {
        "bar_classes": view.bar_classes + unused,
        "heat": view.heat,
        "caption": view.caption,
        "selected": view.selected,
    }


def act(trigger: str | dict, inputs: PanelInputs, *, client: str | None = None) -> dict[str, object]:
    """What one visitor action changes on the page, by output name (see `callbacks.OUTPUTS`)."""
    try:
        check_bar_count(inputs.bar_count)
        if trigger == "get-png":
            state = load_state(inputs.key)
            selected = scene_index(inputs.selected, len(state.analysis["scenes"]))
            take_slot(client)
            return {"png": overlay_file(state, selected, inputs.opacity, inputs.shown), "error": ""}
        if isinstance(trigger, dict) and trigger.get("type") == "scene-bar":
            state = load_state(inputs.key)
            selected = scene_index(trigger.get("index"), len(state.analysis["scenes"]))
            take_slot(client)
            return {**heat_changes(heat_view(state, state.picture(), selected)), "error": ""}
    except SceneWebError as exc:
        return {"error": exc.message}
    outcome = analyse_source(trigger, inputs.upload, inputs.url, client=client)
    if outcome.state is None:
        return {"error": outcome.error, "status": outcome.status}
    shown = present(outcome.state)
    padding = [None] * (settings.SCENEWEB_TOP_K - len(shown.bars))  # fewer scenes than slots: blank the rest
    return {
        **heat_changes(shown.view),
        "key": outcome.key,
        "photo": data_uri(outcome.state.photo, "image/jpeg"),
        "error": "",
        "status": outcome.status,
        "bars": shown.bars + padding,
        "io": shown.io,
        "attributes": shown.attributes,
        "custom": shown.custom,
        "timing": shown.timing,
        "results_class": "sw-results",
    }
