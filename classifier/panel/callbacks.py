"""The Dash callbacks: thin presenters that read what fired, call `actions`, and map the answer
onto the page's outputs. `attach` wires them to the app that `classifier.panel.register` builds.

The component ids are those of `layout`; the update endpoint in front of these callbacks
(`classifier.panel.door.panel_update`) has already checked the CSRF token and the shape of the request.
What runs in the browser only (the page's address, the recent list, the drop zone's messages) is
in `static/js/sceneweb.js`, wired here as client-side callbacks.
"""

from __future__ import annotations

import json

from dash import ALL, ClientsideFunction, no_update
from dash.dependencies import Input, Output, State
from dash.exceptions import PreventUpdate
from django_plotly_dash import DjangoDash

from classifier.clients import client_address
from classifier.engine.errors import SceneWebError
from classifier.panel.actions import act, json_file
from classifier.panel.components import heat_style
from classifier.panel.inputs import PanelInputs
from classifier.panel.state import load_state

# The outputs of `on_action`, in order, by the names `act` uses; the bar lists are per bar.
OUTPUTS = {
    "key": Output("panel-state", "data"),
    "meta": Output("result-meta", "data"),
    "photo": Output("photo", "src"),
    "alt": Output("photo", "alt"),
    "headline": Output("headline", "children"),
    "summary": Output("summary", "children"),
    "announce": Output("announce", "children"),
    "error": Output("error", "children"),
    "upload_feedback": Output("upload-feedback", "data"),
    "url_error": Output("url-error", "children"),
    "sample_error": Output("sample-error", "children"),
    "bars": Output({"type": "scene-bar", "index": ALL}, "children"),
    "bar_classes": Output({"type": "scene-bar", "index": ALL}, "className"),
    "bar_pressed": Output({"type": "scene-bar", "index": ALL}, "aria-pressed"),
    "heat": Output("heat", "src"),
    "caption": Output("heat-caption", "children"),
    "selected": Output("selected", "data"),
    "attribute": Output("selected-attribute", "data"),
    "io": Output("io", "children"),
    "attributes": Output("attributes", "children"),
    "custom": Output("custom", "children"),
    "timing": Output("timing", "children"),
    "results_class": Output("results", "className"),
    "opacity": Output("opacity", "value"),
    "strip": Output("strip", "children"),
    "png": Output("png-file", "data"),
}
PER_BAR = {"bars", "bar_classes", "bar_pressed"}

# What `on_action` reads, in the order of its parameters.
ACTION_INPUTS = (
    Input("uploads", "data"),
    Input("url-go", "n_clicks"),
    Input("url", "n_submit"),
    Input({"type": "sample", "name": ALL}, "n_clicks"),
    Input({"type": "scene-bar", "index": ALL}, "n_clicks"),
    Input({"type": "attr-bar", "index": ALL}, "n_clicks"),
    Input({"type": "strip", "key": ALL}, "n_clicks"),
    Input({"type": "recent", "key": ALL}, "n_clicks"),
    Input("wanted", "data"),
    Input("get-png", "n_clicks"),
    State("url", "value"),
    State("panel-state", "data"),
    State("selected", "data"),
    State("selected-attribute", "data"),
    State("opacity", "value"),
    State("heat-on", "value"),
)


def trigger_of(callback_context) -> str | dict:
    """The id of the input that fired (a dict for pattern-matching ids such as a sample button)."""
    fired = [t for t in callback_context.triggered if isinstance(t, dict) and t.get("value")]
    if not fired or not isinstance(fired[0].get("prop_id"), str):
        raise PreventUpdate
    component = fired[0]["prop_id"].rsplit(".", 1)[0]
    if not component.startswith("{"):
        return component
    try:
        return json.loads(component)
    except ValueError:
        raise PreventUpdate from None


def on_action(
    uploads, _go, _enter, _samples, bars, _attrs, _strip, _recent, wanted, _png,
    url, key, selected, attribute, opacity, shown, callback_context, request,
):  # fmt: skip
    """Every action that costs work goes through here, so each takes its slot in one place."""
    bar_count = len(bars) if isinstance(bars, list) else 0
    inputs = PanelInputs(uploads, url, key, selected, opacity, shown, bar_count, uploads, attribute, wanted)
    changes = act(trigger_of(callback_context), inputs, client=client_address(request))
    return tuple(changes.get(name, [no_update] * bar_count if name in PER_BAR else no_update) for name in OUTPUTS)


def on_heat_controls(opacity, shown):
    return heat_style(opacity, shown)


def on_json_download(_clicks, key):
    """The stored analysis as it is (no rendering, so no slot); an unknown or expired key sends nothing."""
    try:
        return json_file(load_state(key))
    except SceneWebError:  # refused, or the cache is down (logged): nothing to send
        raise PreventUpdate from None


def attach(app: DjangoDash) -> None:
    """Wire the callbacks to `app` (django-plotly-dash adds `callback_context` and `request` to
    `on_action`'s arguments, after Dash's own, because its signature names them)."""
    app.callback(*OUTPUTS.values(), *ACTION_INPUTS, prevent_initial_call=True)(on_action)
    app.callback(Output("heat", "style"), Input("opacity", "value"), Input("heat-on", "value"))(on_heat_controls)
    app.callback(
        Output("json-file", "data"),
        Input("get-json", "n_clicks"),
        State("panel-state", "data"),
        prevent_initial_call=True,
    )(on_json_download)
    app.clientside_callback(
        ClientsideFunction("sceneweb", "showUploadFeedback"),
        Output("upload-feedback-shown", "data"),
        Input("upload-feedback", "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction("sceneweb", "rememberResult"), Output("recent", "children"), Input("result-meta", "data")
    )
    app.clientside_callback(
        ClientsideFunction("sceneweb", "wantedResult"), Output("wanted", "data"), Input("boot", "data")
    )
