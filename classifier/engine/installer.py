"""Getting the catalogue's files into the models folder, and checking what is there.

Downloads try each address of a file in turn (an operator's own mirror, SCENEWEB_MODELS_MIRROR,
before them all), retrying transient failures; `--from DIR` copies files someone brought over;
a Keras .h5 is converted locally. Every way in ends the same: the bytes land in a temporary
file beside the target, their hash is checked (`manifest.check_hash`), the file is loaded the
way the service will load it (`validate`), and only then are file and manifest entry
committed together. Nothing partial or unverified is ever installed.
"""

from __future__ import annotations

import errno
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from tqdm import tqdm

from classifier.engine import attribute_sources, attributes, keras_vgg, labels, linear_attributes, places
from classifier.engine.atomic import replace_durably, temporary_beside
from classifier.engine.catalogue import (
    DEFAULT_ASSETS,
    FETCH_HINT,
    AssetSpec,
    asset_path,
    asset_spec,
    converted_into,
    weights_using,
)
from classifier.engine.errors import DownloadFailed, ModelFileError, SceneWebError, WeightsMissing
from classifier.engine.image_checks import IMAGE_SUFFIXES
from classifier.engine.manifest import HashMismatch, changed_since_install, check_hash, commit, sha256_of

CHUNK = 1 << 16
# Photos from the official Places365 demo, offered for the sample gallery.
SAMPLE_URLS = (
    "http://places.csail.mit.edu/demo/6.jpg",
    "http://places.csail.mit.edu/demo/12.jpg",
)

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


# -- loading a file the way the service will ---------------------------------------------------

_READERS: dict[str, Callable[[AssetSpec, Path], object]] = {
    "categories": lambda spec, path: labels.read_categories(path, expected=weights_using(spec.name)[0].num_classes),
    "io_labels": lambda spec, path: labels.read_io_labels(path),
    "attribute_names": lambda spec, path: labels.read_attribute_names(path),
    "attribute_matrix": lambda spec, path: linear_attributes.read_attribute_matrix(path),
    "attribute_head": lambda spec, path: attributes.load_attribute_model(path),
    "scene_weights": lambda spec, path: places.load_scene_net(
        places.scene_model_spec(spec.model), path, install_hint=FETCH_HINT
    ),
    "keras_vgg16": lambda spec, path: keras_vgg.check_keras_vgg16(path, converted_into(spec.name).num_classes),
}


def validate(spec: AssetSpec, path: Path) -> None:
    """Load the file the way the service will; raises ModelFileError when it would not work."""
    _READERS[spec.reader](spec, path)


def _verified_install(spec: AssetSpec, tmp: Path, models_dir: Path, source: str) -> Path:
    digest = sha256_of(tmp)
    check_hash(spec, digest, models_dir, source)  # before loading: never unpickle unknown bytes needlessly
    try:
        validate(spec, tmp)
    except ModelFileError as exc:  # named as the user knows it, not as the temporary `.part` file
        raise type(exc)(exc.message.replace(str(tmp), f"{spec.filename} from {source}"), code=exc.code) from exc
    return commit(spec, tmp, models_dir, digest, source)


# -- downloading ---------------------------------------------------------------------------


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
        with temporary_beside(Path(models_dir) / spec.filename) as tmp:
            try:
                _stream_to(url, tmp, policy, session, spec.filename)
                return _verified_install(spec, tmp, models_dir, url)
            except _Transient as exc:
                last_error = str(exc)
            except ModelFileError as exc:
                raise DownloadFailed(f"{spec.filename} downloaded from {url} is unusable: {exc.message}") from exc
        if attempt < policy.retries:
            time.sleep(policy.backoff_seconds * 2 ** (attempt - 1))
    raise DownloadFailed(f"{url}: gave up after {policy.retries} tries: {last_error}.")


# -- installing from a folder or by conversion ------------------------------------------------


