"""The panel names where the attributes come from and what their scores mean (`models.attributes`)."""

from __future__ import annotations

from PIL import Image

from classifier.engine.analyzer import SceneAnalyzer
from classifier.panel.components import attributes_view


def texts(component) -> list[str]:
    """Every string in a Dash component tree, depth first."""
    if isinstance(component, str):
        return [component]
    if isinstance(component, list):
        return [text for child in component for text in texts(child)]
    children = getattr(component, "children", None)
    return texts(children) if children is not None else []


def test_the_attribute_list_says_it_comes_from_the_matrix_on_a_fresh_install(fresh_models_dir):
    analysis = SceneAnalyzer.from_models_dir(fresh_models_dir).analyze(Image.new("RGB", (64, 64)), heatmap=False)
    shown = attributes_view(analysis.attributes, None, analysis.models["attributes"])
    listing, origin = shown
    assert "sw-attr-source" in origin.className
    assert texts(origin) == [
        "From CSAIL's linear SUN-attribute matrix over WideResNet-18 features (official demo). Scores are raw "
        "linear responses, not probabilities or percentages: higher means stronger; compare them only with each other."
    ]
    assert len(listing.children) == 10


def test_without_attributes_only_the_note_is_shown():
    (note,) = attributes_view([], "No SUN-attribute model is installed.", None)
    assert texts(note) == ["No SUN-attribute model is installed."]
