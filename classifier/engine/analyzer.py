"""One image in, one complete `Analysis` out.

The photo is preprocessed once; the scene network runs once and yields both the logits and
the feature map for the heatmaps; the attribute network (if installed) reads the same tensor.
Models are loaded once and only read afterwards, so one analyzer serves many threads.

SUN attributes come from the trained DenseNet-201 head when it is installed, else from CSAIL's
linear matrix over WideResNet-18 features (installed by `fetch_models`); `models.attributes`
says which, and what its scores mean (probabilities, or raw linear responses).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from classifier.engine import acceleration, attribute_sources, cam, encoding, linear_attributes, summary
from classifier.engine.attribute_maps import AttributeMap, attribute_maps
from classifier.engine.attribute_sources import AttributeSource
from classifier.engine.attributes import TRAIN_HINT
from classifier.engine.catalogue import FETCH_HINT, asset_path
from classifier.engine.custom import CustomModel, CustomResult, load_custom_model
from classifier.engine.errors import OptionInvalid
from classifier.engine.imaging import DecodedImage, model_input
from classifier.engine.labels import OUTDOOR, PlacesLabels, read_categories, read_io_labels
from classifier.engine.places import CamPass, SceneModelSpec, SceneNet, load_scene_net, scene_model_spec
from classifier.engine.scores import Heatmap, SceneScore, rounded_grid

IO_TOP = 10  # the official demo averages the IO labels of the ten best categories
OUTPUTS = frozenset({"scenes", "io", "attributes", "cam", "heatmap"})
ON_REQUEST = frozenset({"attribute_maps"})  # computed only when named in `outputs` (or asked for)
"""What `SceneAnalyzer.analyze` can be asked for; the default is all of it."""


@dataclass(frozen=True)
class IndoorOutdoor:
    label: str
    score: float
    """Share of outdoor categories among the top ten; below 0.5 means indoor."""


@dataclass(frozen=True)
class AttributeScore:
    label: str
    score: float


@dataclass
class Analysis:
    scenes: list[SceneScore]
    io: IndoorOutdoor
    attributes: list[AttributeScore]
    attributes_note: str | None
    cam: Heatmap | None
    cams: list[Heatmap]
    """Low-resolution maps for every listed scene, so a presenter can switch class without a rerun."""
    custom: list[CustomResult] = field(default_factory=list)
    """The user's own fine-tuned classifiers (SCENEWEB_CUSTOM_MODELS): top classes and a CAM each."""
    timings_ms: dict[str, float] = field(default_factory=dict)
    models: dict = field(default_factory=dict)
    summary: str = ""
    """One plain-language sentence: indoor/outdoor, the top scene, the strongest attributes (`engine.summary`)."""
    attribute_maps: list[AttributeMap] | None = None
    """Where each listed attribute is, when asked for (`analyze(..., attribute_maps=True)`)."""

    def to_dict(self) -> dict:
        answer = asdict(self)
        if self.attribute_maps is None:
            del answer["attribute_maps"]
        return answer