def install_from_dir(name: str, models_dir: Path, source_dir: Path) -> Path:
    """The air-gapped path: copy a file someone brought over, with the same checks as a download."""
    spec = asset_spec(name)
    source = Path(source_dir) / spec.filename
    if not source.is_file():
        raise WeightsMissing(f"{source} is missing; put {spec.filename} (from {spec.url}) in {source_dir}.")
    with writing_into(models_dir), temporary_beside(Path(models_dir) / spec.filename) as tmp:
        shutil.copyfile(source, tmp)
        return _verified_install(spec, tmp, models_dir, str(source))


def install_derived(name: str, models_dir: Path) -> Path:
    """Make a derived file from its installed source: the Keras .h5 -> a PyTorch checkpoint."""
    spec = asset_spec(name)
    if spec.derived_from is None:
        raise ValueError(f"{name} is downloaded, not derived")
    source = asset_path(models_dir, spec.derived_from)
    if not source.is_file():
        raise WeightsMissing(f"{source} is missing; {FETCH_HINT}.")
    model = places.scene_model_spec(spec.model)
    with writing_into(models_dir), temporary_beside(Path(models_dir) / spec.filename) as tmp:
        keras_vgg.convert_keras_vgg16(source, tmp, build=model.build, num_classes=spec.num_classes)
        return _verified_install(spec, tmp, models_dir, f"converted from {source.name}")


def model_assets(model: str) -> tuple[str, ...]:
    """Every file one scene model needs, in install order (a Keras source before its conversion)."""
    return places.scene_model_spec(model).weights.files


# -- checking ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class AssetStatus:
    name: str
    filename: str
    state: str  # "ok", "missing", "changed" (not the bytes installed) or "broken"
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
            if changed := changed_since_install(models_dir, spec):  # before loading: never unpickle unknown bytes
                detail = f"{changed}; reinstall with `fetch_models --force`"
                statuses.append(AssetStatus(name, spec.filename, "changed", detail))
                continue
            validate(spec, path)
        except ModelFileError as exc:
            statuses.append(AssetStatus(name, spec.filename, "broken", exc.message))
            continue
        statuses.append(AssetStatus(name, spec.filename, "ok", f"{path.stat().st_size / 2**20:.1f} MB"))
    return statuses


@dataclass(frozen=True)
class AttributeSourceStatus:
    source: str  # "trained head", "matrix" or "none"
    state: str  # "ok", "missing", "changed" (not the bytes installed) or "broken"
    files: tuple[str, ...]
    detail: str


def check_attribute_source(models_dir: Path, requested: str = "auto") -> AttributeSourceStatus:
    """Which SUN-attribute source the service will use (SCENEWEB_ATTRIBUTES_SOURCE) and whether it loads."""
    choice = attribute_sources.choose_attribute_source(models_dir, requested)
    statuses = check(models_dir, choice.assets)
    files = tuple(s.filename for s in statuses)
    source = "trained head" if choice.head else "matrix"
    if broken := [s for s in statuses if s.state in ("broken", "changed")]:
        return AttributeSourceStatus(source, "broken", files, " ".join(s.detail for s in broken))
    if choice.missing:
        return AttributeSourceStatus("none" if requested == "auto" else source, "missing", files, choice.note)
    return AttributeSourceStatus(source, "ok", files, f"{' + '.join(files)}; scores are {choice.model.score_meaning}")


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
        if photo.is_file() and photo.suffix.lower() in IMAGE_SUFFIXES:
            shutil.copyfile(photo, samples_dir / photo.name)
            installed.append(samples_dir / photo.name)
    return installed


def download_samples(
    samples_dir: Path, *, policy: DownloadPolicy = DownloadPolicy(), urls: Iterable[str] = SAMPLE_URLS
) -> list[Path]:
    samples_dir = Path(samples_dir)
    session = requests.Session()
    installed = []
    for url in urls:
        target = samples_dir / f"places_demo_{Path(url).name}"
        if not target.is_file():
            with temporary_beside(target) as tmp:
                try:
                    _stream_to(url, tmp, policy, session, target.name)
                except _Transient as exc:
                    raise DownloadFailed(f"Could not download sample photo {url}: {exc}") from exc
                replace_durably(tmp, target)
        installed.append(target)
    return installed
