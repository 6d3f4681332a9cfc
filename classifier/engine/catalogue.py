"""The catalogue: every file of the models folder, described once.

One record per file, as timm keeps one config per pretrained weight: where it comes from
(addresses, origin, licence), how to recognise it (sha256, size), and which reader loads it.
A scene network's weight file is a `SceneWeights`, which also carries everything about those
weights (the scene model it serves, classes, label file, input size, mean/std, published
accuracy). The installer (`classifier.engine.installer`), the preprocessing (through
`places.SCENE_MODELS`, which pairs each record with the code of its architecture),
`fetch_models --list` and the "Scene models" table of docs/models.md all read these records. Records
name each other only inside this module (a label file, a file converted from another).

Plain data: nothing here imports torch or another engine module, so every layer may read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FETCH_HINT = "run `python manage.py fetch_models` (or `fetch_models --from DIR` on a machine without internet)"
ATTRIBUTE_FILENAME = "densenet201_sunattributes.pth"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PLACES_CLASSES = 365
NO_IO_LABEL = -1  # outputs that are not Places365 categories (Hybrid1365's ImageNet objects)

LABELS_BASE = "https://raw.githubusercontent.com/csailvision/places365/master/"
# CSAIL's host answers on https and http; http stays as the fallback the official scripts use.
CSAIL_MODELS = ("https://places2.csail.mit.edu/models_places365/", "http://places2.csail.mit.edu/models_places365/")
CSAIL_LICENCE = "CC BY (MIT CSAIL Places365 release)"
CSAIL_ORIGIN = "https://github.com/CSAILVision/places365"
KERAS_VGG_RELEASE = "https://github.com/GKalliatakis/Keras-VGG16-places365/releases/download/v1.0/"
KERAS_VGG_LICENCE = "GPL-3.0 (Keras-VGG16-places365 weights, from landmark-recognition-challenge)"
KERAS_VGG_ORIGIN = "https://github.com/GKalliatakis/Keras-VGG16-places365"
PAMI_TABLE = "Zhou et al., Places, TPAMI 2018, Caffe original, 10-crop, Places365-Standard validation"

READERS = (
    "categories",  # a category list (`labels.read_categories`, with the count of the weights that use it)
    "io_labels",  # IO_places365.txt
    "attribute_names",  # labels_sunattribute.txt
    "attribute_matrix",  # CSAIL's linear SUN-attribute matrix (.npy)
    "attribute_head",  # the project's DenseNet-201 SUN-attribute checkpoint
    "scene_weights",  # a scene network's checkpoint (`SceneWeights`)
    "keras_vgg16",  # a Keras .h5 that a `SceneWeights` is converted from
)


@dataclass(frozen=True, kw_only=True)
class AssetSpec:
    """One file of the models folder: what it is, where it comes from, how to check it."""

    name: str
    filename: str
    urls: tuple[str, ...]
    """Public addresses, tried in this order (https first); empty for a file made locally."""
    reader: str
    """How the installer loads it to check it works (one of `READERS`)."""
    description: str
    licence: str = CSAIL_LICENCE
    origin: str = CSAIL_ORIGIN
    sha256: str | None = None
    """Published hash; None where no hash can be verified (the file is then pinned by its first install)."""
    approx_size_mb: float | None = None
    derived_from: str | None = None
    """Made locally from another file (the Keras .h5) instead of downloaded; see `installer.install_derived`."""

    def __post_init__(self) -> None:
        if self.reader not in READERS:
            raise ValueError(f"{self.name}: unknown reader {self.reader!r}; known: {', '.join(READERS)}")

    @property
    def url(self) -> str:
        return self.urls[0] if self.urls else "(made locally)"

    @property
    def pinned_by_manifest(self) -> bool:
        """Downloaded files keep the hash of their first install; locally made ones (trained, converted) may change."""
        return bool(self.urls) and self.derived_from is None


@dataclass(frozen=True, kw_only=True)
class SceneWeights(AssetSpec):
    """A scene network's weight file and everything about those weights."""

    reader: str = "scene_weights"
    model: str
    """The scene model these weights serve (SCENEWEB_SCENE_MODEL, `fetch_models --model`)."""
    arch: str
    """The network they fit, built by `places` (which also decides the heatmap kind)."""
    summary: str
    """The model in one sentence: the analysis JSON (`models.scene.description`) and docs/models.md show it."""
    num_classes: int = PLACES_CLASSES
    labels: str = "categories_places365"
    """The category file naming the outputs."""
    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    places_offset: int = 0
    """Index of the first of the 365 Places classes among the outputs (Hybrid1365: after ImageNet's 1000)."""
    extras: tuple[str, ...] = ()
    """Files that come with these weights (WideResNet-18's attribute matrix)."""
    published_top1: float | None = None
    published_top5: float | None = None
    published_source: str = ""

    @property
    def files(self) -> tuple[str, ...]:
        """Every file the model needs, in install order (a Keras source before its conversion)."""
        source = (self.derived_from,) if self.derived_from else ()
        return (*source, self.name, self.labels, "io_places365", *self.extras)

    @property
    def places_classes(self) -> range:
        """The output indices that are Places365 categories (what the IO score may use)."""
        return range(self.places_offset, self.places_offset + PLACES_CLASSES)

    def class_io_labels(self, places_io: tuple[int, ...]) -> tuple[int, ...]:
        """The 365 IO labels placed at these weights' output indices; other outputs get NO_IO_LABEL."""
        if len(places_io) != PLACES_CLASSES:
            raise ValueError(f"need {PLACES_CLASSES} Places365 IO labels, got {len(places_io)}")
        after = self.num_classes - self.places_offset - PLACES_CLASSES
        return (NO_IO_LABEL,) * self.places_offset + tuple(places_io) + (NO_IO_LABEL,) * after