def index_option(raw: object, name: str, words: str, low: int, high: int) -> int | None:
    """An integer in low..high (ASCII digits only: "²".isdigit() is true); its error's code is `<name>_invalid`."""
    if raw is None or raw == "":
        return None
    text = str(raw).strip()
    if isinstance(raw, bool) or not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise OptionInvalid(f"{name} must be {words} from {low} to {high}, not {text[:20]!r}.", code=f"{name}_invalid")
    return int(text)


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
        attribute_model: AttributeSource | None = None,
        attributes_note: str | None = None,
        top_k: int = 5,
        attribute_k: int = 10,
        overlay_max_side: int = 512,
        overlay_alpha: float = 0.5,
        inference: acceleration.InferenceSettings | None = None,
        custom_models: Sequence[CustomModel] = (),
    ):
        if top_k < 1 or top_k > len(labels.categories):
            raise ValueError(f"top_k must be within 1..{len(labels.categories)}, got {top_k}")
        self.scene_net = scene_net.eval()
        self.labels = labels
        self.spec = spec
        self.weights = spec.weights
        self.attribute_model = attribute_model
        self.map_source = attribute_model  # kept eager: the attribute maps read its layers
        if attribute_model is not None:
            attribute_model.net.eval()
        self.attributes_note = None if attribute_model else (attributes_note or f"No attribute model; {TRAIN_HINT}.")
        self.top_k = top_k
        self.attribute_k = attribute_k
        self.overlay_max_side = overlay_max_side
        self.overlay_alpha = overlay_alpha
        self.custom_models = tuple(custom_models)
        for model in self.custom_models:
            model.net.eval()
        self.attributes_share_scene_pass = (
            isinstance(attribute_model, linear_attributes.LinearAttributeModel) and attribute_model.net is scene_net
        )
        """WideResNet-18 as scene net and attribute source: the attributes read the scene pass's features."""
        self._accelerate(inference or acceleration.InferenceSettings())

    def _accelerate(self, inference: acceleration.InferenceSettings) -> None:
        """Prepare the networks for the chosen inference mode (once, here, never per request)."""
        self.inference = inference = acceleration.resolved(inference)
        weights = self.weights
        calibration = None
        if inference.mode == "onnx-int8":
            calibration = acceleration.calibration_batches(
                inference.calibration, weights.input_size, weights.mean, weights.std
            )
        self.scene_net = acceleration.accelerate_scene_net(self.scene_net, inference, weights.input_size, calibration)
        if self.attribute_model is not None:
            self.attribute_model = acceleration.accelerate_attributes(
                self.attribute_model, inference, weights.input_size, calibration
            )
        separate_linear = isinstance(self.attribute_model, linear_attributes.LinearAttributeModel) and (
            not self.attributes_share_scene_pass
        )
        if separate_linear:  # its own WideResNet-18 pass, prepared like the scene network
            net = acceleration.accelerate_scene_net(
                self.attribute_model.net, inference, weights.input_size, calibration
            )
            self.attribute_model = dataclasses.replace(self.attribute_model, net=net)
        self.custom_models = tuple(acceleration.accelerate_custom(m, inference) for m in self.custom_models)
        self._pool = acceleration.PerProcessPool(2) if inference.parallel else None

    @classmethod
    def from_models_dir(
        cls,
        models_dir: Path,
        *,
        scene_model: str = "resnet18",
        attributes_source: str = "auto",
        custom_models: Sequence[str | Path] = (),
        **options,
    ) -> SceneAnalyzer:
        """Load everything from the models folder; the attribute model is optional.

        `attributes_source` is one of `attribute_sources.ATTRIBUTE_SOURCES`: "auto" (the trained head
        if installed, else CSAIL's linear matrix), "densenet201" or "wideresnet18" (that one only).
        `custom_models` are fine-tuned checkpoints, relative to the models folder or absolute.
        """
        models_dir = Path(models_dir)
        options["custom_models"] = [load_custom_model(models_dir / path) for path in custom_models]
        spec = scene_model_spec(scene_model)
        weights = spec.weights
        scene_net = load_scene_net(spec, asset_path(models_dir, weights.name), install_hint=FETCH_HINT)
        labels = PlacesLabels(
            read_categories(asset_path(models_dir, weights.labels), expected=weights.num_classes),
            weights.class_io_labels(read_io_labels(asset_path(models_dir, "io_places365"))),
        )
        attribute_model, note = attribute_sources.load_attribute_source(
            models_dir, attributes_source, scene_model, scene_net
        )
        return cls(scene_net, labels, spec=spec, attribute_model=attribute_model, attributes_note=note, **options)

    @property
    def models(self) -> dict:
        info = {
            "scene": {
                "name": self.spec.name,
                "classes": self.weights.num_classes,
                "weights": self.weights.name,
                "description": self.weights.summary,
                "heatmap": self.spec.heatmap,
            }
        }
        if self.attribute_model is not None:
            info["attributes"] = {
                "name": self.attribute_model.name,
                "source": self.attribute_model.source,
                "scores": self.attribute_model.score_meaning,
                "description": self.attribute_model.description,
                "attributes": len(self.attribute_model.names),
                "metrics": self.attribute_model.metrics,
            }
        else:
            info["attributes"] = None
        info["custom"] = [model.description for model in self.custom_models]
        return info

    def checked_options(self, top_k: object = None, cam_class: object = None) -> tuple[int | None, int | None]:
        """`analyze`'s `top_k` and `cam_class` as integers in range, from Python or a request's text
        (None: the default); else `OptionInvalid`. The API asks first, so a bad value refuses the whole
        request before any photo is read."""
        classes = len(self.labels.categories)
        return (
            index_option(top_k, "top_k", "a number of scenes", 1, classes),
            index_option(cam_class, "cam_class", "a category index", 0, classes - 1),
        )

    def analyze(
        self,
        image: Image.Image | DecodedImage,
        *,
        heatmap: bool = True,
        cam_class: int | None = None,
        outputs: frozenset[str] = OUTPUTS,
        top_k: int | None = None,
        attribute_maps: bool = False,
    ) -> Analysis:
        """Analyse one photo. `heatmap=False` skips the PNG overlay (grids are always returned).

        `outputs` (any of OUTPUTS) computes only those parts: no attribute pass without "attributes",
        no grids without "cam" or "heatmap", no PNG without "heatmap"; the parts left out are empty.
        `attribute_maps=True` (or "attribute_maps" in `outputs`) adds where each listed attribute is."""
        attribute_maps = attribute_maps or "attribute_maps" in outputs
        heatmap = heatmap and "heatmap" in outputs
        top_k, cam_class = self.checked_options(top_k, cam_class)
        top_k = self.top_k if top_k is None else top_k
        clock = _Stopwatch()
        started = time.perf_counter()
        if isinstance(image, DecodedImage):
            clock.timings["decode"] = round(image.decode_ms, 2)
            image = image.image
        with clock.stage("preprocess"):
            batch = model_input(image, self.weights.input_size, self.weights.mean, self.weights.std)
        with torch.inference_mode(), ExitStack() as scope:
            wanted = "attributes" in outputs or attribute_maps  # the maps are of the listed attributes
            # Maps need the eager network's feature map: that one pass then gives the scores too.
            eager_maps = attribute_maps and self.map_source is not None and not self.attributes_share_scene_pass
            run, attribute_scores = self._run_networks(batch, clock, scope, wanted and not eager_maps)
            map_features = run.features if self.attributes_share_scene_pass else None
            if eager_maps:
                with clock.stage(self.map_source.name):
                    map_features = self.map_source.feature_map(batch)
                    attribute_scores = self.map_source.scores_from_features(map_features)
            probabilities = torch.softmax(run.logits[0].float(), dim=0)
            attributes = [] if attribute_scores is None else self._top_attributes(attribute_scores[0])
            scenes = self._top_scenes(probabilities, top_k)
            io = self._indoor_outdoor(probabilities)
            cams, chosen = [], None
            if outputs & {"cam", "heatmap"}:
                with clock.stage("cam"):
                    cams = [self._heatmap(run, s.index) for s in scenes]
                    chosen = self._chosen_cam(cams, run, cam_class)
            custom = self._run_custom_models(image, batch, clock) if "scenes" in outputs else []
            maps = self._attribute_maps(map_features, attributes, clock) if attribute_maps else None
        if heatmap:
            with clock.stage("png"):
                overlay = cam.render_overlay(
                    image, chosen.grid, alpha=self.overlay_alpha, max_side=self.overlay_max_side
                )
                chosen = Heatmap(chosen.label, chosen.index, chosen.grid, encoding.png_base64(overlay))
        clock.timings["total"] = round(clock.timings.get("decode", 0.0) + (time.perf_counter() - started) * 1000, 2)
        return Analysis(
            scenes=scenes,
            io=io,
            attributes=attributes,
            attributes_note=self.attributes_note,
            cam=chosen,
            cams=cams,
            custom=custom,
            timings_ms=clock.timings,
            models=self.models,
            summary=summary.sentence(scenes[0].label, scenes[0].probability, io.label, [a.label for a in attributes]),
            attribute_maps=maps,
        )

    def _attribute_maps(
        self, features: torch.Tensor | None, attributes: Sequence[AttributeScore], clock: _Stopwatch
    ) -> list[AttributeMap]:
        """The listed attributes' maps, from the feature map the attribute scores were read from."""
        if features is None:
            return []
        with clock.stage("attribute_maps"):
            return attribute_maps(
                features, self.map_source.map_weights, self.map_source.names, [a.label for a in attributes]
            )

    def _run_networks(
        self, batch: torch.Tensor, clock: _Stopwatch, scope: ExitStack, with_attributes: bool = True
    ) -> tuple[CamPass, torch.Tensor | None]:
        """The scene pass and the attribute scores: one after the other, or side by side on the pool."""
        if not with_attributes:
            with clock.stage(self.spec.name):
                return scope.enter_context(self.scene_net.heatmap_pass(batch)), None
        attributes = None if self.attributes_share_scene_pass else self.attribute_model
        pending = None
        if self._pool is not None and attributes is not None:
            pending = self._pool.submit(acceleration.timed_inference, attributes.scores, batch)
        if pending is not None and self.scene_net.heatmap == "cam":  # alone, it is faster on the calling thread
            (logits, features), clock.timings[self.spec.name] = self._pool.submit(
                acceleration.timed_inference, self.scene_net, batch
            ).result()
            run = CamPass(logits, features, self.scene_net.class_weights)
        else:
            with clock.stage(self.spec.name):
                run = scope.enter_context(self.scene_net.heatmap_pass(batch))
        if self.attributes_share_scene_pass:
            return run, self.attribute_model.scores_from_features(run.features)
        if pending is not None:
            scores, clock.timings[attributes.name] = pending.result()
            return run, scores
        if attributes is None:
            return run, None
        with clock.stage(attributes.name):
            return run, attributes.scores(batch)

    def _run_custom_models(self, image: Image.Image, batch: torch.Tensor, clock: _Stopwatch) -> list[CustomResult]:
        """Each custom model on the same photo; a model preprocessed like the scene network reuses its tensor."""
        tensors = {(self.weights.input_size, tuple(self.weights.mean), tuple(self.weights.std)): batch}
        results = []
        for model in self.custom_models:
            if model.preprocessing not in tensors:
                tensors[model.preprocessing] = model_input(image, *model.preprocessing)
            with clock.stage(f"custom:{model.name}"):
                results.append(model.predict(tensors[model.preprocessing], self.top_k))
        return results

    def _top_scenes(self, probabilities: torch.Tensor, top_k: int) -> list[SceneScore]:
        values, indices = probabilities.topk(top_k)
        return [
            SceneScore(self.labels.categories[i], i, round(float(p), 6))
            for p, i in zip(values.tolist(), indices.tolist(), strict=True)
        ]

    def _indoor_outdoor(self, probabilities: torch.Tensor) -> IndoorOutdoor:
        places = self.weights.places_classes  # Hybrid1365's ImageNet classes have no IO label
        top = (probabilities[places.start : places.stop].topk(IO_TOP).indices + places.start).tolist()
        score = float(np.mean([self.labels.io[i] == OUTDOOR for i in top]))
        return IndoorOutdoor("indoor" if score < 0.5 else "outdoor", round(score, 4))

    def _heatmap(self, run: CamPass, index: int) -> Heatmap:
        grid = run.grid(index)
        return Heatmap(self.labels.categories[index], index, rounded_grid(grid))

    def _chosen_cam(self, cams: Sequence[Heatmap], run: CamPass, cam_class: int | None) -> Heatmap:
        if cam_class is None:
            return cams[0]
        return next((c for c in cams if c.index == cam_class), None) or self._heatmap(run, cam_class)

    def _top_attributes(self, scores: torch.Tensor) -> list[AttributeScore]:
        k = min(self.attribute_k, scores.numel())
        values, indices = scores.float().topk(k)
        names = self.attribute_model.names
        return [
            AttributeScore(names[i], round(float(v), 6)) for v, i in zip(values.tolist(), indices.tolist(), strict=True)
        ]
