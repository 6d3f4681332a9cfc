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
NAME_CHARS = 80  # how much of a file name the page keeps (strip, downloads)


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
    uploads: object = None  # the `uploads` store: photos the browser checked and shrank
    attribute: object = None  # the attribute whose map is shown, if any
    wanted: object = None  # a kept result's key from the page's address (?result=KEY)


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


def uploaded_photos(value: object) -> list[tuple[str, object]]:
    """What `sceneweb.js` put in the `uploads` store, `{"photos": [{"name", "uri"}, ...]}`, as (name, data
    URI) pairs: at most SCENEWEB_PAGE_MAX_PHOTOS of them (the page says the same before sending)."""
    photos = value.get("photos") if isinstance(value, dict) else None
    if not isinstance(photos, list) or not photos or not all(isinstance(p, dict) for p in photos):
        raise PanelRefused("The photos could not be read; please choose them again.")
    limit = settings.SCENEWEB_PAGE_MAX_PHOTOS
    if len(photos) > limit:
        raise PanelRefused(f"Choose at most {limit} photos at once.")
    return [(photo_name(p.get("name")), p.get("uri")) for p in photos]


def photo_name(value: object, fallback: str = "your photo") -> str:
    """A file name for display and downloads: printable, bounded, never a path."""
    if not isinstance(value, str):
        return fallback
    name = "".join(c for c in value.replace("\\", "/").rsplit("/", 1)[-1] if c.isprintable())[:NAME_CHARS].strip()
    return name or fallback


def url_name(url: object) -> str:
    """The last part of an image address (`photo.jpg`), or a plain description."""
    path = url.split("?", 1)[0].split("#", 1)[0].rstrip("/") if isinstance(url, str) else ""
    return photo_name(path.rsplit("/", 1)[-1] if "/" in path.partition("//")[2] else "", "the photo at that address")


def photo_bytes(trigger: str | dict, upload: object, url: object) -> tuple[bytes, str]:
    """The photo's bytes and a name for it, from whichever of the ways in was used (`upload` is one
    data URI of the `uploads` store)."""
    if trigger == "upload":
        return bytes_of_data_uri(upload), "your photo"
    if trigger in ("url", "url-go"):
        return sources.url_bytes(url), url_name(url)
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
    """The slider's value as the browser sent it (a number, or the range input's short text): a number
    in [0, 1], or the default for anything else."""
    if isinstance(value, str) and len(value) < 24:
        try:
            value = float(value)
        except ValueError:
            return DEFAULT_OPACITY
    if type(value) is int:
        return 1.0 if value > 0 else 0.0  # any integer: no float() of a 401-digit one (OverflowError)
    if type(value) is not float or not math.isfinite(value):
        return DEFAULT_OPACITY
    return min(1.0, max(0.0, value))
