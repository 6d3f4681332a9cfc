"""The strip of several photos dropped or picked at once: one entry per photo, in the order given,
each one click away from its result, or saying in plain words why it was not analysed."""

from __future__ import annotations

from collections.abc import Sequence

from dash import html

from classifier.engine.encoding import data_uri, jpeg_bytes, thumbnail
from classifier.panel.components import headline
from classifier.panel.state import PanelState

STRIP_SIDE = 96


def strip_thumbnail(state: PanelState) -> str:
    return data_uri(jpeg_bytes(thumbnail(state.picture(), STRIP_SIDE), quality=75), "image/jpeg")


def strip_entry(name: str, outcome) -> html.Li:
    """A button showing the photo's result, or the photo's own error (`outcome` is an `actions.Outcome`)."""
    if outcome.state is None:
        return html.Li(
            [html.Span(name, className="sw-strip-name"), html.Span(outcome.error, className="sw-strip-error")],
            className="sw-strip-item is-failed",
        )
    scene = headline(outcome.state.analysis)
    return html.Li(
        html.Button(
            [
                html.Img(src=strip_thumbnail(outcome.state), alt="", width=STRIP_SIDE),
                html.Span(name, className="sw-strip-name"),
                html.Span(scene, className="sw-strip-scene"),
            ],
            id={"type": "strip", "key": outcome.key},
            className="sw-strip-item",
            title=f"Show the result for {name}",
        )
    )


def strip_view(photos: Sequence[tuple[str, object]], outcomes: Sequence) -> list:
    entries = [strip_entry(name, outcome) for (name, _), outcome in zip(photos, outcomes, strict=True)]
    return [
        html.H2(f"{len(photos)} photos: pick one to see its result", className="sw-kicker"),
        html.Ul(entries, className="sw-strip-list"),
    ]
