"""One plain-language sentence for an analysis: what a person reads first, and the photo's alt text.

"An outdoor scene, most likely a valley (41%): natural light, open area, far-away horizon" says
the indoor/outdoor verdict, the top scene with its probability and the three strongest
attributes, in that order. It is built from the analysis alone, so the page, the API (`summary`)
and the command line say the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence

SUMMARY_ATTRIBUTES = 3


def readable(label: str) -> str:
    """`apartment_building/outdoor` reads as `apartment building (outdoor)`."""
    name, _, detail = label.partition("/")
    name = name.replace("_", " ")
    return f"{name} ({detail.replace('_', ' ')})" if detail else name


def with_article(words: str) -> str:
    return f"{'an' if words[:1].lower() in 'aeiou' else 'a'} {words}"


def sentence(scene: str, probability: float, io: str, attributes: Sequence[str] = ()) -> str:
    """`scene` is a Places365 label, `io` "indoor" or "outdoor", `attributes` the strongest first."""
    opening = with_article(f"{io} scene").capitalize()
    text = f"{opening}, most likely {with_article(readable(scene))} ({probability:.0%})"
    strongest = list(attributes)[:SUMMARY_ATTRIBUTES]
    return f"{text}: {', '.join(strongest)}" if strongest else text
