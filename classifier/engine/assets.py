"""Where model files live and how they get there: the public names of the model-file side.

The work lives in one module per concept:

- `catalogue`: one record per file (addresses, sha256, licence, origin, size; for a scene
  network's weights also its classes, label file, input size and mean/std);
- `manifest`: what was installed, with its hash, under a file lock; pinning files that have
  no published hash to their first install;
- `installer`: downloading with address fallback and retries, installing from a folder,
  converting the Keras VGG16 files, checking what is installed, the sample photos.

Commands, benchmarks and tests import from here; engine modules import from those modules
directly (the catalogue sits below everything, so no engine import cycle goes through here).
"""

from classifier.engine.catalogue import (
    ASSETS,
    ATTRIBUTE_HEAD_ASSET,
    ATTRIBUTE_MATRIX_ASSETS,
    DEFAULT_ASSETS,
    FETCH_HINT,
    AssetSpec,
    asset_path,
    asset_spec,
    converted_into,
)
from classifier.engine.installer import (
    SAMPLE_SUFFIXES,
    DownloadPolicy,
    ModelsDirUnwritable,
    check,
    check_attribute_source,
    download,
    download_samples,
    install_derived,
    install_from_dir,
    install_samples,
    model_assets,
)
from classifier.engine.manifest import HashMismatch, is_installed, read_manifest, sha256_of

__all__ = [
    "ASSETS",
    "ATTRIBUTE_HEAD_ASSET",
    "ATTRIBUTE_MATRIX_ASSETS",
    "DEFAULT_ASSETS",
    "FETCH_HINT",
    "SAMPLE_SUFFIXES",
    "AssetSpec",
    "DownloadPolicy",
    "HashMismatch",
    "ModelsDirUnwritable",
    "asset_path",
    "asset_spec",
    "check",
    "check_attribute_source",
    "converted_into",
    "download",
    "download_samples",
    "install_derived",
    "install_from_dir",
    "install_samples",
    "is_installed",
    "model_assets",
    "read_manifest",
    "sha256_of",
]
