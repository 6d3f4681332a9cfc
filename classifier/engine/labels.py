"""Places365 category names, their indoor/outdoor labels and the SUN attribute names.

The files are the official ones from the CSAILVision/places365 repository; a malformed file
is reported with its path and line so the user knows which download to repeat.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from classifier.engine.errors import ModelFileError, unreadable

REINSTALL_HINT = "run `python manage.py fetch_models` to reinstall it"

INDOOR = 0
OUTDOOR = 1


def _lines(path: Path) -> list[str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ModelFileError(f"Label file {path} is missing; {REINSTALL_HINT}.", code="labels_missing") from None
    except OSError as exc:
        raise unreadable("Label file", path, exc, REINSTALL_HINT) from exc
    except UnicodeDecodeError as exc:
        raise _malformed(path, "it is not UTF-8 text") from exc
    return [line.strip() for line in text.splitlines() if line.strip()]


def _malformed(path: Path, detail: str) -> ModelFileError:
    return ModelFileError(f"Label file {path} is malformed: {detail}; {REINSTALL_HINT}.", code="labels_malformed")


def _check_count(path: Path, found: int, expected: int | None) -> None:
    if expected is not None and found != expected:
        raise _malformed(path, f"expected {expected} entries, found {found}")


def _indexed_rows(path: Path) -> list[tuple[str, int]]:
    """Rows of the form `<name> <index>`, with indices required to be 0..n-1 in order."""
    rows = []
    for number, line in enumerate(_lines(path), start=1):
        name, _, index = line.rpartition(" ")
        if not name or not index.isdigit():
            raise _malformed(path, f"line {number} is {line!r}, expected '<name> <index>'")
        rows.append((name, int(index)))
    for position, (_, index) in enumerate(rows):
        if index != position:
            raise _malformed(path, f"entry {position + 1} has index {index}, expected {position}")
    return rows


def category_name(raw: str) -> str:
    """`/a/apartment_building/outdoor` -> `apartment_building/outdoor` (the demo's display form).

    The ImageNet rows of `categories_hybrid1365.txt` read `n01440764 tench, Tinca tinca`: the
    WordNet id goes and the first synonym stays (`tench`).
    """
    if raw.startswith("/") and len(raw) > 3 and raw[2] == "/":
        return raw[3:]
    wordnet_id, _, names = raw.partition(" ")
    if len(wordnet_id) == 9 and wordnet_id[0] == "n" and wordnet_id[1:].isdigit() and names:
        return names.split(",")[0].strip()
    return raw


def read_categories(path: Path, expected: int | None = 365) -> tuple[str, ...]:
    rows = _indexed_rows(path)
    _check_count(path, len(rows), expected)
    return tuple(category_name(name) for name, _ in rows)


def read_io_labels(path: Path, expected: int | None = 365) -> tuple[int, ...]:
    """IO_places365.txt says 1 for indoor and 2 for outdoor; we keep 0 = indoor, 1 = outdoor."""
    labels = []
    for number, line in enumerate(_lines(path), start=1):
        _, _, value = line.rpartition(" ")
        if value not in ("1", "2"):
            raise _malformed(path, f"line {number} is {line!r}, expected a trailing 1 (indoor) or 2 (outdoor)")
        labels.append(INDOOR if value == "1" else OUTDOOR)
    _check_count(path, len(labels), expected)
    return tuple(labels)


def read_attribute_names(path: Path, expected: int | None = 102) -> tuple[str, ...]:
    names = tuple(_lines(path))
    _check_count(path, len(names), expected)
    if len(set(names)) != len(names):
        raise _malformed(path, "attribute names repeat")
    return names


@dataclass(frozen=True)
class PlacesLabels:
    categories: tuple[str, ...]
    io: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.categories) != len(self.io):
            raise ValueError(f"{len(self.categories)} categories but {len(self.io)} IO labels")
