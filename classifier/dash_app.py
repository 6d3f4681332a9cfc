"""The panel people use: a Dash app (django-plotly-dash) over the engine's `Analysis`.

The panel never touches tensors. An analysis is run once per photo, without the PNG (the page
renders its own overlays). The browser is not trusted with anything the server reads back: the
analysis and a display-size JPEG of the photo stay on the server (Django's cache, shared by the
workers) under a random key, and the browser holds only that key. Switching the heatmap to
another category re-renders one of the grids the analysis already carries (`cams`), never a
second forward pass. Every value that does come from the browser is bounded before use, and
every callback that costs real work (analysis, heatmap, PNG) takes a slot of the visitor's
per-minute allowance, the same as the API.

Each callback is a thin wrapper over plain functions (`analyse_source`, `present`, `select_scene`,
`heat_style`, `json_file`, `overlay_file`) that the tests call directly.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import math
import re
import secrets
from dataclasses import dataclass

import numpy as np
from dash import ALL, dcc, html, no_update
from dash.dependencies import Input, Output, State
from dash.exceptions import PreventUpdate
from django.conf import settings
from django.core.cache import cache
from django.urls import reverse
from django_plotly_dash import DjangoDash
from PIL import Image

from classifier import sources
from classifier.engine import cam
from classifier.engine.errors import ImageRejected, SceneWebError
from classifier.engine.imaging import decode_image
from classifier.runtime import get_analyzer, image_limits
from classifier.security import client_address, take_rate_slot

logger = logging.getLogger("sceneweb.panel")

APP_NAME = "SceneWeb"
DISPLAY_SIDE = 512  # the photo travels back to the browser at most this large, once
DEFAULT_OPACITY = 0.5
UNEXPECTED = "Something went wrong while analysing this photo; please try another one."
STATE_TTL_S = 3600  # how long an analysed photo stays clickable; then the visitor analyses it again
STATE_KEY = re.compile(r"[A-Za-z0-9_-]{24}")  # what `secrets.token_urlsafe(18)` writes
EXPIRED = "This result has expired; please analyse the photo again."

app = DjangoDash(APP_NAME, serve_locally=True)


# -- plain functions: sources to analysis ------------------------------------------------------


class PanelRefused(SceneWebError):
    """Something the browser sent back that the panel will not act on; shown as a message, no work done."""

    code = "panel_input_invalid"


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def bytes_of_data_uri(uri: str) -> bytes:
    """What dcc.Upload sends (`data:image/jpeg;base64,...`), back to the file's bytes (the request-size
    limit has already bounded its length)."""
    if not isinstance(uri, str):
        raise ImageRejected("The file could not be read; please choose it again.", code="bad_upload")
    _, _, encoded = uri.partition(";base64,")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ImageRejected("The file could not be read; please choose it again.", code="bad_upload") from None


def display_jpeg(image: Image.Image) -> bytes:
    """A small JPEG of the photo for the page: the overlay is drawn over it, never over the original."""
    photo = image.copy()
    photo.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE), Image.Resampling.BILINEAR)
    return sources.jpeg_bytes(photo, quality=85)


@dataclass(frozen=True)
class PanelState:
    """What the server keeps for one analysed photo; the browser holds only the key to it."""

    analysis: dict
    photo: bytes  # the display-size JPEG this server made

    def picture(self) -> Image.Image:
        return Image.open(io.BytesIO(self.photo)).convert("RGB")


def save_state(state: PanelState) -> str:
    key = secrets.token_urlsafe(18)
    cache.set(f"sceneweb:panel:{key}", {"analysis": state.analysis, "photo": state.photo}, timeout=STATE_TTL_S)
    return key


def load_state(key: object) -> PanelState:
    """The state behind a key the browser sent back; anything else is refused before any work."""
    if not isinstance(key, str) or not STATE_KEY.fullmatch(key):
        raise PanelRefused("The page sent back a result this server never issued; please reload the page.")
    stored = cache.get(f"sceneweb:panel:{key}")
    if not isinstance(stored, dict):
        raise PanelRefused(EXPIRED, code="panel_state_expired")
    return PanelState(stored["analysis"], stored["photo"])


def scene_index(value: object, state: PanelState) -> int:
    """A scene position the browser sent (a bar it clicked): an integer among the listed scenes."""
    count = len(state.analysis["scenes"])
    if type(value) is not int or not 0 <= value < count:
        raise PanelRefused(f"Pick one of the {count} listed scenes.")
    return value


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


def photo_bytes(trigger: str | dict, upload: str | None, url: str | None) -> tuple[bytes, str]:
    """The photo's bytes and a name for it, from whichever of the three ways in was used."""
    if trigger == "upload":
        return bytes_of_data_uri(upload), "your photo"
    if trigger in ("url", "url-go"):
        return sources.url_bytes(url), "the photo at that address"
    if isinstance(trigger, dict) and trigger.get("type") == "sample":
        name = trigger.get("name")
        return sources.sample_bytes(name), f"sample {name}"
    raise PreventUpdate


