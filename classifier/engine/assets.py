"""Where model files live and how they get there.

Each file is described once (`AssetSpec`); downloading, installing from a local folder,
checking, `fetch_models --list` and the README table all read that description. Installs are
atomic (temporary file, fsync, rename) and recorded with their sha256 in `manifest.json`,
which is updated under a file lock so that two `fetch_models` at once cannot lose entries.

Integrity: a file whose sha256 is published here (the label files) must match it; a file
without one (CSAIL's checkpoints: no official hash exists) is pinned by its first install,
and every later download or copy of it must match what the manifest recorded. A file that
does not match is refused and never installed. Each file lists its addresses in order (https
first); an operator's own mirror (`SCENEWEB_MODELS_MIRROR`) is tried before them all.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests
from tqdm import tqdm

from classifier.engine.attributes import ATTRIBUTE_FILENAME
from classifier.engine.errors import DownloadFailed, ModelFileError, SceneWebError, WeightsMissing

FETCH_HINT = "run `python manage.py fetch_models` (or `fetch_models --from DIR` on a machine without internet)"
MANIFEST = "manifest.json"
MANIFEST_LOCK = ".manifest.lock"
CHUNK = 1 << 16
LABELS_BASE = "https://raw.githubusercontent.com/csailvision/places365/master/"
# CSAIL's host answers on https and http; http stays as the fallback the official scripts use.
CSAIL_MODELS = ("https://places2.csail.mit.edu/models_places365/", "http://places2.csail.mit.edu/models_places365/")
KERAS_VGG_RELEASE = "https://github.com/GKalliatakis/Keras-VGG16-places365/releases/download/v1.0/"
KERAS_VGG_LICENCE = "GPL-3.0 (Keras-VGG16-places365 weights, from landmark-recognition-challenge)"
KERAS_VGG_ORIGIN = "https://github.com/GKalliatakis/Keras-VGG16-places365"


@dataclass(frozen=True)
class AssetSpec:
    name: str
    filename: str
    urls: tuple[str, ...]
    """Public addresses, tried in this order (https first); empty for a file made locally."""
    kind: str  # "weights" or "labels"
    description: str
    licence: str = "CC BY (MIT CSAIL Places365 release)"
    origin: str = "https://github.com/CSAILVision/places365"
    sha256: str | None = None
    """Published hash; None where no hash can be verified (the file is then pinned by its first install)."""
    approx_size_mb: float | None = None
    derived_from: str | None = None
    """Made locally from another asset (the Keras .h5) instead of downloaded; see `install_derived`."""

    @property
    def url(self) -> str:
        return self.urls[0] if self.urls else "(made locally)"

    @property
    def pinned_by_manifest(self) -> bool:
        """Downloaded files keep the hash of their first install; locally made ones (trained, converted) may change."""
        return bool(self.urls) and self.derived_from is None


def csail_urls(filename: str) -> tuple[str, ...]:
    return tuple(base + filename for base in CSAIL_MODELS)


ASSETS: dict[str, AssetSpec] = {
    spec.name: spec
    for spec in (
        AssetSpec(
            "resnet18_places365",
            "resnet18_places365.pth.tar",
            csail_urls("resnet18_places365.pth.tar"),
            "weights",
            "Places365 ResNet-18, official CSAIL PyTorch checkpoint (state_dict keys prefixed `module.`).",
            approx_size_mb=44.7,
        ),
        AssetSpec(
            "categories_places365",
            "categories_places365.txt",
            (LABELS_BASE + "categories_places365.txt",),
            "labels",
            "The 365 Places365 category names with their indices.",
            sha256="2affba635eb657e7ca95f4e6cc69bd9fac29ef4c32aeb83cafdfcd06ec6a1ea6",
        ),
        AssetSpec(
            "io_places365",
            "IO_places365.txt",
            (LABELS_BASE + "IO_places365.txt",),
            "labels",
            "Indoor (1) / outdoor (2) label of each Places365 category.",
            sha256="0a65ceb7264413a15bb069a87be7ecf9ebb572a6803d48de2827a1d25fe287ba",
        ),
        AssetSpec(
            "labels_sunattribute",
            "labels_sunattribute.txt",
            (LABELS_BASE + "labels_sunattribute.txt",),
            "labels",
            "The 102 SUN scene attribute names.",
            sha256="afc7fe63101c8e3caecfe93c7dffc3d2c9736e25c5b69457a7acc8fde84aa3f2",
        ),
        *(
            AssetSpec(
                f"{arch}_places365",
                f"{arch}_places365.pth.tar",
                csail_urls(f"{arch}_places365.pth.tar"),
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
            csail_urls("W_sceneattribute_wideresnet18.npy"),
            "weights",
            "Official linear SUN-attribute matrix (102 x 512) over WideResNet-18's pooled features.",
            approx_size_mb=0.4,
        ),
        AssetSpec(
            "categories_hybrid1365",
            "categories_hybrid1365.txt",
            (LABELS_BASE + "categories_hybrid1365.txt",),
            "labels",
            "The 1,365 VGG16-Hybrid1365 classes: 1,000 ImageNet objects, then the 365 Places categories.",
            sha256="666b94f303a4439f3628cba34d419ac5a880f3385a653e7631ecbdafca1ec7e6",
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
                    (f"{KERAS_VGG_RELEASE}vgg16-{name}_weights_tf_dim_ordering_tf_kernels.h5",),
                    "weights",
                    f"{title}, Keras 2 port of CSAIL's Caffe model (HDF5, channels-last flatten order).",
                    licence=KERAS_VGG_LICENCE,
                    origin=KERAS_VGG_ORIGIN,
                    approx_size_mb=size,
                ),
                AssetSpec(
                    f"vgg16_{name}",
                    f"vgg16_{name}.pth",
                    (f"{KERAS_VGG_RELEASE}vgg16-{name}_weights_tf_dim_ordering_tf_kernels.h5",),
                    "weights",
                    f"{title} as a PyTorch checkpoint, converted locally from the Keras file (`convert_keras_vgg16`).",
                    licence=KERAS_VGG_LICENCE,
                    origin=KERAS_VGG_ORIGIN,
                    approx_size_mb=size,
                    derived_from=f"vgg16_{name}_keras",
                ),
            )
        ),
        AssetSpec(
            "densenet201_sunattributes",
            ATTRIBUTE_FILENAME,
            (),
            "weights",
            "The DenseNet-201 SUN-attribute head; no public weights exist, `train_attributes` makes it.",
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


# -- writing safely ---------------------------------------------------------------------------

DISK_PROBLEMS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only",
    errno.EACCES: "this user may not write there",
    errno.EPERM: "this user may not write there",
}


class ModelsDirUnwritable(SceneWebError):
    """The models folder cannot take the file (disk full, read-only, no permission)."""

    code = "models_dir_unwritable"
    status = 507


@contextmanager
def writing_into(models_dir: Path) -> Iterator[None]:
    """Turn a full, read-only or forbidden models folder into one plain message naming it."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in DISK_PROBLEMS:
            raise
        raise ModelsDirUnwritable(
            f"Cannot write model files into {Path(models_dir).resolve()}: {DISK_PROBLEMS[exc.errno]} "
            f"({exc.strerror}). Free some space or make the folder writable (or point SCENEWEB_MODELS_DIR "
            "at another folder), then run `python manage.py fetch_models` again; nothing was installed "
            "by the step that failed."
        ) from exc


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_durably(tmp: Path, target: Path) -> None:
    """The bytes reach the disk before the name points at them, and the rename itself is synced."""
    _fsync(tmp)
    os.replace(tmp, target)
    _fsync(target.parent)


