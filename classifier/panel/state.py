"""The server's side of an analysed photo: the analysis and a display-size JPEG, kept in Django's
cache (shared by the workers) under a random key. The browser holds only the key, so nothing the
server reads back from it can be a forged analysis or an oversized photo.
"""

from __future__ import annotations

import io
import re
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from PIL import Image

from classifier.gallery import jpeg_bytes
from classifier.panel.inputs import PanelRefused
from classifier.sharedcache import shared_cache

DISPLAY_SIDE = 512  # the photo travels back to the browser at most this large, once
STATE_KEY = re.compile(r"[A-Za-z0-9_-]{24}")  # what `secrets.token_urlsafe(18)` in `save_state` writes
EXPIRED = "This result has expired; please analyse the photo again."


@dataclass(frozen=True)
class PanelState:
    """What the server keeps for one analysed photo; the browser holds only the key to it."""

    analysis: dict
    photo: bytes  # the display-size JPEG this server made

    def picture(self) -> Image.Image:
        return Image.open(io.BytesIO(self.photo)).convert("RGB")


def display_jpeg(image: Image.Image) -> bytes:
    """A small JPEG of the photo for the page: the overlay is drawn over it, never over the original."""
    photo = image.copy()
    photo.thumbnail((DISPLAY_SIDE, DISPLAY_SIDE), Image.Resampling.BILINEAR)
    return jpeg_bytes(photo, quality=85)


def save_state(state: PanelState) -> str:
    """Keep `state` for SCENEWEB_PANEL_RESULT_TTL seconds (then the visitor analyses the photo again)."""
    key = secrets.token_urlsafe(18)
    stored = {"analysis": state.analysis, "photo": state.photo}
    with shared_cache("keeping a panel result"):
        cache.set(f"sceneweb:panel:{key}", stored, timeout=settings.SCENEWEB_PANEL_RESULT_TTL)
    return key


def load_state(key: object) -> PanelState:
    """The state behind a key the browser sent back; anything else is refused before any work."""
    if not isinstance(key, str) or not STATE_KEY.fullmatch(key):
        raise PanelRefused("The page sent back a result this server never issued; please reload the page.")
    with shared_cache("reading a panel result"):
        stored = cache.get(f"sceneweb:panel:{key}")
    if not isinstance(stored, dict):
        raise PanelRefused(EXPIRED, code="panel_state_expired")
    return PanelState(stored["analysis"], stored["photo"])
