"""The panel people use: a Dash app (django-plotly-dash) over the engine's `Analysis`.

The panel never touches tensors. An analysis is run once per photo, without the PNG (the page
renders its own overlays), and kept in the browser as the plain `to_dict()` JSON together
with a display-size JPEG of the photo; switching the heatmap to another category re-renders
one of the grids the analysis already carries (`cams`), never a second forward pass.

Each callback is a thin wrapper over a plain function (`analyse_source`, `present`,
`heat_style`, `json_file`, `overlay_file`) that the tests call directly.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass

import numpy as np
from dash import ALL, dcc, html, no_update
from dash.dependencies import Input, Output, State
from dash.exceptions import PreventUpdate
from django.conf import settings
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

app = DjangoDash(APP_NAME, serve_locally=True)


# -- plain functions: sources to analysis ------------------------------------------------------


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def bytes_of_data_uri(uri: str) -> bytes:
    """What dcc.Upload sends (`data:image/jpeg;base64,...`), back to the file's bytes."""
    _, _, encoded = (uri or "").partition(";base64,")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ImageRejected("The file could not be read; please choose it again.", code="bad_upload") from None


def image_of_data_uri(uri: str) -> Image.Image:
    return decode_image(bytes_of_data_uri(uri), image_limits()).image


def display_photo(image: Image.Image) -> str:
    """A small JPEG of the photo for the page: the overlay is drawn over it, never over the original."""
    photo = image.copy()
    photo.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE), Image.Resampling.BILINEAR)
    return data_uri(sources.jpeg_bytes(photo, quality=85), "image/jpeg")


@dataclass(frozen=True)
class Outcome:
    """What one attempt to analyse a photo leaves on the page."""

    analysis: dict | None
    photo: str | None
    error: str
    status: str


def photo_bytes(trigger: str | dict, upload: str | None, url: str | None) -> tuple[bytes, str]:
    """The photo's bytes and a name for it, from whichever of the three ways in was used."""
    if trigger == "upload":
        return bytes_of_data_uri(upload), "your photo"
    if trigger in ("url", "url-go"):
        return sources.url_bytes(url), "the photo at that address"
    if isinstance(trigger, dict) and trigger.get("type") == "sample":
        return sources.sample_bytes(trigger.get("name")), f"sample {trigger.get('name')}"
    raise PreventUpdate


def analyse_source(
    trigger: str | dict, upload: str | None = None, url: str | None = None, *, client: str | None = None
) -> Outcome:
    """Analyse the photo behind `trigger`; any refusal becomes a plain-words message and the page stays as it was.

    `client` (the visitor's address) takes a slot of the same per-minute allowance as the API.
    """
    try:
        if client is not None:
            take_rate_slot(client)
        data, name = photo_bytes(trigger, upload, url)
        decoded = decode_image(data, image_limits())
        analysis = get_analyzer().analyze(decoded, heatmap=False)
    except SceneWebError as exc:
        return Outcome(None, None, exc.message, "")
    except PreventUpdate:
        raise
    except Exception:
        logger.exception("panel analysis failed")
        return Outcome(None, None, UNEXPECTED, "")
    return Outcome(analysis.to_dict(), display_photo(decoded.image), "", f"Analysed {name}.")


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


def attributes_view(attributes: list[dict], note: str | None) -> list:
    if not attributes:
        return [html.P(note or "No attributes for this photo.", className="sw-note")]
    peak = max(max(a["score"] for a in attributes), 1e-9)
    return [
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
        )
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
class Presentation:
    bars: list
    bar_classes: list[str]
    heat: str
    caption: str
    selected: int
    io: list
    attributes: list
    custom: list
    timing: str


def present(analysis: dict, photo: str, selected: int = 0) -> Presentation:
    """Everything the results area shows for one analysis, with scene `selected` (0 = top) heat-mapped."""
    scenes = analysis["scenes"]
    selected = selected if 0 <= selected < len(scenes) else 0
    chosen = analysis["cams"][selected]
    picture = image_of_data_uri(photo)  # decoded once for the heatmap layer and the custom models' thumbnails
    return Presentation(
        bars=[scene_bar(s) for s in scenes],
        bar_classes=["sw-bar is-selected" if i == selected else "sw-bar" for i in range(len(scenes))],
        heat=heat_layer(picture, chosen["grid"]),
        caption=f"Heatmap: where the network saw “{readable(chosen['label'])}”. Click another scene to compare.",
        selected=selected,
        io=io_view(analysis["io"]),
        attributes=attributes_view(analysis["attributes"], analysis["attributes_note"]),
        custom=custom_view(analysis["custom"], picture),
        timing=f"{timing_text(analysis['timings_ms'])} {model_line(analysis['models'])}",
    )


