"""The page structure: the ways in, then the results area, with the ids the callbacks use.

Only structure lives here; the contents of the results come from `components` when a photo is
analysed. `page` is built per page load (Dash calls it for `_dash-layout`), so the gallery shows
what is in the samples folder now and the number of bars follows SCENEWEB_TOP_K.

The photo drop zone is plain HTML in `templates/index.html` (a labelled file input, the camera
and the webcam), driven by `static/js/sceneweb.js`: the browser checks and shrinks the photos
there, then hands them to the `uploads` store below.
"""

from __future__ import annotations

from dash import dcc, html
from django.conf import settings
from django.urls import reverse

from classifier.gallery import list_samples, log_missing_samples
from classifier.panel.inputs import DEFAULT_OPACITY


def sample_gallery() -> html.Div | None:
    """The samples, or nothing at all when none are installed (`checks` tells the operator)."""
    names = list_samples()
    if not names:
        log_missing_samples()
        return None
    buttons = [
        html.Button(
            html.Img(src=reverse("sample-thumbnail", args=[name]), alt="", width=96, height=72),
            id={"type": "sample", "name": name},
            className="sw-sample",
            title=f"Analyse {name}",
            **{"aria-label": f"Analyse the sample photo {name}"},
        )
        for name in names
    ]
    return html.Div(
        [
            html.H2(
                ["Or try a sample ", html.Span(id="sample-note", className="sw-progress", **{"aria-live": "polite"})],
                className="sw-kicker",
                id="samples-title",
            ),
            html.Div(buttons, className="sw-gallery"),
            html.P(id="sample-error", className="sw-error", role="alert"),
        ],
        className="sw-samples",
        role="group",
        **{"aria-labelledby": "samples-title"},
    )


def url_form() -> html.Div:
    return html.Div(
        [
            html.Label("Or the address of an image on the web", htmlFor="url", className="sw-kicker"),
            html.Div(
                [
                    dcc.Input(
                        id="url",
                        type="url",
                        placeholder="https://example.com/photo.jpg",
                        className="sw-url-input",
                        debounce=True,
                        autoComplete="url",
                    ),
                    html.Button("Analyze", id="url-go", className="sw-button"),
                    html.Span(id="url-note", className="sw-progress", **{"aria-live": "polite"}),
                ],
                className="sw-url",
            ),
            html.P(id="url-error", className="sw-error", role="alert"),
        ],
        className="sw-url-block",
    )


def inputs_section() -> html.Section:
    return html.Section(
        [url_form(), sample_gallery(), recent_block()],
        className="sw-inputs",
        **{"aria-label": "More ways in"},
    )


def recent_block() -> html.Div:
    """This browser's recent analyses (kept in its localStorage only; `sceneweb.js` fills it)."""
    return html.Div(
        [html.H2("Recent on this browser", className="sw-kicker"), html.Div(id="recent", className="sw-recent")],
        className="sw-recent-block",
    )


def heat_legend() -> html.Div:
    return html.Div(
        [
            html.Span("weak", className="sw-legend-end"),
            html.Span(className="sw-legend-ramp", role="img", **{"aria-label": "colour scale from blue to red"}),
            html.Span("strong", className="sw-legend-end"),
        ],
        className="sw-legend",
        title="Blue: the region adds little to the selected score; red: it adds the most.",
    )


def figure() -> html.Figure:
    return html.Figure(
        [
            html.Div(
                [html.Img(id="photo", alt="your photo"), html.Img(id="heat", alt="", className="sw-heat")],
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
                    html.Label("Opacity", htmlFor="opacity", className="sw-opacity-label"),
                    dcc.Input(
                        id="opacity",
                        type="range",
                        min=0,
                        max=1,
                        step=0.05,
                        value=DEFAULT_OPACITY,
                        className="sw-opacity",
                    ),
                ],
                className="sw-controls",
            ),
            heat_legend(),
            html.Figcaption(id="heat-caption"),
        ],
        className="sw-figure",
    )


def readout() -> html.Div:
    bars = [
        html.Button(id={"type": "scene-bar", "index": i}, className="sw-bar", **{"aria-pressed": "false"})
        for i in range(settings.SCENEWEB_TOP_K)
    ]
    return html.Div(
        [
            html.Div(
                [
                    html.P("Previous result: a new one is on its way", className="sw-previous-mark"),
                    html.H2(id="headline", className="sw-headline"),
                    html.P(id="summary", className="sw-summary"),
                ],
                className="sw-answer",
            ),
            html.H3("Scene"),
            html.Div(bars, id="scenes", className="sw-bars", role="group", **{"aria-label": "Most likely scenes"}),
            html.Div(id="io", className="sw-io"),
            html.H3("Attributes"),
            html.Div(id="attributes"),
            html.Div(
                [html.H3("Your classifiers"), html.Div(id="custom")],
                className="sw-custom-block" if settings.SCENEWEB_CUSTOM_MODELS else "sw-custom-block is-unused",
            ),
            html.Details([html.Summary("Details"), html.P(id="timing", className="sw-timing")], className="sw-details"),
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
    )


def results_section() -> html.Section:
    return html.Section(
        [readout(), figure()], id="results", className="sw-results is-empty", **{"aria-label": "Result"}
    )


def page() -> html.Div:
    """The whole panel; the stores are all the page remembers between actions."""
    return html.Div(
        [
            html.Div(id="announce", role="status", className="sw-visually-hidden", **{"aria-live": "polite"}),
            inputs_section(),
            html.P(id="error", className="sw-error", role="alert"),  # results shown again, heatmaps, downloads
            html.Div(id="strip", className="sw-strip"),
            results_section(),
            dcc.Store(id="uploads"),  # photos the browser checked and shrank (`sceneweb.js`)
            dcc.Store(id="upload-feedback"),  # what the drop zone says about them
            dcc.Store(id="upload-feedback-shown"),
            dcc.Store(id="panel-state"),  # the key to the analysis kept on the server, nothing more
            dcc.Store(id="result-meta"),  # key, photo name, top scene: the page's URL and recent list
            dcc.Store(id="wanted"),  # a result asked for by the page's URL (?result=KEY)
            dcc.Store(id="boot", data=0),
            dcc.Store(id="selected", data=0),
            dcc.Store(id="selected-attribute"),
        ],
        className="sw-panel",
        id="panel",
        **{"data-max-photos": str(settings.SCENEWEB_PAGE_MAX_PHOTOS)},
    )
