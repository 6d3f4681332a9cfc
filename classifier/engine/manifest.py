"""`manifest.json`: what was installed in the models folder, from where, with which sha256.

The manifest is how a file without a published hash (CSAIL's checkpoints: no official hash
exists) is pinned by its first install: every later download or copy of it must match what
was recorded. It is read-modified-written under a file lock, so two `fetch_models` at once
cannot lose entries, and a file and its manifest entry are committed together (`commit`).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from classifier.engine.atomic import fsync_path, replace_durably, temporary_beside
from classifier.engine.catalogue import AssetSpec
from classifier.engine.errors import DownloadFailed, unreadable

MANIFEST = "manifest.json"
MANIFEST_LOCK = ".manifest.lock"
HASH_BLOCK = 1 << 20


class HashMismatch(DownloadFailed):
    """The bytes are not the file we know (published hash, or the hash pinned by the first install)."""

    code = "hash_mismatch"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(models_dir: Path) -> dict:
    path = Path(models_dir) / MANIFEST
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


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


def is_installed(models_dir: Path, spec: AssetSpec) -> bool:
    """Present, recorded, and its bytes still match what was recorded (and the published hash, if known)."""
    recorded = spec.filename in read_manifest(models_dir)
    return (Path(models_dir) / spec.filename).is_file() and recorded and changed_since_install(models_dir, spec) is None


def changed_since_install(models_dir: Path, spec: AssetSpec) -> str | None:
    """Why the installed file is not the one installed (its sha256 differs from the published hash or
    from its manifest entry), or None. A file the manifest never recorded has nothing to compare to;
    one that cannot be read is a `ModelFileError` saying why."""
    path = Path(models_dir) / spec.filename
    entry = read_manifest(models_dir).get(spec.filename) or {}
    expected = spec.sha256 or entry.get("sha256")
    if not expected or not path.is_file():
        return None
    try:
        digest = sha256_of(path)
    except OSError as exc:
        raise unreadable("Model file", path, exc, "reinstall it with `fetch_models --force`") from exc
    if digest == expected:
        return None
    if not entry:
        return f"{path} is not the published file: sha256 {digest}, but the published sha256 is {expected}"
    recorded = "published sha256" if spec.sha256 else f"sha256 recorded at install ({entry.get('installed_at')})"
    return f"{path} has changed since it was installed: sha256 {digest}, but the {recorded} is {expected}"


def check_hash(spec: AssetSpec, digest: str, models_dir: Path, source: str) -> None:
    """Refuse bytes that differ from the published hash, or from the copy first installed here."""
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


def commit(spec: AssetSpec, tmp: Path, models_dir: Path, digest: str, source: str) -> Path:
    """Move a checked temporary file into place and record it, both or neither.

    The new manifest is written and synced before anything is renamed (a full disk fails
    there, changing nothing); the hash is checked again under the lock, since another
    installer may have pinned the file meanwhile.
    """
    models_dir = Path(models_dir)
    target = models_dir / spec.filename
    with manifest_lock(models_dir), temporary_beside(models_dir / MANIFEST) as staged:
        check_hash(spec, digest, models_dir, source)
        manifest = read_manifest(models_dir)
        manifest[spec.filename] = {
            "sha256": digest,
            "bytes": tmp.stat().st_size,
            "source": source,
            "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        staged.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        fsync_path(staged)
        replace_durably(tmp, target)
        replace_durably(staged, models_dir / MANIFEST)
    return target