def heat_style(opacity: float | None, shown: list | None) -> dict:
    if not shown:
        return {"display": "none"}
    return {"opacity": DEFAULT_OPACITY if opacity is None else float(opacity)}


def json_file(analysis: dict) -> dict:
    return dcc.send_string(json.dumps(analysis, indent=2), "scene-analysis.json")


def overlay_file(analysis: dict, photo: str, selected: int, opacity: float | None, shown: list | None) -> dict:
    """The photo with the selected heatmap blended as on screen, as a PNG (at display size)."""
    alpha = heat_style(opacity, shown).get("opacity", 0.0)
    grid = np.asarray(analysis["cams"][selected]["grid"], dtype=np.float32)
    overlay = cam.render_overlay(image_of_data_uri(photo), grid, alpha=alpha, max_side=None)
    return dcc.send_bytes(cam.png_bytes(overlay), f"scene-heatmap-{analysis['cams'][selected]['index']}.png")


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
            dcc.Store(id="analysis"),
            dcc.Store(id="photo-store"),
            dcc.Store(id="selected", data=0),
        ],
        className="sw-panel",
    )


app.layout = layout


# -- callbacks: thin wrappers over the functions above -----------------------------------------


def trigger_of(callback_context) -> str | dict:
    """The id of the input that fired (a dict for pattern-matching ids such as a sample button)."""
    fired = [t for t in callback_context.triggered if t.get("value")]
    if not fired:
        raise PreventUpdate
    component = fired[0]["prop_id"].rsplit(".", 1)[0]
    return json.loads(component) if component.startswith("{") else component


@app.callback(
    Output("analysis", "data"),
    Output("photo-store", "data"),
    Output("error", "children"),
    Output("status", "children"),
    Input("upload", "contents"),
    Input("url-go", "n_clicks"),
    Input("url", "n_submit"),
    Input({"type": "sample", "name": ALL}, "n_clicks"),
    State("url", "value"),
    prevent_initial_call=True,
)
def on_photo(upload, _go, _enter, _samples, url, callback_context, request):
    outcome = analyse_source(trigger_of(callback_context), upload, url, client=client_address(request))
    if outcome.analysis is None:
        return no_update, no_update, outcome.error, outcome.status
    return outcome.analysis, outcome.photo, "", outcome.status


@app.callback(
    Output({"type": "scene-bar", "index": ALL}, "children"),
    Output({"type": "scene-bar", "index": ALL}, "className"),
    Output("heat", "src"),
    Output("heat-caption", "children"),
    Output("selected", "data"),
    Output("io", "children"),
    Output("attributes", "children"),
    Output("custom", "children"),
    Output("timing", "children"),
    Output("results", "className"),
    Input("analysis", "data"),
    Input({"type": "scene-bar", "index": ALL}, "n_clicks"),
    State("photo-store", "data"),
    prevent_initial_call=True,
)
def on_analysis(analysis, _bars, photo, callback_context):
    if not analysis or not photo:
        raise PreventUpdate
    trigger = trigger_of(callback_context)
    shown = present(analysis, photo, trigger["index"] if isinstance(trigger, dict) else 0)
    padding = [None] * (len(_bars) - len(shown.bars))  # fewer scenes than slots: blank the rest
    classes = shown.bar_classes + ["sw-bar is-unused"] * len(padding)
    return (
        shown.bars + padding,
        classes,
        shown.heat,
        shown.caption,
        shown.selected,
        shown.io,
        shown.attributes,
        shown.custom,
        shown.timing,
        "sw-results",
    )


# The photo is already in the browser: showing it needs no round trip.
app.clientside_callback(
    "function (photo) { return photo || ''; }", Output("photo", "src"), Input("photo-store", "data")
)


@app.callback(Output("heat", "style"), Input("opacity", "value"), Input("heat-on", "value"))
def on_heat_controls(opacity, shown):
    return heat_style(opacity, shown)


@app.callback(
    Output("json-file", "data"), Input("get-json", "n_clicks"), State("analysis", "data"), prevent_initial_call=True
)
def on_json_download(_clicks, analysis):
    if not analysis:
        raise PreventUpdate
    return json_file(analysis)


@app.callback(
    Output("png-file", "data"),
    Input("get-png", "n_clicks"),
    State("analysis", "data"),
    State("photo-store", "data"),
    State("selected", "data"),
    State("opacity", "value"),
    State("heat-on", "value"),
    prevent_initial_call=True,
)
def on_png_download(_clicks, analysis, photo, selected, opacity, shown):
    if not analysis or not photo:
        raise PreventUpdate
    return overlay_file(analysis, photo, selected or 0, opacity, shown)
