"""HTTP: the page, the JSON API and the gallery thumbnails.

Views validate, call the engine, answer. Every `SceneWebError` becomes a JSON answer in one
place (`error_response`); nothing else reaches a client, least of all a traceback.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from functools import wraps
from importlib.metadata import version

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt

from classifier import sources
from classifier.apps import PROCESS_STARTED
from classifier.engine.analyzer import SceneAnalyzer
from classifier.engine.errors import SceneWebError
from classifier.engine.imaging import decode_image
from classifier.runtime import get_analyzer, image_limits
from classifier.security import RateLimited, log_refusal, rate_limited

FALSE_WORDS = {"0", "false", "no", "off"}
VERSIONED_PACKAGES = ("torch", "torchvision", "django", "dash", "django-plotly-dash", "pillow")


def error_response(request: HttpRequest, exc: SceneWebError) -> JsonResponse:
    """The one place a domain error becomes an HTTP answer: plain words and a short code, 4xx or 503."""
    log_refusal(request, exc)
    response = JsonResponse({"error": exc.message, "code": exc.code}, status=exc.status)
    if isinstance(exc, RateLimited):
        response["Retry-After"] = str(exc.retry_after)
    return response


def api_view(*methods: str) -> Callable:
    """JSON endpoints: only `methods`, no CSRF cookie needed (no session state is used), errors as JSON."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @csrf_exempt
        @wraps(view)
        def answer(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            try:
                if request.method not in methods:
                    raise SceneWebError(
                        f"Use {' or '.join(methods)} for {request.path}.", code="method_not_allowed", status=405
                    )
                return view(request, *args, **kwargs)
            except SceneWebError as exc:
                return error_response(request, exc)

        return answer

    return decorate


# -- the API -----------------------------------------------------------------------------------


def json_body(request: HttpRequest) -> dict:
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise SceneWebError("The request body is not valid JSON.", code="bad_json") from None
    if not isinstance(body, dict):
        raise SceneWebError('Send a JSON object: {"url": "https://..."} or {"sample": "name.jpg"}.', code="bad_json")
    return body


def image_from_request(request: HttpRequest) -> bytes:
    """The photo's bytes from whichever way it came: multipart `image`, JSON `url` or JSON `sample`."""
    if request.content_type == "application/json":
        body = json_body(request)
        if "url" in body:
            return sources.url_bytes(body["url"])
        if "sample" in body:
            return sources.sample_bytes(body["sample"])
        raise SceneWebError('Send {"url": "https://..."} or {"sample": "name.jpg"}.', code="no_image")
    try:
        upload = request.FILES.get("image")
    except MultiPartParserError:
        raise SceneWebError("The multipart upload is malformed.", code="bad_multipart") from None
    if upload is None:
        raise SceneWebError(
            "Send the photo as the multipart field `image` (curl -F image=@photo.jpg), or JSON with `url` or `sample`.",
            code="no_image",
        )
    return upload.read()


def cam_class_param(request: HttpRequest, analyzer: SceneAnalyzer) -> int | None:
    raw = request.GET.get("cam_class", "").strip()
    if not raw:
        return None
    classes = len(analyzer.labels.categories)
    if not raw.isdigit() or int(raw) >= classes:
        raise SceneWebError(
            f"cam_class must be a category index from 0 to {classes - 1}, not {raw[:20]!r}.", code="cam_class_invalid"
        )
    return int(raw)


@api_view("POST")
@rate_limited
def analyze(request: HttpRequest) -> JsonResponse:
    analyzer = get_analyzer()
    heatmap = request.GET.get("heatmap", "1").strip().lower() not in FALSE_WORDS
    cam_class = cam_class_param(request, analyzer)
    decoded = decode_image(image_from_request(request), image_limits())
    return JsonResponse(analyzer.analyze(decoded, heatmap=heatmap, cam_class=cam_class).to_dict())


@api_view("GET", "HEAD")
def health(request: HttpRequest) -> JsonResponse:
    """200 when the models are loaded (what a load balancer should ask); 503 with the reason when not."""
    analyzer = get_analyzer()
    return JsonResponse(
        {
            "status": "ok",
            "models": analyzer.models,
            "versions": {"python": platform.python_version(), **{name: version(name) for name in VERSIONED_PACKAGES}},
            "uptime_s": round(time.monotonic() - PROCESS_STARTED, 1),
        }
    )


# -- the page ----------------------------------------------------------------------------------


def index(request: HttpRequest) -> HttpResponse:
    return render(request, "index.html")


@api_view("GET", "HEAD")
def sample_thumbnail(request: HttpRequest, name: str) -> HttpResponse:
    response = HttpResponse(sources.sample_thumbnail(name), content_type="image/jpeg")
    response["Cache-Control"] = "public, max-age=3600"
    return response


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"error": f"There is nothing at {request.path}.", "code": "not_found"}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """Unexpected failures: logged by Django with the traceback; the client gets only plain words."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": "Something went wrong on our side; please try again.", "code": "internal"}, status=500
        )
    return defaults.server_error(request)
