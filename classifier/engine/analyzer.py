"""One image in, one complete `Analysis` out.

The photo is preprocessed once; the scene network runs once and yields both the logits and
the feature map for the heatmaps; the attribute network (if installed) reads the same tensor.
Models are loaded once and only read afterwards, so one analyzer serves many threads.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from classifier.engine import assets, cam
from classifier.engine.attributes import ATTRIBUTE_FILENAME, TRAIN_HINT, AttributeModel, load_attribute_model
from classifier.engine.imaging import DecodedImage, model_input
from classifier.engine.labels import OUTDOOR, PlacesLabels, read_categories, read_io_labels
from classifier.engine.places import SceneModelSpec, SceneNet, load_scene_net, scene_model_spec

IO_TOP = 10  # the official demo averages the IO labels of the ten best categories


@dataclass(frozen=True)
class SceneScore:
    label: str
    index: int
    probability: float


@dataclass(frozen=True)
class IndoorOutdoor:
    label: str
    score: float
    """Share of outdoor categories among the top ten; below 0.5 means indoor."""


@dataclass(frozen=True)
class AttributeScore:
    label: str
    score: float


@dataclass(frozen=True)
class Heatmap:
    label: str
    index: int
    grid: list[list[float]]
    png_base64: str | None = None


@dataclass
class Analysis:
    scenes: list[SceneScore]
    io: IndoorOutdoor
    attributes: list[AttributeScore]
    attributes_note: str | None
    cam: Heatmap
    cams: list[Heatmap]
    """Low-resolution maps for every listed scene, so a presenter can switch class without a rerun."""
    custom: list[dict] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    models: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def _rounded(grid: np.ndarray) -> list[list[float]]:
    return [[round(float(v), 4) for v in row] for row in grid]


class _Stopwatch:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round((time.perf_counter() - started) * 1000, 2)


class SceneAnalyzer:
    def __init__(
        self,
        scene_net: SceneNet,
        labels: PlacesLabels,
        *,
        spec: SceneModelSpec,
        attribute_model: AttributeModel | None = None,
        attributes_note: str | None = None,
        top_k: int = 5,
        attribute_k: int = 10,
        overlay_max_side: int = 512,
        overlay_alpha: float = 0.5,
    ):
        if top_k < 1 or top_k > len(labels.categories):
            raise ValueError(f"top_k must be within 1..{len(labels.categories)}, got {top_k}")
        self.scene_net = scene_net.eval()
        self.labels = labels
        self.spec = spec
        self.attribute_model = attribute_model
        if attribute_model is not None:
            attribute_model.net.eval()
        self.attributes_note = None if attribute_model else (attributes_note or f"No attribute model; {TRAIN_HINT}.")
        self.top_k = top_k
        self.attribute_k = attribute_k
        self.overlay_max_side = overlay_max_side
        self.overlay_alpha = overlay_alpha

    @classmethod
    def from_models_dir(cls, models_dir: Path, *, scene_model: str = "resnet18", **options) -> SceneAnalyzer:
        """Load everything from the models folder; the attribute head is optional."""
        models_dir = Path(models_dir)
        spec = scene_model_spec(scene_model)
        scene_net = load_scene_net(
            spec, assets.asset_path(models_dir, spec.weights_asset), install_hint=assets.FETCH_HINT
        )
        labels = PlacesLabels(
            read_categories(assets.asset_path(models_dir, spec.labels_asset), expected=spec.num_classes),
            read_io_labels(assets.asset_path(models_dir, "io_places365")),
        )
        attribute_model, note = None, None
        attribute_path = models_dir / ATTRIBUTE_FILENAME
        if attribute_path.is_file():
            attribute_model = load_attribute_model(attribute_path)
        else:
            note = f"The SUN-attribute model is not installed ({attribute_path} is missing); {TRAIN_HINT}."
        return cls(scene_net, labels, spec=spec, attribute_model=attribute_model, attributes_note=note, **options)

    @property
    def models(self) -> dict:
        info = {"scene": {"name": self.spec.name, "classes": self.spec.num_classes, "weights": self.spec.weights_asset}}
        if self.attribute_model is not None:
            info["attributes"] = {
                "name": "densenet201",
                "attributes": len(self.attribute_model.names),
                "metrics": self.attribute_model.metrics,
            }
        else:
            info["attributes"] = None
        return info

    def analyze(
        self, image: Image.Image | DecodedImage, *, heatmap: bool = True, cam_class: int | None = None
    ) -> Analysis:
        """Analyse one photo. `heatmap=False` skips the PNG overlay (grids are always returned)."""
        clock = _Stopwatch()
        if isinstance(image, DecodedImage):
            clock.timings["decode"] = round(image.decode_ms, 2)
            image = image.image
        with clock.stage("preprocess"):
            batch = model_input(image, self.spec.input_size, self.spec.mean, self.spec.std)
        with torch.inference_mode():
            with clock.stage(self.spec.name):
                logits, features = self.scene_net(batch)
                probabilities = torch.softmax(logits[0].float(), dim=0)
            attributes = []
            if self.attribute_model is not None:
                with clock.stage("densenet201"):
                    attributes = self._top_attributes(self.attribute_model.scores(batch)[0])
            with clock.stage("cam"):
                scenes = self._top_scenes(probabilities)
                io = self._indoor_outdoor(probabilities)
                cams = [self._heatmap(features[0], s.index) for s in scenes]
                chosen = self._chosen_cam(cams, features[0], cam_class)
        if heatmap:
            with clock.stage("png"):
                overlay = cam.render_overlay(
                    image, np.asarray(chosen.grid), alpha=self.overlay_alpha, max_side=self.overlay_max_side
                )
                chosen = Heatmap(chosen.label, chosen.index, chosen.grid, cam.png_base64(overlay))
        clock.timings["total"] = round(sum(clock.timings.values()), 2)
        return Analysis(
            scenes=scenes,
            io=io,
            attributes=attributes,
            attributes_note=self.attributes_note,
            cam=chosen,
            cams=cams,
            timings_ms=clock.timings,
            models=self.models,
        )

    def _top_scenes(self, probabilities: torch.Tensor) -> list[SceneScore]:
        values, indices = probabilities.topk(self.top_k)
        return [
            SceneScore(self.labels.categories[i], i, round(float(p), 6))
            for p, i in zip(values.tolist(), indices.tolist(), strict=True)
        ]

    def _indoor_outdoor(self, probabilities: torch.Tensor) -> IndoorOutdoor:
        top = probabilities.topk(min(IO_TOP, probabilities.numel())).indices.tolist()
        score = float(np.mean([self.labels.io[i] == OUTDOOR for i in top]))
        return IndoorOutdoor("indoor" if score < 0.5 else "outdoor", round(score, 4))

    def _heatmap(self, features: torch.Tensor, index: int) -> Heatmap:
        grid = cam.class_activation_map(features, self.scene_net.class_weights[index])
        return Heatmap(self.labels.categories[index], index, _rounded(grid))

    def _chosen_cam(self, cams: Sequence[Heatmap], features: torch.Tensor, cam_class: int | None) -> Heatmap:
        if cam_class is None:
            return cams[0]
        if not 0 <= cam_class < len(self.labels.categories):
            raise ValueError(f"cam_class must be within 0..{len(self.labels.categories) - 1}, got {cam_class}")
        return next((c for c in cams if c.index == cam_class), None) or self._heatmap(features, cam_class)

    def _top_attributes(self, scores: torch.Tensor) -> list[AttributeScore]:
        k = min(self.attribute_k, scores.numel())
        values, indices = scores.float().topk(k)
        names = self.attribute_model.names
        return [
            AttributeScore(names[i], round(float(v), 6)) for v, i in zip(values.tolist(), indices.tolist(), strict=True)
        ]
