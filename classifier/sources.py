"""The ways a photo comes in besides an upload (a URL, a sample name), each ending as bytes for `decode_image`.

The API view and the Dash panel both read photos through here, so a sample name or a URL is
checked the same way whichever door it came through.
"""

from __future__ import annotations

from classifier.engine.errors import SceneWebError
from classifier.engine.fetch import fetch_image
from classifier.gallery import sample_path
from classifier.runtime import fetch_policy


def sample_bytes(name: str) -> bytes:
    return sample_path(name).read_bytes()


def url_bytes(url: str) -> bytes:
    if not isinstance(url, str) or not url.strip():
        raise SceneWebError("Please give the address of an image.", code="url_missing")
    return fetch_image(url.strip(), fetch_policy())
