"""The collection at a glance: one self-contained HTML page (plotly's script inlined, no CDN).

The distribution of top scenes and of indoor/outdoor, the most frequent attributes, and for each
of the most frequent scenes a strip of small thumbnails (read again from the photos, at most
`STRIP` per scene, embedded as data: URLs so the page travels alone).
"""

from __future__ import annotations

import html
from collections import Counter
from pathlib import Path

import plotly.graph_objects as go
from plotly.io import to_html
from plotly.subplots import make_subplots

from classifier.collection.reading import read_photo_file
from classifier.engine.atomic import write_atomically
from classifier.engine.encoding import data_uri, jpeg_bytes, thumbnail
from classifier.engine.imaging import ImageLimits, decode_image

TOP_SCENES = 12
STRIP_SCENES = 6
STRIP = 8
THUMB = 96


def write_report(rows: list[dict], folder: Path, max_bytes: int) -> Path:
    """`index.html` in ``folder``; returns its path."""
    analysed = [row for row in rows if not row["error_code"]]
    scenes = Counter(row["scene_labels"][0] for row in analysed if row["scene_labels"])
    io_labels = Counter(row["io_label"] for row in analysed)
    attributes = Counter(label for row in analysed for label in row["attribute_labels"])
    figure = make_subplots(
        rows=1,
        cols=3,
        specs=[[{"type": "bar"}, {"type": "pie"}, {"type": "bar"}]],
        subplot_titles=("Top scene", "Indoor / outdoor", "Most frequent attributes"),
        horizontal_spacing=0.2,
    )
    top = scenes.most_common(TOP_SCENES)[::-1]
    figure.add_trace(go.Bar(x=[n for _, n in top], y=[s for s, _ in top], orientation="h", name="scenes"), 1, 1)
    figure.add_trace(
        go.Pie(labels=list(io_labels), values=list(io_labels.values()), name="io", textinfo="label+percent"), 1, 2
    )
    common = attributes.most_common(TOP_SCENES)[::-1]
    figure.add_trace(
        go.Bar(x=[n for _, n in common], y=[a for a, _ in common], orientation="h", name="attributes"), 1, 3
    )
    figure.update_layout(height=480, showlegend=False, margin={"l": 140, "r": 20, "t": 60, "b": 40})
    failed = len(rows) - len(analysed)
    strips = "".join(_strip(scene, analysed, max_bytes) for scene, _ in scenes.most_common(STRIP_SCENES))
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Collection report</title>
<style>body{{font-family:system-ui,sans-serif;margin:1.5rem}} .strip{{display:flex;gap:4px;flex-wrap:wrap}}
.strip img{{width:{THUMB}px;height:{THUMB}px;object-fit:cover;border-radius:4px}}</style></head>
<body><h1>Collection report</h1>
<p>{len(rows)} photos: {len(analysed)} analysed, {failed} failed.</p>
{to_html(figure, full_html=False, include_plotlyjs=True)}
<h2>The most frequent scenes</h2>{strips}
</body></html>"""
    folder.mkdir(parents=True, exist_ok=True)
    return write_atomically(folder / "index.html", page)


def _strip(scene: str, rows: list[dict], max_bytes: int) -> str:
    members = [row for row in rows if row["scene_labels"][0] == scene]
    images = "".join(
        f'<img alt="{html.escape(Path(row["source"]).name)}" title="{html.escape(row["source"])}" src="{uri}">'
        for row in members[:STRIP]
        if (uri := _thumbnail(row, max_bytes))
    )
    return f'<section><h3>{html.escape(scene)} ({len(members)})</h3><div class="strip">{images}</div></section>'


def _thumbnail(row: dict, max_bytes: int) -> str | None:
    """A small JPEG data: URL of a local photo (URLs are not fetched again: no thumbnail)."""
    if "://" in row["source"]:
        return None
    try:
        decoded = decode_image(read_photo_file(Path(row["source"]), max_bytes), ImageLimits(max_bytes=max_bytes))
    except Exception:  # a photo moved or changed since the run: no thumbnail, still a page
        return None
    return data_uri(jpeg_bytes(thumbnail(decoded.image, THUMB * 2), quality=80), "image/jpeg")
