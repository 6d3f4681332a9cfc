"""The pieces of the results area, built from the engine's `Analysis`.

Pure functions from data to Dash components: scene bars, the indoor/outdoor scale, the attribute
list, the user's own classifiers, the timing line and the heatmap layer. None of them reads the
request or the cache; `present` assembles them for one stored analysis.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dash import html
from PIL import Image

from classifier.engine import cam
from classifier.engine.analyzer import Analysis, AttributeScore, IndoorOutdoor
from classifier.engine.custom import CustomResult
from classifier.engine.encoding import data_uri, jpeg_bytes
from classifier.engine.scores import SceneScore
from classifier.engine.summary import readable
from classifier.panel.inputs import DEFAULT_OPACITY, opacity_of
from classifier.panel.state import PanelState


def scene_bar(scene: SceneScore) -> list:
    share = max(0.0, min(1.0, scene.probability))
    return [
        html.Span(readable(scene.label), className="sw-bar-label"),
        html.Span(f"{share:.1%}", className="sw-bar-value"),
        html.Span(html.Span(className="sw-bar-fill", style={"width": f"{share * 100:.1f}%"}), className="sw-bar-track"),
    ]


def io_view(io: IndoorOutdoor) -> list:
    """A labelled bar from indoor (0) to outdoor (1) with the verdict in words."""
    score = io.score
    return [
        html.Div([html.Span("Indoor / outdoor", className="sw-kicker"), html.Strong(io.label, id="io-verdict")]),
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


def score_words(source: dict) -> str:
    """What an attribute score means, in plain words, for each source."""
    if source.get("source") == "densenet201":
        return "Each score is the probability (0% to 100%) that the attribute is present, judged on its own."
    return (
        "Scores are raw linear responses, not probabilities or percentages: higher means stronger; "
        "compare them only with each other."
    )


def attribute_value(score: float, source: dict | None) -> str:
    return f"{score:.0%}" if source and source.get("source") == "densenet201" else f"{score:.1f}"


def attributes_view(
    attributes: Sequence[AttributeScore], note: str | None, source: dict | None = None, selected: int | None = None
) -> list:
    """The attribute bars (each a button that shows its own heatmap), then where they come from and
    what their scores mean (`models.attributes`)."""
    if not attributes:
        return [html.P(note or "No attributes for this photo.", className="sw-note")]
    peak = max(max(a.score for a in attributes), 1e-9)
    origin = f"From {source['description']}. {score_words(source)}" if source else ""
    return [
        html.Ul(
            [
                html.Li(
                    html.Button(
                        [
                            html.Span(a.label, className="sw-attr-label"),
                            html.Span(
                                html.Span(style={"width": f"{max(a.score, 0) / peak * 100:.0f}%"}),
                                className="sw-attr-track",
                            ),
                            html.Span(attribute_value(a.score, source), className="sw-attr-value"),
                        ],
                        id={"type": "attr-bar", "index": i},
                        className="sw-attr is-selected" if i == selected else "sw-attr",
                        title=f"Show where “{a.label}” is in the photo",
                        **{"aria-pressed": "true" if i == selected else "false"},
                    )
                )
                for i, a in enumerate(attributes)
            ],
            className="sw-attrs",
        ),
        *([html.P(origin, className="sw-note sw-attr-source")] if origin else []),
    ]


def custom_view(custom: Sequence[CustomResult], picture: Image.Image) -> list:
    """The user's own classifiers (SCENEWEB_CUSTOM_MODELS): top classes, and a small CAM of the first where the
    architecture has one."""
    views = []
    for result in custom:
        heat = []
        if result.cam:
            thumbnail = cam.render_overlay(picture, result.cam.grid, alpha=DEFAULT_OPACITY, max_side=160)
            heat = [
                html.Img(
                    src=data_uri(jpeg_bytes(thumbnail, quality=80), "image/jpeg"),
                    alt=f"heatmap of {result.cam.label}",
                    title=f"Where {result.name} saw “{readable(result.cam.label)}”",
                    className="sw-custom-heat",
                )
            ]
        bars = [html.Div(scene_bar(c), className="sw-bar is-static") for c in result.classes]
        views.append(
            html.Div(
                [
                    html.Span(result.name, className="sw-kicker"),
                    html.Div([html.Div(bars, className="sw-bars"), *heat]),
                ],
                className="sw-custom",
            )
        )
    return views


STAGE_WORDS = {
    "decode": "reading the photo",
    "preprocess": "resizing it for the networks",
    "cam": "scores and heatmaps",
    "png": "drawing the overlay",
    "attribute_maps": "attribute maps",
}


def model_line(models: dict) -> str:
    scene = models["scene"]
    return f"Scene model: {scene['name']} ({scene['classes']} classes, {scene['heatmap']} heatmap)."


def timing_text(timings: dict) -> str:
    """How long the server took, stage by stage, in words a visitor can read."""
    stages = ", ".join(
        f"{STAGE_WORDS.get(name, f'the {name} network')} {ms:.0f} ms" for name, ms in timings.items() if name != "total"
    )
    return f"The server took {timings.get('total', 0):.0f} ms: {stages}."


def heat_layer(picture: Image.Image, grid: list[list[float]]) -> str:
    """The coloured heatmap alone, at the photo's display size; the page blends it with CSS opacity."""
    overlay = cam.render_overlay(picture, grid, alpha=1.0, max_side=None)
    return data_uri(jpeg_bytes(overlay, quality=80), "image/jpeg")


