"""Where model files live and how they get there.

Each file is described once (`AssetSpec`); downloading, installing from a local folder,
checking, `fetch_models --list` and the README table all read that description. Installs are
atomic (temporary file, then rename) and recorded with their sha256 in `manifest.json`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests
from tqdm import tqdm

from classifier.engine.errors import DownloadFailed, ModelFileError, WeightsMissing

FETCH_HINT = "run `python manage.py fetch_models` (or `fetch_models --from DIR` on a machine without internet)"
MANIFEST = "manifest.json"
CHUNK = 1 << 16
LABELS_BASE = "https://raw.githubusercontent.com/csailvision/places365/master/"
CSAIL_MODELS = "http://places2.csail.mit.edu/models_places365/"
KERAS_VGG_RELEASE = "https://github.com/GKalliatakis/Keras-VGG16-places365/releases/download/v1.0/"
KERAS_VGG_LICENCE = "GPL-3.0 (Keras-VGG16-places365 weights, from landmark-recognition-challenge)"
KERAS_VGG_ORIGIN = "https://github.com/GKalliatakis/Keras-VGG16-places365"


@dataclass(frozen=True)
class AssetSpec:
    name: str
    filename: str
    url: str
    kind: str  # "weights" or "labels"
    description: str
    licence: str = "CC BY (MIT CSAIL Places365 release)"
    origin: str = "https://github.com/CSAILVision/places365"
    sha256: str | None = None
    approx_size_mb: float | None = None
    derived_from: str | None = None
    """Made locally from another asset (the Keras .h5) instead of downloaded; see `install_derived`."""


ASSETS: dict[str, AssetSpec] = {
    spec.name: spec
    for spec in (
        AssetSpec(
            "resnet18_places365",
            "resnet18_places365.pth.tar",
            "http://places2.csail.mit.edu/models_places365/resnet18_places365.pth.tar",
            "weights",
            "Places365 ResNet-18, official CSAIL PyTorch checkpoint (state_dict keys prefixed `module.`).",
            approx_size_mb=44.7,
        ),
        AssetSpec(
            "categories_places365",
            "categories_places365.txt",
            LABELS_BASE + "categories_places365.txt",
            "labels",
            "The 365 Places365 category names with their indices.",
        ),
        AssetSpec(
            "io_places365",
            "IO_places365.txt",
            LABELS_BASE + "IO_places365.txt",
            "labels",
            "Indoor (1) / outdoor (2) label of each Places365 category.",
        ),
        AssetSpec(
            "labels_sunattribute",
            "labels_sunattribute.txt",
            LABELS_BASE + "labels_sunattribute.txt",
            "labels",
            "The 102 SUN scene attribute names.",
        ),
        *(
            AssetSpec(
                f"{arch}_places365",
                f"{arch}_places365.pth.tar",
                f"{CSAIL_MODELS}{arch}_places365.pth.tar",
                "weights",
                f"Places365 {title}, official CSAIL PyTorch checkpoint (PyTorch 0.2 key names, `module.` prefixes).",
                approx_size_mb=size,
            )
            for arch, title, size in (
                ("alexnet", "AlexNet", 223.2),
                ("resnet50", "ResNet-50", 92.7),
                ("densenet161", "DenseNet-161", 104.9),
                ("wideresnet18", "WideResNet-18", 43.4),
            )
        ),
        AssetSpec(
            "wideresnet18_sceneattributes",
            "W_sceneattribute_wideresnet18.npy",
            f"{CSAIL_MODELS}W_sceneattribute_wideresnet18.npy",
            "weights",
            "Official linear SUN-attribute matrix (102 x 512) over WideResNet-18's pooled features.",
            approx_size_mb=0.4,
        ),
        AssetSpec(
            "categories_hybrid1365",
            "categories_hybrid1365.txt",
            LABELS_BASE + "categories_hybrid1365.txt",
            "labels",
            "The 1,365 VGG16-Hybrid1365 classes: 1,000 ImageNet objects, then the 365 Places categories.",
        ),
        *(
            spec
            for name, title, size in (
                ("places365", "VGG16-Places365", 517.9),
                ("hybrid1365", "VGG16-Hybrid1365", 533.5),
            )
            for spec in (
                AssetSpec(
                    f"vgg16_{name}_keras",
                    f"vgg16-{name}_weights_tf_dim_ordering_tf_kernels.h5",
                    f"{KERAS_VGG_RELEASE}vgg16-{name}_weights_tf_dim_ordering_tf_kernels.h5",
                    "weights",
                    f"{title}, Keras 2 port of CSAIL's Caffe model (HDF5, channels-last flatten order).",
                    licence=KERAS_VGG_LICENCE,
                    origin=KERAS_VGG_ORIGIN,
                    approx_size_mb=size,
                ),
                AssetSpec(
                    f"vgg16_{name}",
                    f"vgg16_{name}.pth",
                    f"{KERAS_VGG_RELEASE}vgg16-{name}_weights_tf_dim_ordering_tf_kernels.h5",
                    "weights",
                    f"{title} as a PyTorch checkpoint, converted locally from the Keras file (`convert_keras_vgg16`).",
                    licence=KERAS_VGG_LICENCE,
                    origin=KERAS_VGG_ORIGIN,
                    approx_size_mb=size,
                    derived_from=f"vgg16_{name}_keras",
                ),
            )
        ),
    )
}

DEFAULT_ASSETS = ("resnet18_places365", "categories_places365", "io_places365", "labels_sunattribute")

# Photos from the official Places365 demo, offered for the sample gallery.
SAMPLE_URLS = (
    "http://places.csail.mit.edu/demo/6.jpg",
    "http://places.csail.mit.edu/demo/12.jpg",
)
SAMPLE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


def asset_spec(name: str) -> AssetSpec:
    try:
        return ASSETS[name]
    except KeyError:
        raise ValueError(f"Unknown model file {name!r}; known: {', '.join(sorted(ASSETS))}") from None


def asset_path(models_dir: Path, name: str) -> Path:
    return Path(models_dir) / asset_spec(name).filename


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK * 16), b""):
            digest.update(block)
    return digest.hexdigest()


# -- manifest ---------------------------------------------------------------------------------


def read_manifest(models_dir: Path) -> dict:
    path = Path(models_dir) / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        return {}


def _record(models_dir: Path, spec: AssetSpec, digest: str, size: int, source: str) -> None:
    manifest = read_manifest(models_dir)
    manifest[spec.filename] = {
        "sha256": digest,
        "bytes": size,
        "source": source,
        "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path = Path(models_dir) / MANIFEST
    tmp = path.with_suffix(".json.part")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


# -- validation -------------------------------------------------------------------------------


def validate(spec: AssetSpec, path: Path) -> None:
    """Load the file the way the service will; raises ModelFileError when it would not work."""
    from classifier.engine import keras_vgg, labels, linear_attributes, places

    readers: dict[str, Callable[[Path], object]] = {
        "categories_places365": labels.read_categories,
        "io_places365": labels.read_io_labels,
        "labels_sunattribute": labels.read_attribute_names,
    }
    readers["categories_hybrid1365"] = lambda p: labels.read_categories(p, expected=1365)
    readers["wideresnet18_sceneattributes"] = linear_attributes.read_attribute_matrix
    if spec.name in readers:
        readers[spec.name](path)
        return
    for model in places.SCENE_MODELS.values():
        if model.weights_asset == spec.name:
            places.load_scene_net(model, path, install_hint=FETCH_HINT)
            return
        if ASSETS[model.weights_asset].derived_from == spec.name:
            keras_vgg.check_keras_vgg16(path, model.num_classes)
            return
    raise ValueError(f"no validator for {spec.name}")


def is_installed(models_dir: Path, spec: AssetSpec) -> bool:
    """Present, and its bytes still match what was recorded (and the published hash, if known)."""
    path = Path(models_dir) / spec.filename
    entry = read_manifest(models_dir).get(spec.filename)
    if not path.is_file() or not entry:
        return False
    digest = sha256_of(path)
    return digest == entry.get("sha256") and (spec.sha256 is None or digest == spec.sha256)


def _verified_install(spec: AssetSpec, tmp: Path, models_dir: Path, source: str) -> Path:
    digest = sha256_of(tmp)
    if spec.sha256 and digest != spec.sha256:
        raise DownloadFailed(f"{spec.filename} from {source} has sha256 {digest}, expected {spec.sha256}.")
    validate(spec, tmp)
    target = Path(models_dir) / spec.filename
    os.replace(tmp, target)
    _record(models_dir, spec, digest, target.stat().st_size, source)
    return target


def _temp_beside(models_dir: Path, filename: str) -> Path:
    Path(models_dir).mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{filename}.", suffix=".part", dir=models_dir)
    os.close(fd)
    return Path(tmp)


# -- installing -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadPolicy:
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    retries: int = 3
    backoff_seconds: float = 1.0
    progress: bool = True


class _Transient(Exception):
    """A failure worth another try (network error, 5xx, truncated body)."""


def _stream_to(url: str, tmp: Path, policy: DownloadPolicy, session: requests.Session, label: str) -> None:
    try:
        response = session.get(url, stream=True, timeout=(policy.connect_timeout, policy.read_timeout))
    except requests.RequestException as exc:
        raise _Transient(f"cannot reach {url}: {exc}") from exc
    with response:
        if response.status_code >= 500:
            raise _Transient(f"{url} answered HTTP {response.status_code}")
        if response.status_code != 200:
            raise DownloadFailed(f"{url} answered HTTP {response.status_code}; the file may have moved.")
        expected = int(response.headers.get("Content-Length") or 0) or None
        received = 0
        try:
            with (
                open(tmp, "wb") as out,
                tqdm(
                    total=expected, unit="B", unit_scale=True, desc=label, disable=not policy.progress, leave=False
                ) as bar,
            ):
                for chunk in response.iter_content(CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        except requests.RequestException as exc:
            raise _Transient(f"download of {url} broke off after {received} bytes: {exc}") from exc
    if expected is not None and received != expected:
        raise _Transient(f"download of {url} stopped at {received} of {expected} bytes")


def download(
    name: str,
    models_dir: Path,
    *,
    policy: DownloadPolicy = DownloadPolicy(),
    session: requests.Session | None = None,
    url: str | None = None,
) -> Path:
    """Fetch one file from its public address; retries transient failures; never leaves a partial file."""
    spec = asset_spec(name)
    url = url or spec.url
    session = session or requests.Session()
    last_error = ""
    for attempt in range(1, policy.retries + 1):
        tmp = _temp_beside(models_dir, spec.filename)
        try:
            _stream_to(url, tmp, policy, session, spec.filename)
            return _verified_install(spec, tmp, models_dir, url)
        except _Transient as exc:
            last_error = str(exc)
            if attempt < policy.retries:
                time.sleep(policy.backoff_seconds * 2 ** (attempt - 1))
        except ModelFileError as exc:
            raise DownloadFailed(f"{spec.filename} downloaded from {url} is unusable: {exc.message}") from exc
        finally:
            tmp.unlink(missing_ok=True)
    raise DownloadFailed(f"Could not download {spec.filename} after {policy.retries} tries: {last_error}.")


def install_from_dir(name: str, models_dir: Path, source_dir: Path) -> Path:
    """The air-gapped path: copy a file someone brought over, with the same checks as a download."""
    spec = asset_spec(name)
    source = Path(source_dir) / spec.filename
    if not source.is_file():
        raise WeightsMissing(f"{source} is missing; put {spec.filename} (from {spec.url}) in {source_dir}.")
    tmp = _temp_beside(models_dir, spec.filename)
    try:
        shutil.copyfile(source, tmp)
        return _verified_install(spec, tmp, models_dir, str(source))
    finally:
        tmp.unlink(missing_ok=True)


# -- checking ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssetStatus:
    name: str
    filename: str
    state: str  # "ok", "missing" or "broken"
    detail: str = ""


def check(models_dir: Path, names: Iterable[str] = DEFAULT_ASSETS) -> list[AssetStatus]:
    statuses = []
    for name in names:
        spec = asset_spec(name)
        path = Path(models_dir) / spec.filename
        if not path.is_file():
            statuses.append(AssetStatus(name, spec.filename, "missing", f"{path} not found; {FETCH_HINT}"))
            continue
        try:
            validate(spec, path)
        except ModelFileError as exc:
            statuses.append(AssetStatus(name, spec.filename, "broken", exc.message))
            continue
        statuses.append(AssetStatus(name, spec.filename, "ok", f"{path.stat().st_size / 2**20:.1f} MB"))
    return statuses


# -- sample photos ----------------------------------------------------------------------------


def install_samples(samples_dir: Path, source_dir: Path) -> list[Path]:
    """Copy the photos of a folder into the gallery folder (non-photos are skipped)."""
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise WeightsMissing(f"Sample folder {source_dir} does not exist.")
    samples_dir = Path(samples_dir)
    samples_dir.mkdir(parents=True, exist_ok=True)
    installed = []
    for photo in sorted(source_dir.iterdir()):
        if photo.is_file() and photo.suffix.lower() in SAMPLE_SUFFIXES:
            shutil.copyfile(photo, samples_dir / photo.name)
            installed.append(samples_dir / photo.name)
    return installed


def download_samples(
    samples_dir: Path, *, policy: DownloadPolicy = DownloadPolicy(), urls: Iterable[str] = SAMPLE_URLS
) -> list[Path]:
    samples_dir = Path(samples_dir)
    samples_dir.mkdir(parents=True, exist_ok=True)
    session = requests.Session()
    installed = []
    for url in urls:
        target = samples_dir / f"places_demo_{Path(url).name}"
        if target.is_file():
            installed.append(target)
            continue
        tmp = _temp_beside(samples_dir, target.name)
        try:
            _stream_to(url, tmp, policy, session, target.name)
            os.replace(tmp, target)
            installed.append(target)
        except _Transient as exc:
            raise DownloadFailed(f"Could not download sample photo {url}: {exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)
    return installed


# -- scene models -----------------------------------------------------------------------------


def model_assets(model: str) -> tuple[str, ...]:
    """Every file one scene model needs, in install order (a Keras source before its conversion)."""
    from classifier.engine import places

    spec = places.scene_model_spec(model)
    source = ASSETS[spec.weights_asset].derived_from
    names = (source,) if source else ()
    return (*names, spec.weights_asset, spec.labels_asset, "io_places365", *spec.extra_assets)


def install_derived(name: str, models_dir: Path) -> Path:
    """Make a derived asset from its installed source: the Keras .h5 -> a PyTorch checkpoint."""
    from classifier.engine import keras_vgg, places

    spec = asset_spec(name)
    if spec.derived_from is None:
        raise ValueError(f"{name} is downloaded, not derived")
    source = asset_path(models_dir, spec.derived_from)
    if not source.is_file():
        raise WeightsMissing(f"{source} is missing; {FETCH_HINT}.")
    model = next(m for m in places.SCENE_MODELS.values() if m.weights_asset == name)
    tmp = _temp_beside(models_dir, spec.filename)
    try:
        keras_vgg.convert_keras_vgg16(source, tmp, build=model.build, num_classes=model.num_classes)
        return _verified_install(spec, tmp, models_dir, f"converted from {source.name}")
    finally:
        tmp.unlink(missing_ok=True)
