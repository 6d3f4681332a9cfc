"""An actor that kills its own worker process on a marked photo, once: Ray must retry its batch."""

from __future__ import annotations

import os
from pathlib import Path

from classifier.collection.ray_runner import PhotoActor

MARK = "crash-once"


class CrashOnceActor(PhotoActor):
    def __call__(self, batch):
        for item in batch.to_pylist():
            if item["path"] and MARK in item["path"]:
                marker = Path(item["path"]).with_suffix(".crashed")
                if not marker.exists():
                    marker.write_text(str(os.getpid()))
                    os._exit(1)  # the worker process dies mid-batch, as an OOM kill would
        return super().__call__(batch)