def heat_style(opacity: object, shown: object) -> dict:
    """The heatmap layer's style from the switch and the slider: hidden, or blended at a bounded opacity."""
    if not shown:
        return {"display": "none"}
    return {"opacity": opacity_of(opacity)}


@dataclass(frozen=True)
class HeatView:
    """The parts that change when another scene (or an attribute) is selected."""

    bar_classes: list[str]
    heat: str
    caption: str
    selected: int
    attribute: int | None = None

    @property
    def bar_pressed(self) -> list[str]:
        return ["true" if "is-selected" in c else "false" for c in self.bar_classes]


def heat_view(state: PanelState, picture: Image.Image, selected: int, attribute: int | None = None) -> HeatView:
    """The heatmap of scene `selected`, or of attribute `attribute` when one is given."""
    scenes = range(len(state.analysis.scenes))
    if attribute is not None:
        chosen = state.analysis.attribute_maps[attribute]
        return HeatView(
            bar_classes=["sw-bar"] * len(scenes),
            heat=heat_layer(picture, chosen.grid),
            caption=f"Heatmap: where the photo shows “{chosen.label}”. Click a scene or another attribute.",
            selected=selected,
            attribute=attribute,
        )
    chosen = state.analysis.cams[selected]
    return HeatView(
        bar_classes=["sw-bar is-selected" if i == selected else "sw-bar" for i in scenes],
        heat=heat_layer(picture, chosen.grid),
        caption=f"Heatmap: where the network saw “{readable(chosen.label)}”. Click another scene to compare.",
        selected=selected,
    )


def headline(analysis: Analysis) -> str:
    """The answer first: the top scene and indoor/outdoor, in a few words."""
    return f"{readable(analysis.scenes[0].label).capitalize()} · {analysis.io.label}"


@dataclass(frozen=True)
class Presentation:
    headline: str
    bars: list
    view: HeatView
    io: list
    attributes: list
    custom: list
    timing: str


def present(state: PanelState, selected: int = 0) -> Presentation:
    """Everything the results area shows for one analysis, with scene `selected` (0 = top) heat-mapped."""
    analysis = state.analysis
    picture = state.picture()  # one picture for the heatmap layer and the custom models' thumbnails
    return Presentation(
        headline=headline(analysis),
        bars=[scene_bar(s) for s in analysis.scenes],
        view=heat_view(state, picture, selected),
        io=io_view(analysis.io),
        attributes=attributes_view(analysis.attributes, analysis.attributes_note, analysis.models["attributes"]),
        custom=custom_view(analysis.custom, picture),
        timing=f"{timing_text(analysis.timings_ms)} {model_line(analysis.models)}",
    )