def _csail(filename: str) -> tuple[str, ...]:
    return tuple(base + filename for base in CSAIL_MODELS)


def _label_file(name: str, filename: str, description: str, sha256: str, reader: str = "categories") -> AssetSpec:
    return AssetSpec(
        name=name,
        filename=filename,
        urls=(LABELS_BASE + filename,),
        reader=reader,
        description=description,
        sha256=sha256,
    )


def _csail_weights(
    model: str, title: str, size: float, summary: str, *, description: str | None = None, **fields
) -> SceneWeights:
    return SceneWeights(
        name=f"{model}_places365",
        filename=f"{model}_places365.pth.tar",
        urls=_csail(f"{model}_places365.pth.tar"),
        description=description
        or f"Places365 {title}, official CSAIL PyTorch checkpoint (PyTorch 0.2 key names, `module.` prefixes).",
        approx_size_mb=size,
        model=model,
        arch=model,
        summary=summary,
        **fields,
    )


def _keras_vgg16(name: str, title: str, size: float, summary: str, **fields) -> tuple[AssetSpec, SceneWeights]:
    """The Keras 2 port's .h5 (downloaded) and the PyTorch checkpoint converted from it (served)."""
    h5 = f"vgg16-{name}_weights_tf_dim_ordering_tf_kernels.h5"
    source = AssetSpec(
        name=f"vgg16_{name}_keras",
        filename=h5,
        urls=(KERAS_VGG_RELEASE + h5,),
        reader="keras_vgg16",
        description=f"{title}, Keras 2 port of CSAIL's Caffe model (HDF5, channels-last flatten order).",
        licence=KERAS_VGG_LICENCE,
        origin=KERAS_VGG_ORIGIN,
        approx_size_mb=size,
    )
    converted = SceneWeights(
        name=f"vgg16_{name}",
        filename=f"vgg16_{name}.pth",
        urls=source.urls,
        description=f"{title} as a PyTorch checkpoint, converted locally from the Keras file (`convert_keras_vgg16`).",
        licence=KERAS_VGG_LICENCE,
        origin=KERAS_VGG_ORIGIN,
        approx_size_mb=size,
        derived_from=source.name,
        model=f"vgg16_{name}",
        arch="vgg16",
        summary=summary,
        **fields,
    )
    return source, converted


