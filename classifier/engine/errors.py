"""Named domain errors: a short machine-readable ``code`` and a message in plain words.

The code is the contract (the API's ``"code"`` field; e.g. ``weights_missing``, ``url_refused``,
``file_too_large``); what it means to a presenter is the presenter's business: the web layer
maps codes to HTTP statuses in one table (``classifier/http_errors.py``), the commands print
the message (``classifier/management/base.py``).
"""

import os
from pathlib import Path


class SceneWebError(Exception):
    code = "error"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class ModelFileError(SceneWebError):
    """A weight or label file is missing, truncated or not what it claims to be."""

    code = "model_file"


class WeightsMissing(ModelFileError):
    code = "weights_missing"


def unreadable(what: str, path: Path, exc: OSError, hint: str) -> ModelFileError:
    """A model file that is there but cannot be read, said as such: a permission problem is fixed
    with chmod or chown, not by downloading the file again."""
    if not isinstance(exc, PermissionError):
        return ModelFileError(f"{what} {path} cannot be read ({exc.strerror or exc}); {hint}.", code="model_unreadable")
    try:
        info = os.stat(path)
        owner = f"owner uid {info.st_uid}, mode {info.st_mode & 0o777:04o}"
    except OSError:
        owner = "its folder may not be entered"
    return ModelFileError(
        f"{what} {path} cannot be read: permission denied ({owner}; this process runs as uid {os.geteuid()}). "
        f"Make it readable by that user (`chmod 644` the file, `chmod 755` its folders, or chown them); "
        "the file itself may be fine.",
        code="model_unreadable",
    )


class ImageRejected(SceneWebError):
    """The bytes are not an image we accept (format, size, corruption)."""

    code = "image_rejected"


class OptionInvalid(SceneWebError):
    """An analysis option out of range (`top_k`, `cam_class`): the caller's mistake, whoever called."""

    code = "option_invalid"


class UrlRefused(SceneWebError):
    """A user-supplied URL points somewhere we will not fetch from."""

    code = "url_refused"


class FetchFailed(SceneWebError):
    """A permitted URL could not be fetched (timeout, HTTP error, too large)."""

    code = "fetch_failed"


class DownloadFailed(SceneWebError):
    """Installing a model file from its public address failed."""

    code = "download_failed"


class DatasetError(SceneWebError):
    """A training or evaluation data set is missing, incomplete or not in the expected layout."""

    code = "dataset_invalid"


class SourceUnreadable(SceneWebError):
    """A path given for analysis is not a readable regular file (a device, a FIFO, a dangling link...)."""

    code = "unreadable"