def analyse_source(
    trigger: str | dict, upload: str | None = None, url: str | None = None, *, client: str | None = None
) -> Outcome:
    """Analyse the photo behind `trigger` and keep it on the server; any refusal becomes a plain-words
    message and the page stays as it was."""
    try:
        take_slot(client)
        data, name = photo_bytes(trigger, upload, url)
        decoded = decode_image(data, image_limits())
        analysis = get_analyzer().analyze(decoded, heatmap=False)
        state = PanelState(analysis.to_dict(), display_jpeg(decoded.image))
    except SceneWebError as exc:
        return Outcome(None, None, exc.message, "")
    except PreventUpdate:
        raise
    except Exception:
        logger.exception("panel analysis failed")
        return Outcome(None, None, UNEXPECTED, "")
    return Outcome(state, save_state(state), "", f"Analysed {name}.")


# -- plain functions: analysis to page ---------------------------------------------------------


def readable(label: str) -> str:
    """`apartment_building/outdoor` reads as `apartment building (outdoor)`."""
    name, _, detail = label.partition("/")
    name = name.replace("_", " ")
    return f"{name} ({detail.replace('_', ' ')})" if detail else name


def scene_bar(scene: dict) -> list:
    share = max(0.0, min(1.0, scene["probability"]))
    return [
        html.Span(readable(scene["label"]), className="sw-bar-label"),
        html.Span(f"{share:.1%}", className="sw-bar-value"),
        html.Span(html.Span(className="sw-bar-fill", style={"width": f"{share * 100:.1f}%"}), className="sw-bar-track"),
    ]


def io_view(io: dict) -> list:
    """A labelled bar from indoor (0) to outdoor (1) with the verdict in words."""
    score = io["score"]
    return [
        html.Div([html.Span("Indoor / outdoor", className="sw-kicker"), html.Strong(io["label"], id="io-verdict")]),
        html.Div(
            html.Span(className="sw-io-marker", style={"left": f"{score * 100:.1f}%"}),
            className="sw-io-track",
            title=f"outdoor score {score:.2f}",
        ),
        html.Div(
            [html.Span("indoor"), html.Span(f"outdoor score {score:.2f}"), html.Span("outdoor")],
            className="sw-io-scale",
        ),
    ]


def attributes_view(attributes: list[dict], note: str | None, source: dict | None = None) -> list:
    """The attribute bars, then where they come from and what their scores mean (`models.attributes`)."""
    if not attributes:
        return [html.P(note or "No attributes for this photo.", className="sw-note")]
    peak = max(max(a["score"] for a in attributes), 1e-9)
    origin = f"From {source['description']}; {source['scores']}." if source else ""
    return [
        *([html.P(origin, className="sw-note sw-attr-source")] if origin else []),
        html.Ul(
            [
                html.Li(
                    [
                        html.Span(a["label"], className="sw-attr-label"),
                        html.Span(
                            html.Span(style={"width": f"{max(a['score'], 0) / peak * 100:.0f}%"}),
                            className="sw-attr-track",
                        ),
                        html.Span(f"{a['score']:.2f}", className="sw-attr-value"),
                    ]
                )
                for a in attributes
            ],
            className="sw-attrs",
        ),
    ]


