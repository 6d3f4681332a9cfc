"""The page structure: the three ways in, then the results area, with the ids the callbacks use.

Only structure lives here; the contents of the results come from `components` when a photo is
analysed. `page` is built per page load (Dash calls it for `_dash-layout`), so the gallery shows
what is in the samples folder now and the number of bars follows SCENEWEB_TOP_K.
"""

from __future__ import annotations

from dash import dcc, html
from django.conf import settings
from django.urls import reverse

from classifier.gallery import list_samples
from classifier.panel.inputs import DEFAULT_OPACITY


def sample_gallery() -> html.Div:
    names = list_samples()
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


def page() -> html.Div:
    """The whole panel; the two stores are all the page remembers between actions."""
    return html.Div(
        [
            inputs_section(),
            results_section(),
            dcc.Store(id="panel-state"),  # the key to the analysis kept on the server, nothing more
            dcc.Store(id="selected", data=0),
        ],
        className="sw-panel",
    )