ASSETS: dict[str, AssetSpec] = {
    spec.name: spec
    for spec in (
        _csail_weights(
            "resnet18",
            "ResNet-18",
            44.7,
            "ResNet-18 trained on Places365-Standard by MIT CSAIL (the default: fast).",
            description="Places365 ResNet-18, official CSAIL PyTorch checkpoint (state_dict keys prefixed `module.`).",
        ),
        _label_file(
            "categories_places365",
            "categories_places365.txt",
            "The 365 Places365 category names with their indices.",
            "2affba635eb657e7ca95f4e6cc69bd9fac29ef4c32aeb83cafdfcd06ec6a1ea6",
        ),
        _label_file(
            "io_places365",
            "IO_places365.txt",
            "Indoor (1) / outdoor (2) label of each Places365 category.",
            "0a65ceb7264413a15bb069a87be7ecf9ebb572a6803d48de2827a1d25fe287ba",
            reader="io_labels",
        ),
        _label_file(
            "labels_sunattribute",
            "labels_sunattribute.txt",
            "The 102 SUN scene attribute names.",
            "afc7fe63101c8e3caecfe93c7dffc3d2c9736e25c5b69457a7acc8fde84aa3f2",
            reader="attribute_names",
        ),
        _csail_weights(
            "alexnet", "AlexNet", 223.2, "AlexNet trained on Places365-Standard by MIT CSAIL (PyTorch release)."
        ),
        _csail_weights(
            "resnet50", "ResNet-50", 92.7, "ResNet-50 trained on Places365-Standard by MIT CSAIL (PyTorch release)."
        ),
        _csail_weights(
            "densenet161",
            "DenseNet-161",
            104.9,
            "DenseNet-161 trained on Places365-Standard by MIT CSAIL (PyTorch release).",
        ),
        _csail_weights(
            "wideresnet18",
            "WideResNet-18",
            43.4,
            "ResNet-18 without its stem max-pool (14x14 heatmaps), MIT CSAIL's model of the unified "
            "demo; comes with the official linear SUN-attribute matrix.",
            extras=("wideresnet18_sceneattributes",),
        ),
        AssetSpec(
            name="wideresnet18_sceneattributes",
            filename="W_sceneattribute_wideresnet18.npy",
            urls=_csail("W_sceneattribute_wideresnet18.npy"),
            reader="attribute_matrix",
            description="Official linear SUN-attribute matrix (102 x 512) over WideResNet-18's pooled features.",
            approx_size_mb=0.4,
        ),
        _label_file(
            "categories_hybrid1365",
            "categories_hybrid1365.txt",
            "The 1,365 VGG16-Hybrid1365 classes: 1,000 ImageNet objects, then the 365 Places categories.",
            "666b94f303a4439f3628cba34d419ac5a880f3385a653e7631ecbdafca1ec7e6",
        ),
        *_keras_vgg16(
            "places365",
            "VGG16-Places365",
            517.9,
            "VGG16-Places365 (CSAIL's Caffe model via the Keras 2 port, converted to PyTorch).",
            published_top1=55.24,
            published_top5=84.91,
            published_source=PAMI_TABLE,
        ),
        *_keras_vgg16(
            "hybrid1365",
            "VGG16-Hybrid1365",
            533.5,
            "VGG16-Hybrid1365: 1,000 ImageNet objects + 365 Places scenes (Keras 2 port, converted).",
            num_classes=1365,
            labels="categories_hybrid1365",
            places_offset=1000,
        ),
        AssetSpec(
            name="densenet201_sunattributes",
            filename=ATTRIBUTE_FILENAME,
            urls=(),
            reader="attribute_head",
            description="The DenseNet-201 SUN-attribute head; no public weights exist, `train_attributes` makes it.",
            licence="yours (trained locally on the SUN Attribute Database)",
            origin="python manage.py train_attributes",
            approx_size_mb=70.6,
        ),
    )
}

DEFAULT_ASSETS = ("resnet18_places365", "categories_places365", "io_places365", "labels_sunattribute")
ATTRIBUTE_MATRIX_ASSETS = ("wideresnet18_places365", "wideresnet18_sceneattributes")
"""What scores the SUN attributes on a fresh install (CSAIL's unified demo); `fetch_models` installs them too."""
ATTRIBUTE_HEAD_ASSET = "densenet201_sunattributes"


def asset_spec(name: str) -> AssetSpec:
    try:
        return ASSETS[name]
    except KeyError:
        raise ValueError(f"Unknown model file {name!r}; known: {', '.join(sorted(ASSETS))}") from None


def asset_path(models_dir: Path, name: str) -> Path:
    return Path(models_dir) / asset_spec(name).filename


def scene_weights() -> tuple[SceneWeights, ...]:
    """The weight files of the scene models, in catalogue order."""
    return tuple(spec for spec in ASSETS.values() if isinstance(spec, SceneWeights))


def converted_into(name: str) -> SceneWeights | None:
    """The weights made from this file (a Keras .h5), or None when nothing is converted from it."""
    return next((spec for spec in scene_weights() if spec.derived_from == name), None)


def weights_using(labels: str) -> tuple[SceneWeights, ...]:
    """The scene weights whose outputs a category file names (its expected length is theirs)."""
    return tuple(spec for spec in scene_weights() if spec.labels == labels)