def custom_view(custom: list[dict], picture: Image.Image) -> list:
    """The user's own classifiers (SCENEWEB_CUSTOM_MODELS): top classes, and a small CAM of the first where the
    architecture has one."""
    views = []
    for result in custom:
        heat = []
        if result["cam"]:
            grid = np.asarray(result["cam"]["grid"], dtype=np.float32)
            thumbnail = cam.render_overlay(picture, grid, alpha=DEFAULT_OPACITY, max_side=160)
            heat = [
                html.Img(
                    src=data_uri(sources.jpeg_bytes(thumbnail, quality=80), "image/jpeg"),
                    alt=f"heatmap of {result['cam']['label']}",
                    title=f"Where {result['name']} saw “{readable(result['cam']['label'])}”",
                    className="sw-custom-heat",
                )
            ]
        bars = [html.Div(scene_bar(c), className="sw-bar is-static") for c in result["classes"]]
        views.append(
            html.Div(
                [
                    html.Span(result["name"], className="sw-kicker"),
                    html.Div([html.Div(bars, className="sw-bars"), *heat]),
                ],
                className="sw-custom",
            )
        )
    return views


def model_line(models: dict) -> str:
    scene = models["scene"]
    return f"Scene model: {scene['name']} ({scene['classes']} classes, {scene['heatmap']} heatmap)."


def timing_text(timings: dict) -> str:
    stages = ", ".join(f"{name} {ms:.0f} ms" for name, ms in timings.items() if name != "total")
    return f"Analysed in {timings.get('total', 0):.0f} ms ({stages})."


def heat_layer(picture: Image.Image, grid: list[list[float]]) -> str:
    """The coloured heatmap alone, at the photo's display size; the page blends it with CSS opacity."""
    overlay = cam.render_overlay(picture, np.asarray(grid, dtype=np.float32), alpha=1.0, max_side=None)
    return data_uri(sources.jpeg_bytes(overlay, quality=80), "image/jpeg")


@dataclass(frozen=True)
class HeatView:
    """The parts that change when another scene is selected."""

    bar_classes: list[str]
    heat: str
    caption: str
    selected: int


def heat_view(state: PanelState, picture: Image.Image, selected: int) -> HeatView:
    chosen = state.analysis["cams"][selected]
    return HeatView(
        bar_classes=["sw-bar is-selected" if i == selected else "sw-bar" for i in range(len(state.analysis["scenes"]))],
        heat=heat_layer(picture, chosen["grid"]),
        caption=f"Heatmap: where the network saw “{readable(chosen['label'])}”. Click another scene to compare.",
        selected=selected,
    )


@dataclass(frozen=True)
class Presentation:
    bars: list
    view: HeatView
    io: list
    attributes: list
    custom: list
    timing: str


def present(state: PanelState, selected: int = 0) -> Presentation:
    """Everything the results area shows for one analysis, with scene `selected` (0 = top) heat-mapped."""
    analysis = state.analysis
    picture = state.picture()  # decoded once for the heatmap layer and the custom models' thumbnails
    return Presentation(
        bars=[scene_bar(s) for s in analysis["scenes"]],
        view=heat_view(state, picture, selected),
        io=io_view(analysis["io"]),
        attributes=attributes_view(
            analysis["attributes"], analysis["attributes_note"], analysis["models"]["attributes"]
        ),
        custom=custom_view(analysis["custom"], picture),
        timing=f"{timing_text(analysis['timings_ms'])} {model_line(analysis['models'])}",
    )


def opacity_of(value: object) -> float:
    """The slider's value as the browser sent it: a number in [0, 1], or the default for anything else."""
    if type(value) not in (int, float) or not math.isfinite(value):
        return DEFAULT_OPACITY
    return min(1.0, max(0.0, float(value)))


def heat_style(opacity: object, shown: object) -> dict:
    if not shown:
        return {"display": "none"}
    return {"opacity": opacity_of(opacity)}


def json_file(analysis: dict) -> dict:
    return dcc.send_string(json.dumps(analysis, indent=2), "scene-analysis.json")


def overlay_file(state: PanelState, selected: int, opacity: object, shown: object) -> dict:
    """The photo with the selected heatmap blended as on screen, as a PNG (at display size)."""
    alpha = heat_style(opacity, shown).get("opacity", 0.0)
    chosen = state.analysis["cams"][selected]
    grid = np.asarray(chosen["grid"], dtype=np.float32)
    overlay = cam.render_overlay(state.picture(), grid, alpha=alpha, max_side=None)
    return dcc.send_bytes(cam.png_bytes(overlay), f"scene-heatmap-{chosen['index']}.png")


