"""The format tags of the files the trainers write, in one list, and reading a split file by its tag.

Each file says what it is in its `format` field, so a file handed to the wrong reader is refused
with a clear message instead of failing on a missing key. Before the two trainers' split files
had tags of their own, both wrote `sceneweb-split/1` (and the first ones none): such files are
still read, told apart by their layout.
"""

from __future__ import annotations

import json
from pathlib import Path

from classifier.engine.errors import DatasetError

FINETUNE_SPLIT = "sceneweb-finetune-split/1"
ATTRIBUTES_SPLIT = "sceneweb-attributes-split/1"
LEGACY_SPLIT = "sceneweb-split/1"
FINETUNE_RESUME = "sceneweb-finetune-resume/1"
ATTRIBUTES_RESUME = "sceneweb-attributes-resume/1"


def read_split_file(path: Path, tag: str, *, key: str, remedy: str) -> dict:
    """The JSON of a split file with this trainer's tag (or the shared tag of earlier versions, or
    none) and the trainer's layout (a top-level `key`); anything else says `remedy`."""
    try:
        payload = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(f"Split file {path} cannot be read ({exc}); {remedy}.") from exc
    if not isinstance(payload, dict) or payload.get("format", LEGACY_SPLIT) not in (tag, LEGACY_SPLIT):
        raise DatasetError(f"Split file {path} is not a {tag} file; {remedy}.")
    if key not in payload:
        raise DatasetError(f"Split file {path} is not a {tag} file (it has no '{key}'); {remedy}.")
    return payload
