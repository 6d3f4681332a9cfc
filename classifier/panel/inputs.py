"""What the browser sends the panel, read and bounded before any work is done.

Nothing here is trusted: an upload is a data URI to decode, a URL or sample name goes through the
same checks as the API (`classifier.sources`), and a scene position, an opacity or a number of
bars is whatever a hand-written request put there. Each reader either returns a value in range or
raises `PanelRefused`, whose words the page shows instead of doing the work.
"""

from __future__ import annotations

import base64
import binascii
import math
from dataclasses import dataclass

from dash.exceptions import PreventUpdate
from django.conf import settings

from classifier import sources
from classifier.engine.errors import ImageRejected, SceneWebError

DEFAULT_OPACITY = 0.5


class PanelRefused(SceneWebError):
    """Something the browser sent back that the panel will not act on; shown as a message, no work done."""

    code = "panel_input_invalid"


@dataclass(frozen=True)
class PanelInputs:
    """What the browser sent with an action: every field is checked where it is used."""

    upload: object = None
    url: object = None
    key: object = None
    selected: object = None
    opacity: object = None
    shown: object = None
    bar_count: int = 0


def bytes_of_data_uri(uri: object) -> bytes:
    """What dcc.Upload sends (`data:image/jpeg;base64,...`), back to the file's bytes (the request-size
    limit has already bounded its length)."""
    if not isinstance(uri, str):
        raise ImageRejected("The file could not be read; please choose it again.", code="bad_upload")
    _, _, encoded = uri.partition(";base64,")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ImageRejected("The file could not be read; please choose it again.", code="bad_upload") from None


def photo_bytes(trigger: str | dict, upload: object, url: object) -> tuple[bytes, str]:
    """The photo's bytes and a name for it, from whichever of the three ways in was used."""
    if trigger == "upload":
        return bytes_of_data_uri(upload), "your photo"
    if trigger in ("url", "url-go"):
        return sources.url_bytes(url), "the photo at that address"
    if isinstance(trigger, dict) and trigger.get("type") == "sample":
        name = trigger.get("name")
        return sources.sample_bytes(name), f"sample {name}"
    raise PreventUpdate


def scene_index(value: object, count: int) -> int:
    """A scene position the browser sent (a bar it clicked): an integer among the `count` listed scenes."""
    if type(value) is not int or not 0 <= value < count:
        raise PanelRefused(f"Pick one of the {count} listed scenes.")
    return value


def check_bar_count(count: int) -> None:
    """A page built for another number of scene bars (an old tab, or a forged request) is told to reload."""
    if count != settings.SCENEWEB_TOP_K:
        raise PanelRefused("The page is out of date; please reload it.")


def opacity_of(value: object) -> float:
    """The slider's value as the browser sent it: a number in [0, 1], or the default for anything else."""
    if type(value) is int:
        return 1.0 if value > 0 else 0.0  # any integer: no float() of a 401-digit one (OverflowError)
    if type(value) is not float or not math.isfinite(value):
        return DEFAULT_OPACITY
    return min(1.0, max(0.0, value))
