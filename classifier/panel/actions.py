"""What each visitor action does, as plain functions the callbacks present and the tests call.

A new photo is analysed once, without the PNG (the page renders its own overlays) but with the
attribute maps, and kept on the server (`state`). A click on a scene bar or an attribute
re-renders one of the grids the analysis already carries, never a second forward pass; a click
on the strip of several photos, on a recent analysis, or a page opened at `?result=KEY` shows a
kept result again. "Download overlay PNG" renders the PNG. Each of these takes one slot of the
visitor's per-minute allowance, the same as the API, after the cheap checks of what the browser
sent and before any work.

Every refusal is said next to the input that caused it: `act` answers the error under the name
of that input's message (`ERROR_OUTPUTS`).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

from dash import dcc
from dash.exceptions import PreventUpdate
from django.conf import settings

from classifier.engine import cam, encoding
from classifier.engine.analyzer import Analysis
from classifier.engine.encoding import data_uri
from classifier.engine.errors import SceneWebError
from classifier.panel.components import HeatView, attributes_view, heat_style, heat_view, present
from classifier.panel.inputs import (
    DEFAULT_OPACITY,
    PanelInputs,
    check_bar_count,
    photo_bytes,
    scene_index,
    uploaded_photos,
)
from classifier.panel.state import PanelState, load_state, save_state
from classifier.panel.strip import strip_view
from classifier.ratelimit import take_rate_slot
from classifier.runtime import analyse_bytes

logger = logging.getLogger("sceneweb.panel")

UNEXPECTED = "Something went wrong while analysing this photo; please try another one."
KEPT = ("strip", "recent")  # pattern ids whose `key` names a kept result


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
    def analysis(self) -> Analysis | None:
        return self.state.analysis if self.state else None


def analyse_source(
    trigger: str | dict, upload: object = None, url: object = None, *, client: str | None = None, name: str = ""
) -> Outcome:
    """Analyse the photo behind `trigger` and keep it on the server; any refusal becomes a plain-words
    message and the page stays as it was."""
    try:
        take_slot(client)
        data, described = photo_bytes(trigger, upload, url)
        name = name or described
        analysed = analyse_bytes(data, heatmap=False, attribute_maps=True)
        state = PanelState.of(analysed.analysis, analysed.photo.image, name)
        key = save_state(state)  # a cache outage is a message too (`sharedcache.CacheUnavailable`)
    except SceneWebError as exc:
        return Outcome(None, None, exc.message, "")
    except PreventUpdate:
        raise
    except Exception:
        logger.exception("panel analysis failed")
        return Outcome(None, None, UNEXPECTED, "")
    return Outcome(state, key, "", f"Analysed {name}.")


def download_name(state: PanelState, suffix: str) -> str:
    """`mountains.jpg` whose top scene is `valley` downloads as `mountains-valley<suffix>`."""
    stem = state.name.rsplit(".", 1)[0] if "." in state.name else state.name
    scene = state.analysis.scenes[0].label
    words = re.sub(r"[^A-Za-z0-9]+", "-", f"{stem} {scene}").strip("-").lower()
    return f"{words[:100] or 'scene'}{suffix}"


def json_file(state: PanelState) -> dict:
    return dcc.send_string(json.dumps(state.analysis.to_dict(), indent=2), download_name(state, ".json"))


def overlay_file(
    state: PanelState, selected: int, opacity: object, shown: object, attribute: int | None = None
) -> dict:
    """The photo with the shown heatmap blended as on screen, as a PNG (at display size)."""
    alpha = heat_style(opacity, shown).get("opacity", 0.0)
    chosen = state.analysis.cams[selected] if attribute is None else state.analysis.attribute_maps[attribute]
    overlay = cam.render_overlay(state.picture(), chosen.grid, alpha=alpha, max_side=None)
    tag = re.sub(r"[^a-z0-9]+", "-", chosen.label.lower()).strip("-")
    return dcc.send_bytes(encoding.png_bytes(overlay), download_name(state, f"-heatmap-{tag}.png"))


def heat_changes(view: HeatView) -> dict[str, object]:
    unused = settings.SCENEWEB_TOP_K - len(view.bar_classes)
    return {
        "bar_classes": view.bar_classes + ["sw-bar is-unused"] * unused,
        "bar_pressed": view.bar_pressed + ["false"] * unused,
        "heat": view.heat,
        "caption": view.caption,
        "selected": view.selected,
        "attribute": view.attribute,
    }


def attribute_index(value: object, state: PanelState) -> int:
    maps = state.analysis.attribute_maps or []
    if type(value) is not int or not 0 <= value < len(maps):
        raise SceneWebError("This attribute has no map; please analyse the photo again.", code="panel_input_invalid")
    return value


def shown_result(state: PanelState, key: str) -> dict[str, object]:
    """Everything the results area shows for one kept analysis (a new photo or one shown again)."""
    shown = present(state)
    padding = [None] * (settings.SCENEWEB_TOP_K - len(shown.bars))  # fewer scenes than slots: blank the rest
    analysis = state.analysis
    return {
        **heat_changes(shown.view),
        "key": key,
        "meta": {"key": key, "name": state.name, "scene": shown.headline, "summary": analysis.summary},
        "photo": data_uri(state.photo, "image/jpeg"),
        "alt": analysis.summary,
        "headline": shown.headline,
        "summary": analysis.summary,
        "announce": f"{state.name}: {analysis.summary}",
        "bars": shown.bars + padding,
        "io": shown.io,
        "attributes": shown.attributes,
        "custom": shown.custom,
        "timing": shown.timing,
        "results_class": "sw-results",
        "opacity": DEFAULT_OPACITY,
        **cleared(),
    }


def cleared() -> dict[str, object]:
    return {"error": "", "url_error": "", "sample_error": "", "upload_feedback": {"error": "", "status": ""}}


def error_output(trigger: str | dict) -> str:
    """Which message belongs to the input that fired: the drop zone's, the address's, the gallery's, or the results'."""
    if trigger == "uploads":
        return "upload_feedback"
    if trigger in ("url", "url-go"):
        return "url_error"
    if isinstance(trigger, dict) and trigger.get("type") == "sample":
        return "sample_error"
    return "error"


def refusal(trigger: str | dict, message: str) -> dict[str, object]:
    output = error_output(trigger)
    return {output: {"error": message, "status": ""} if output == "upload_feedback" else message}


def analyse_uploads(value: object, client: str | None) -> dict[str, object]:
    """Several photos at once: each analysed on its own, a strip of them all (each with its own error),
    the first that worked shown."""
    photos = uploaded_photos(value)
    outcomes = [analyse_source("upload", uri, client=client, name=name) for name, uri in photos]
    strip = strip_view(photos, outcomes) if len(photos) > 1 else []
    worked = [o for o in outcomes if o.state is not None]
    if not worked:
        message = outcomes[0].error if len(outcomes) == 1 else f"None of the {len(outcomes)} photos could be analysed."
        return {"upload_feedback": {"error": message, "status": ""}, "strip": strip}
    failed = len(outcomes) - len(worked)
    changes = {**shown_result(worked[0].state, worked[0].key), "strip": strip}
    if failed:
        changes["upload_feedback"] = {
            "error": f"{failed} of the {len(outcomes)} photos could not be analysed.",
            "status": "",
        }
    else:
        changes["upload_feedback"] = {"error": "", "status": f"Analysed {len(worked)} photo{'s' * (len(worked) > 1)}."}
    return changes


def act(trigger: str | dict, inputs: PanelInputs, *, client: str | None = None) -> dict[str, object]:
    """What one visitor action changes on the page, by output name (see `callbacks.OUTPUTS`)."""
    kind = trigger.get("type") if isinstance(trigger, dict) else None
    try:
        check_bar_count(inputs.bar_count)
        if trigger == "get-png":
            state = load_state(inputs.key)
            selected = scene_index(inputs.selected, len(state.analysis.scenes))
            attribute = None if inputs.attribute is None else attribute_index(inputs.attribute, state)
            take_slot(client)
            return {"png": overlay_file(state, selected, inputs.opacity, inputs.shown, attribute), "error": ""}
        if kind in ("scene-bar", "attr-bar"):
            state = load_state(inputs.key)
            if kind == "scene-bar":
                selected, attribute = scene_index(trigger.get("index"), len(state.analysis.scenes)), None
            else:
                selected, attribute = 0, attribute_index(trigger.get("index"), state)
            take_slot(client)
            view = heat_view(state, state.picture(), selected, attribute)
            return {**heat_changes(view), "attributes": present_attributes(state, attribute), "error": ""}
        if kind in KEPT or trigger == "wanted":
            key = trigger.get("key") if kind else inputs.wanted
            return shown_result(load_state(key), key)
        if trigger == "uploads":
            return analyse_uploads(inputs.uploads, client)
    except SceneWebError as exc:
        return refusal(trigger, exc.message)
    outcome = analyse_source(trigger, None, inputs.url, client=client)
    if outcome.state is None:
        return refusal(trigger, outcome.error)
    return {**shown_result(outcome.state, outcome.key), "strip": []}


def present_attributes(state: PanelState, selected: int | None) -> list:
    analysis = state.analysis
    return attributes_view(analysis.attributes, analysis.attributes_note, analysis.models["attributes"], selected)