@contextmanager
def manifest_lock(models_dir: Path) -> Iterator[None]:
    """One installer at a time may read-modify-write the manifest (other processes wait)."""
    Path(models_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(models_dir) / MANIFEST_LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# -- manifest ---------------------------------------------------------------------------------


def read_manifest(models_dir: Path) -> dict:
    path = Path(models_dir) / MANIFEST
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _manifest_with(models_dir: Path, spec: AssetSpec, digest: str, size: int, source: str) -> Path:
    """The manifest plus one entry, written and synced beside it (the caller holds `manifest_lock`)."""
    manifest = read_manifest(models_dir)
    manifest[spec.filename] = {
        "sha256": digest,
        "bytes": size,
        "source": source,
        "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    tmp = Path(models_dir) / f"{MANIFEST}.part"
    try:
        tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        _fsync(tmp)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


# -- validation -------------------------------------------------------------------------------


def validate(spec: AssetSpec, path: Path) -> None:
    """Load the file the way the service will; raises ModelFileError when it would not work."""
    from classifier.engine import attributes, keras_vgg, labels, linear_attributes, places

    readers: dict[str, Callable[[Path], object]] = {
        "categories_places365": labels.read_categories,
        "io_places365": labels.read_io_labels,
        "labels_sunattribute": labels.read_attribute_names,
        "categories_hybrid1365": lambda p: labels.read_categories(p, expected=1365),
        "wideresnet18_sceneattributes": linear_attributes.read_attribute_matrix,
        ATTRIBUTE_HEAD_ASSET: attributes.load_attribute_model,
    }
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


class HashMismatch(DownloadFailed):
    """The bytes are not the file we know (published hash, or the hash pinned by the first install)."""

    code = "hash_mismatch"


def _check_hash(spec: AssetSpec, digest: str, models_dir: Path, source: str) -> None:
    if spec.sha256:
        if digest != spec.sha256:
            raise HashMismatch(
                f"{spec.filename} from {source} has sha256 {digest}, but the published sha256 is {spec.sha256}: "
                "refused, nothing installed (the copy is damaged or not the official file)."
            )
        return
    pinned = read_manifest(models_dir).get(spec.filename) if spec.pinned_by_manifest else None
    if pinned and pinned.get("sha256") and digest != pinned["sha256"]:
        raise HashMismatch(
            f"{spec.filename} from {source} has sha256 {digest}, but the copy first installed here "
            f"({pinned.get('installed_at', 'earlier')}, from {pinned.get('source', 'unknown')}) "
            f"had {pinned['sha256']}: "
            f"refused, nothing installed. If the publisher really replaced the file, delete its entry from "
            f"{Path(models_dir) / MANIFEST} and run again."
        )


def _verified_install(spec: AssetSpec, tmp: Path, models_dir: Path, source: str) -> Path:
    digest = sha256_of(tmp)
    _check_hash(spec, digest, models_dir, source)  # before loading: never unpickle unknown bytes needlessly
    validate(spec, tmp)
    target = Path(models_dir) / spec.filename
    with manifest_lock(models_dir):  # no other installer reads or writes the manifest meanwhile
        _check_hash(spec, digest, models_dir, source)  # another installer may have pinned it meanwhile
        manifest = _manifest_with(models_dir, spec, digest, tmp.stat().st_size, source)  # a full disk fails here
        try:
            _replace_durably(tmp, target)
            _replace_durably(manifest, Path(models_dir) / MANIFEST)
        finally:
            manifest.unlink(missing_ok=True)
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


def addresses(spec: AssetSpec, mirror: str | None = None) -> tuple[str, ...]:
    """Where to look, in order: the operator's mirror (BASE/filename), then the public addresses."""
    own = (f"{mirror.rstrip('/')}/{spec.filename}",) if mirror else ()
    return tuple(dict.fromkeys((*own, *spec.urls)))


def download(
    name: str,
    models_dir: Path,
    *,
    policy: DownloadPolicy = DownloadPolicy(),
    session: requests.Session | None = None,
    urls: Sequence[str] | None = None,
    mirror: str | None = None,
) -> Path:
    """Fetch one file, trying each address in turn (`urls`, default: the mirror then the public ones).

    Transient failures are retried per address; a dead address, a file that does not load or
    whose hash differs moves on to the next; nothing partial or unverified is ever installed.
    """
    spec = asset_spec(name)
    tried = tuple(urls) if urls is not None else addresses(spec, mirror)
    if not tried:
        raise DownloadFailed(f"{spec.filename} has no public address: {spec.description}")
    session = session or requests.Session()
    failures = []
    with writing_into(models_dir):
        for url in tried:
            try:
                return _download_from(spec, url, models_dir, policy, session)
            except DownloadFailed as exc:
                failures.append(exc)
    reasons = "\n".join(f"  - {failure.message}" for failure in failures)
    error = HashMismatch if any(isinstance(f, HashMismatch) for f in failures) else DownloadFailed
    raise error(f"Could not install {spec.filename} from any of its {len(tried)} address(es):\n{reasons}")


def _download_from(
    spec: AssetSpec, url: str, models_dir: Path, policy: DownloadPolicy, session: requests.Session
) -> Path:
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
    raise DownloadFailed(f"{url}: gave up after {policy.retries} tries: {last_error}.")


def install_from_dir(name: str, models_dir: Path, source_dir: Path) -> Path:
    """The air-gapped path: copy a file someone brought over, with the same checks as a download."""
    spec = asset_spec(name)
    source = Path(source_dir) / spec.filename
    if not source.is_file():
        raise WeightsMissing(f"{source} is missing; put {spec.filename} (from {spec.url}) in {source_dir}.")
    with writing_into(models_dir):
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


@dataclass(frozen=True)
class AttributeSourceStatus:
    source: str  # "trained head", "matrix" or "none"
    state: str  # "ok", "missing" or "broken"
    files: tuple[str, ...]
    detail: str


def check_attribute_source(models_dir: Path, requested: str = "auto") -> AttributeSourceStatus:
    """Which SUN-attribute source the service will use (SCENEWEB_ATTRIBUTES_SOURCE) and whether it loads."""
    from classifier.engine.attributes import TRAIN_HINT
    from classifier.engine.linear_attributes import choose_attribute_source

    head = choose_attribute_source(models_dir, requested) == "densenet201"
    names = (ATTRIBUTE_HEAD_ASSET,) if head else ATTRIBUTE_MATRIX_ASSETS
    statuses = check(models_dir, names)
    files = tuple(s.filename for s in statuses)
    source = "trained head" if head else "matrix"
    if broken := [s for s in statuses if s.state == "broken"]:
        return AttributeSourceStatus(source, "broken", files, " ".join(s.detail for s in broken))
    if missing := [s.filename for s in statuses if s.state == "missing"]:
        fix = TRAIN_HINT if head else "run `python manage.py fetch_models` (or `--from DIR` with those files)"
        if requested == "auto":  # neither the head nor the matrix: say both ways out
            source, fix = "none", f"{fix}; or {TRAIN_HINT}"
        return AttributeSourceStatus(source, "missing", files, f"{', '.join(missing)} not installed; {fix}.")
    meaning = "scores are probabilities" if head else "scores are raw linear responses, not probabilities"
    return AttributeSourceStatus(source, "ok", files, f"{' + '.join(files)}; {meaning}")


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
    with writing_into(models_dir):
        tmp = _temp_beside(models_dir, spec.filename)
        try:
            keras_vgg.convert_keras_vgg16(source, tmp, build=model.build, num_classes=model.num_classes)
            return _verified_install(spec, tmp, models_dir, f"converted from {source.name}")
        finally:
            tmp.unlink(missing_ok=True)
