"""The server's side of an analysed photo: the analysis and a display-size JPEG, kept in Django's
cache (shared by the workers) under a random key. The browser holds only the key, so nothing the
server reads back from it can be a forged analysis or an oversized photo.

The cache pickles what it keeps (Redis and diskcache alike), so the engine's `Analysis` is kept
as it is, dataclasses and all; an entry the cache cannot give back as one (written by another
release, say) is an expired result.
"""

from __future__ import annotations

import io
import pickle
import re
import secrets
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache
from PIL import Image

from classifier.engine.analyzer import Analysis
from classifier.engine.encoding import jpeg_bytes, thumbnail
from classifier.panel.inputs import PanelRefused
from classifier.sharedcache import shared_cache

DISPLAY_SIDE = 512  # the photo travels back to the browser at most this large, once
STATE_KEY = re.compile(r"[A-Za-z0-9_-]{24}")  # what `secrets.token_urlsafe(18)` in `save_state` writes
UNREADABLE = (pickle.UnpicklingError, AttributeError, ImportError, EOFError)
"""What unpickling a kept entry raises when the code that wrote it is gone."""
EXPIRED = "This result has expired: the server keeps results for a limited time; please analyse the photo again."


@dataclass(frozen=True)
class PanelState:
    """What the server keeps for one analysed photo; the browser holds only the key to it."""

    analysis: Analysis
    photo: bytes  # the display-size JPEG this server made
    name: str = "your photo"  # the file name (or address, or sample) it came from: strip and downloads
    display: Image.Image | None = field(default=None, compare=False, repr=False)
    """The picture `photo` was encoded from, in the process that made it (never cached): the first
    answer draws on it without decoding its own JPEG again."""

    @classmethod
    def of(cls, analysis: Analysis, image: Image.Image, name: str) -> PanelState:
        """A new photo's state: a small copy of it for the page, the overlays drawn over that copy."""
        display = thumbnail(image, DISPLAY_SIDE)
        return cls(analysis, jpeg_bytes(display, quality=85), name, display)

    def picture(self) -> Image.Image:
        return self.display if self.display is not None else Image.open(io.BytesIO(self.photo)).convert("RGB")


def save_state(state: PanelState) -> str:
    """Keep `state` for SCENEWEB_PANEL_RESULT_TTL seconds (then the visitor analyses the photo again)."""
    key = secrets.token_urlsafe(18)
    stored = {"analysis": state.analysis, "photo": state.photo, "name": state.name}
    with shared_cache("keeping a panel result"):
        cache.set(f"sceneweb:panel:{key}", stored, timeout=settings.SCENEWEB_PANEL_RESULT_TTL)
    return key


def load_state(key: object) -> PanelState:
    """The state behind a key the browser sent back; anything else is refused before any work."""
    if not isinstance(key, str) or not STATE_KEY.fullmatch(key):
        raise PanelRefused("The page sent back a result this server never issued; please reload the page.")
    with shared_cache("reading a panel result"):
        try:
            stored = cache.get(f"sceneweb:panel:{key}")
        except UNREADABLE:  # kept by a release whose classes this one does not have
            stored = None
    if not isinstance(stored, dict) or not isinstance(stored.get("analysis"), Analysis):
        raise PanelRefused(EXPIRED, code="panel_state_expired")
    return PanelState(stored["analysis"], stored["photo"], stored.get("name", "your photo"))