@dataclass(frozen=True)
class PanelInputs:
    """What the browser sent with an action: every field is checked where it is used."""

    upload: object = None
    url: object = None
    key: object = None
    selected: object = None
    opacity: object = None
    shown: object = None
    bar_count: int = 0


def act(trigger: str | dict, inputs: PanelInputs, *, client: str | None = None) -> dict[str, object]:
    """What one visitor action changes on the page, by output name (see `OUTPUTS`).

    A new photo is analysed; a click on a scene bar re-renders its heatmap; "Download overlay PNG"
    renders the PNG. Each takes one slot of the visitor's allowance, after the cheap checks of what
    the browser sent and before any work.
    """
    try:
        if inputs.bar_count != settings.SCENEWEB_TOP_K:
            raise PanelRefused("The page is out of date; please reload it.")
        if trigger == "get-png":
            state = load_state(inputs.key)
            selected = scene_index(inputs.selected, state)
            take_slot(client)
            return {"png": overlay_file(state, selected, inputs.opacity, inputs.shown), "error": ""}
        if isinstance(trigger, dict) and trigger.get("type") == "scene-bar":
            state = load_state(inputs.key)
            selected = scene_index(trigger.get("index"), state)
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


def heat_changes(view: HeatView) -> dict[str, object]:
    unused = ["sw-bar is-unused"] * (settings.SCENEWEB_TOP_K - len(view.bar_classes))
    return {
        "bar_classes": view.bar_classes + unused,
        "heat": view.heat,
        "caption": view.caption,
        "selected": view.selected,
    }


# -- layout -----------------------------------------------------------------------------------


def sample_gallery() -> html.Div:
    names = sources.list_samples()
    if not names:
        return html.P("No sample photos installed (`manage.py fetch_models --samples`).", className="sw-note")
    return html.Div(
        [
            html.Button(
                html.Img(src=reverse("sample-thumbnail", args=[name]), alt=name, width=96, height=72),
                id={"type": "sample", "name": name},
                className="sw-sample",
                title=f"Analyse {name}",
            )
            for name in names
        ],
        className="sw-gallery",
    )


def inputs_section() -> html.Section:
    return html.Section(
        [
            dcc.Upload(
                id="upload",
                accept="image/*",
                className="sw-drop",
                className_active="sw-drop is-active",
                children=html.Div(
                    [html.Strong("Drop a photo here"), html.Span(" or "), html.Span("browse", className="sw-link")]
                ),
            ),
            html.Div(
                [
                    dcc.Input(
                        id="url",
                        type="url",
                        placeholder="https://example.com/photo.jpg",
                        className="sw-url-input",
                        debounce=True,
                    ),
                    html.Button("Analyze", id="url-go", className="sw-button"),
                ],
                className="sw-url",
            ),
            html.Div([html.Span("Or try a sample", className="sw-kicker"), sample_gallery()], className="sw-samples"),
            dcc.Loading(html.Div(id="status", className="sw-status"), type="dot", color="#2f6f6a"),
            html.Div(id="error", className="sw-error", role="alert"),
        ],
        className="sw-inputs",
    )


