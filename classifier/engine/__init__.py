"""The scene-analysis engine: plain PyTorch and PIL, no Django.

Usable from a notebook::

    from classifier.engine import SceneAnalyzer
    analyzer = SceneAnalyzer.from_models_dir("models")
    analysis = analyzer.analyze(PIL.Image.open("photo.jpg"))
    analysis.to_dict()
"""

from classifier.engine.analyzer import Analysis, SceneAnalyzer

__all__ = ["Analysis", "SceneAnalyzer"]
