"""The scene-analysis engine: plain PyTorch and PIL, no Django.

Usable from a notebook::

    from classifier.engine import SceneAnalyzer
    analyzer = SceneAnalyzer.from_models_dir("models")
    analysis = analyzer.analyze(PIL.Image.open("photo.jpg"))
    analysis.to_dict()

The analyzer (and PyTorch with it) is imported on first use of these names, not with the
package: the decoder children (`decode_sandbox`) import `classifier.engine.imaging` and must
start without PyTorch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from classifier.engine.analyzer import Analysis, SceneAnalyzer

__all__ = ["Analysis", "SceneAnalyzer"]


def __getattr__(name: str):
    if name in __all__:
        from classifier.engine import analyzer

        return getattr(analyzer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
