"""Small helpers the panel's tests share: what dcc.Upload sends, and the images the panel sends back."""

from __future__ import annotations

import base64
import io

from PIL import Image

from classifier.panel.actions import Outcome


def upload_of(data: bytes, mime: str = "image/jpeg") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def image_of(uri: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(uri.partition(";base64,")[2])))


def photo_of(outcome: Outcome) -> Image.Image:
    return Image.open(io.BytesIO(outcome.state.photo))