def results_section() -> html.Section:
    bars = [
        html.Button(id={"type": "scene-bar", "index": i}, className="sw-bar") for i in range(settings.SCENEWEB_TOP_K)
    ]
    return html.Section(
        [
            html.Figure(
                [
                    html.Div(
                        [
                            html.Img(id="photo", alt="your photo"),
                            html.Img(id="heat", alt="heatmap", className="sw-heat"),
                        ],
                        className="sw-photo",
                    ),
                    html.Div(
                        [
                            dcc.Checklist(
                                id="heat-on",
                                options=[{"label": " Heatmap", "value": "on"}],
                                value=["on"],
                                className="sw-switch",
                            ),
                            html.Span("Opacity", className="sw-opacity-label"),
                            html.Div(
                                dcc.Slider(
                                    id="opacity",
                                    min=0,
                                    max=1,
                                    step=0.05,
                                    value=DEFAULT_OPACITY,
                                    marks=None,
                                    tooltip={"placement": "bottom"},
                                ),
                                className="sw-opacity",
                                title="Heatmap opacity",
                            ),
                        ],
                        className="sw-controls",
                    ),
                    html.Figcaption(id="heat-caption"),
                ],
                className="sw-figure",
            ),
            html.Div(
                [
                    html.H2("Scene"),
                    html.Div(bars, id="scenes", className="sw-bars"),
                    html.Div(id="io", className="sw-io"),
                    html.H2("Attributes"),
                    html.Div(id="attributes"),
                    html.Div(
                        [html.H2("Your classifiers"), html.Div(id="custom")],
                        className="sw-custom-block" if settings.SCENEWEB_CUSTOM_MODELS else "sw-custom-block is-unused",
                    ),
                    html.P(id="timing", className="sw-timing"),
                    html.Div(
                        [
                            html.Button("Download JSON", id="get-json", className="sw-button is-quiet"),
                            html.Button("Download overlay PNG", id="get-png", className="sw-button is-quiet"),
                            dcc.Download(id="json-file"),
                            dcc.Download(id="png-file"),
                        ],
                        className="sw-downloads",
                    ),
                ],
                className="sw-readout",
            ),
        ],
        id="results",
        className="sw-results is-empty",
    )


def layout() -> html.Div:
    """Built per page load, so the gallery shows what is in the samples folder now."""
    return html.Div(
        [
            inputs_section(),
            results_section(),
            dcc.Store(id="panel-state"),  # the key to the analysis kept on the server, nothing more
            dcc.Store(id="selected", data=0),
        ],
        className="sw-panel",
    )


app.layout = layout


# -- callbacks: thin wrappers over the functions above -----------------------------------------


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


# The outputs of `on_action`, in order, by the names `act` uses; the two bar lists are per bar.
OUTPUTS = {
    "key": Output("panel-state", "data"),
    "photo": Output("photo", "src"),
    "error": Output("error", "children"),
    "status": Output("status", "children"),
    "bars": Output({"type": "scene-bar", "index": ALL}, "children"),
    "bar_classes": Output({"type": "scene-bar", "index": ALL}, "className"),
    "heat": Output("heat", "src"),
    "caption": Output("heat-caption", "children"),
    "selected": Output("selected", "data"),
    "io": Output("io", "children"),
    "attributes": Output("attributes", "children"),
    "custom": Output("custom", "children"),
    "timing": Output("timing", "children"),
    "results_class": Output("results", "className"),
    "png": Output("png-file", "data"),
}
PER_BAR = {"bars", "bar_classes"}


@app.callback(
    *OUTPUTS.values(),
    Input("upload", "contents"),
    Input("url-go", "n_clicks"),
    Input("url", "n_submit"),
    Input({"type": "sample", "name": ALL}, "n_clicks"),
    Input({"type": "scene-bar", "index": ALL}, "n_clicks"),
    Input("get-png", "n_clicks"),
    State("url", "value"),
    State("panel-state", "data"),
    State("selected", "data"),
    State("opacity", "value"),
    State("heat-on", "value"),
    prevent_initial_call=True,
)
def on_action(upload, _go, _enter, _samples, bars, _png, url, key, selected, opacity, shown, callback_context, request):
    """Every action that costs work goes through here, so each takes its slot in one place."""
    bar_count = len(bars) if isinstance(bars, list) else 0
    inputs = PanelInputs(upload, url, key, selected, opacity, shown, bar_count)
    changes = act(trigger_of(callback_context), inputs, client=client_address(request))
    return tuple(changes.get(name, [no_update] * bar_count if name in PER_BAR else no_update) for name in OUTPUTS)


@app.callback(Output("heat", "style"), Input("opacity", "value"), Input("heat-on", "value"))
def on_heat_controls(opacity, shown):
    return heat_style(opacity, shown)


@app.callback(
    Output("json-file", "data"), Input("get-json", "n_clicks"), State("panel-state", "data"), prevent_initial_call=True
)
def on_json_download(_clicks, key):
    """The stored analysis as it is (no rendering, so no slot); an unknown or expired key sends nothing."""
    try:
        return json_file(load_state(key).analysis)
    except PanelRefused:
        raise PreventUpdate from None
