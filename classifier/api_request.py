"""What a call to /api/analyze asks for: its options (outputs, top_k, heatmap, cam_class) and its photos.

The query string and the JSON body use the same names (`api_schema.AnalyzeQuery`); a photo is a
function that yields its bytes, so each of several photos fails, or not, on its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError

from classifier import sources
from classifier.api_schema import OUTPUT_NAMES
from classifier.engine.analyzer import ON_REQUEST, OUTPUTS, SceneAnalyzer
from classifier.engine.errors import SceneWebError

FALSE_WORDS = {"0", "false", "no", "off"}
# The analysis JSON's keys that each output fills; `timings_ms` and `models` always come.
OUTPUT_KEYS = {
    "scenes": ("scenes", "custom"),
    "io": ("io",),
    "attributes": ("attributes", "attributes_note"),
    "cam": ("cam", "cams"),
    "heatmap": ("cam",),
    "attribute_maps": ("attribute_maps",),
}
ALWAYS_KEYS = ("timings_ms", "models", "summary")

Photo = Callable[[], bytes]


@dataclass(frozen=True)
class AnalyzeOptions:
    """`SceneAnalyzer.analyze`'s own arguments, by their names (the view passes them as they are)."""

    outputs: frozenset[str]
    top_k: int | None
    heatmap: bool
    cam_class: int | None

    def select(self, analysis: dict) -> dict:
        """The analysis JSON with only the asked-for parts (all of it by default)."""
        if self.outputs == OUTPUTS:
            return analysis
        keys = {key for name in self.outputs for key in OUTPUT_KEYS[name]} | set(ALWAYS_KEYS)
        return {key: value for key, value in analysis.items() if key in keys}


def parsed_json(raw: bytes) -> object:
    """A request body as JSON; malformed or absurdly nested (RecursionError) is the client's mistake."""
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise SceneWebError("The request body is not valid JSON (or is nested too deeply).", code="bad_json") from None


def json_body(request: HttpRequest) -> dict:
    body = parsed_json(request.body)
    if not isinstance(body, dict):
        raise SceneWebError('Send a JSON object: {"url": "https://..."} or {"sample": "name.jpg"}.', code="bad_json")
    return body


def outputs_param(raw: object) -> frozenset[str]:
    names = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise SceneWebError(f"outputs is a list of {', '.join(OUTPUT_NAMES)}.", code="outputs_invalid")
    wanted = frozenset(name.strip() for name in names if name.strip())
    if unknown := sorted(wanted - set(OUTPUT_NAMES)):
        raise SceneWebError(
            f"outputs may name {', '.join(OUTPUT_NAMES)}; not {', '.join(unknown)[:80]!r}.", code="outputs_invalid"
        )
    if unavailable := sorted(wanted - OUTPUTS - ON_REQUEST):
        raise SceneWebError(f"{', '.join(unavailable)} is not available on this server.", code="output_unavailable")
    return wanted or OUTPUTS


def analyze_options(request: HttpRequest, body: dict | None, analyzer: SceneAnalyzer) -> AnalyzeOptions:
    """The options from the query string, or from the JSON body under the same names."""

    def given(name: str) -> object:
        return (body or {}).get(name, request.GET.get(name))

    outputs, heatmap = given("outputs"), given("heatmap")
    top_k, cam_class = analyzer.checked_options(given("top_k"), given("cam_class"))
    return AnalyzeOptions(
        outputs=OUTPUTS if outputs in (None, "") else outputs_param(outputs),
        top_k=top_k,
        heatmap=heatmap is None or (heatmap is not False and str(heatmap).strip().lower() not in FALSE_WORDS),
        cam_class=cam_class,
    )


def source_photo(item: object) -> Photo:
    """A JSON `{"url": ...}` or `{"sample": ...}`, read when the photo's turn comes."""
    if isinstance(item, dict) and "url" in item:
        return lambda: sources.url_bytes(item["url"])
    if isinstance(item, dict) and "sample" in item:
        return lambda: sources.sample_bytes(item["sample"])

    def missing() -> bytes:
        raise SceneWebError('Send {"url": "https://..."} or {"sample": "name.jpg"}.', code="no_image")

    return missing


def request_photos(request: HttpRequest, body: dict | None) -> tuple[list[Photo], bool]:
    """The photos of the request, in order, and whether it sent several (then the answer is a list)."""
    if body is not None and "images" in body:
        items = body["images"]
        if not isinstance(items, list) or not items:
            raise SceneWebError('"images" is a list of {"url": ...} or {"sample": ...} objects.', code="no_image")
        return checked_count([source_photo(item) for item in items]), True
    if body is not None:
        return [source_photo(body)], False
    try:
        uploads = request.FILES.getlist("image")
    except MultiPartParserError:
        raise SceneWebError("The multipart upload is malformed.", code="bad_multipart") from None
    if not uploads:
        raise SceneWebError(
            "Send the photo as the multipart field `image` (curl -F image=@photo.jpg), or JSON with `url` or `sample`.",
            code="no_image",
        )
    return checked_count([upload.read for upload in uploads]), len(uploads) > 1


def checked_count(photos: list[Photo]) -> list[Photo]:
    limit = settings.SCENEWEB_MAX_IMAGES_PER_REQUEST
    if len(photos) > limit:
        raise SceneWebError(
            f"{len(photos)} photos in one request; at most {limit} (SCENEWEB_MAX_IMAGES_PER_REQUEST).",
            code="too_many_images",
        )
    return photos
