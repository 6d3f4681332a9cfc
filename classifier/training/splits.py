"""The split protocol both trainers follow: a dataset cut once into train, val and test with a
seed, written beside the model, and read back by every later run, resumed run and evaluation,
so the test images never move and are never trained on.

Each trainer's data module (`folders.py`, `sun_attributes.py`) has the same four functions, with
the arguments in the same order: `make_split(source, ..., seed)`, `write_split(path, split,
source)`, `read_split(path, source)` and `load_or_make_split(path, source, ..., seed)`, the last
one `load_or_make` below with that trainer's three.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

PARTS = ("train", "val", "test")

Item = TypeVar("Item")
"""What a part lists: a folder trainer's `Sample` (path and label), the database's image index."""


@dataclass(frozen=True)
class Split(Generic[Item]):
    parts: dict[str, tuple[Item, ...]]
    seed: int

    train = property(lambda self: self.parts["train"])
    val = property(lambda self: self.parts["val"])
    test = property(lambda self: self.parts["test"])

    def counts(self) -> str:
        return ", ".join(f"{len(self.parts[p])} {p}" for p in PARTS)


S = TypeVar("S", bound=Split)
Source = TypeVar("Source")


def load_or_make(
    path: Path,
    source: Source,
    *,
    make: Callable[[], S],
    read: Callable[[Path, Source], S],
    write: Callable[[Path, S, Source], None],
) -> tuple[S, bool]:
    """The split saved at `path` if there is one (whatever the seed now), else a new one, saved;
    True when it was made now."""
    if Path(path).is_file():
        return read(path, source), False
    split = make()
    write(path, split, source)
    return split, True
