"""HTTP: the page, the JSON API, the gallery thumbnails and the door to the Dash panel.

Views validate, call the engine, answer. Every `SceneWebError` becomes a JSON answer in one
place (`http_errors.error_response`, through `decorators.api_view`); nothing else reaches a
client, least of all a traceback.
"""

from __future__ import annotations

import json
import logging
import platform
import time
from collections.abc import Callable
from functools import wraps
from importlib.metadata import version

from dash.exceptions import DashException
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.views import csrf as csrf_views
from django.views import defaults
from django.views.decorators.csrf import ensure_csrf_cookie
from django_plotly_dash import views as dash_views

from classifier import gallery, sources
from classifier.apps import PROCESS_STARTED
from classifier.decorators import api_view, rate_limited
from classifier.engine.analyzer import SceneAnalyzer
from classifier.engine.errors import SceneWebError
from classifier.engine.imaging import decode_image
from classifier.http_errors import error_response
from classifier.panel.app import APP_NAME
from classifier.requestlog import log_field
from classifier.runtime import get_analyzer, image_limits

logger = logging.getLogger("sceneweb.panel")

FALSE_WORDS = {"0", "false", "no", "off"}
JSON_PATHS = ("/api/", "/django_plotly_dash/")  # machine endpoints: errors as JSON, never an HTML page
VERSIONED_PACKAGES = ("torch", "torchvision", "django", "dash", "django-plotly-dash", "pillow")


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
    """200 when the models are loaded (what a load balancer should ask); 503 with the reason when not.

    Anyone may ask, so the answer names the served models and nothing an attacker could match
    against a list of vulnerable releases; SCENEWEB_HEALTH_DETAILS adds versions and uptime."""
    analyzer = get_analyzer()
    models = analyzer.models
    answer = {
        "status": "ok",
        "models": {"scene": models["scene"]["name"], "attributes": (models["attributes"] or {}).get("name")},
    }
    if settings.SCENEWEB_HEALTH_DETAILS:
        answer |= {
            "models": models,
            "versions": {"python": platform.python_version(), **{name: version(name) for name in VERSIONED_PACKAGES}},
            "uptime_s": round(time.monotonic() - PROCESS_STARTED, 1),
        }
    return JsonResponse(answer)


# -- the page ----------------------------------------------------------------------------------


@ensure_csrf_cookie  # the panel's renderer sends it back with every update (settings.CSRF_COOKIE_NAME)
def index(request: HttpRequest) -> HttpResponse:
    limits = {"max_upload_mb": settings.SCENEWEB_MAX_UPLOAD_MB, "max_photos": settings.SCENEWEB_PAGE_MAX_PHOTOS}
    return render(request, "index.html", limits)


@api_view("GET", "HEAD")
def sample_thumbnail(request: HttpRequest, name: str) -> HttpResponse:
    response = HttpResponse(gallery.sample_thumbnail(name), content_type="image/jpeg")
    response["Cache-Control"] = "public, max-age=3600"
    return response


# -- the panel's endpoints (django-plotly-dash), behind the same checks as the API ---------------


class PanelRequestRefused(SceneWebError):
    code = "panel_request_invalid"


def panel_app(ident: str) -> None:
    if ident != APP_NAME:
        raise SceneWebError(f"There is no panel called {ident[:40]!r}.", code="not_found")


def panel_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """django-plotly-dash's read-only views (layout, dependencies, scripts) for our one app, GET only."""

    @api_view("GET", "HEAD")
    @wraps(view)
    def guarded(request: HttpRequest, ident: str, **kwargs) -> HttpResponse:
        panel_app(ident)
        return view(request, ident=ident, **kwargs)

    return guarded


def well_formed_update(body: object) -> bool:
    """The shape Dash's renderer sends: the output id, and inputs and states as {id, property, value}
    (a list of them for pattern-matching ids). The values are the callbacks' business."""
    if not isinstance(body, dict) or not isinstance(body.get("output"), str):
        return False
    for field in ("inputs", "state"):
        entries = body.get(field, [])
        if not isinstance(entries, list):
            return False
        for entry in entries:
            items = entry if isinstance(entry, list) else [entry]
            if not all(isinstance(i, dict) and "id" in i and isinstance(i.get("property"), str) for i in items):
                return False
    changed = body.get("changedPropIds", [])
    return isinstance(changed, list) and all(isinstance(c, str) for c in changed)


@api_view("POST", csrf=True)
def panel_update(request: HttpRequest, ident: str, **kwargs) -> HttpResponse:
    """The panel's callbacks. Unlike django-plotly-dash's own route this one is not CSRF-exempt (the
    renderer sends the token; see settings.CSRF_COOKIE_NAME) and takes only JSON, so another site
    can neither post a form here nor send a "simple" text/plain request without a preflight."""
    if request.content_type != "application/json":
        raise SceneWebError("The panel's updates are JSON (Content-Type: application/json).", code="json_required")
    panel_app(ident)
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise SceneWebError("The request body is not valid JSON.", code="bad_json") from None
    if not well_formed_update(body):
        raise PanelRequestRefused("This is not a panel update the page would send; please reload the page.")
    try:
        return dash_views.update(request, ident, stateless=True)
    except (DashException, KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        logger.warning("panel update refused: %s: %s", type(exc).__name__, log_field(str(exc)[:200]))
        raise PanelRequestRefused("The panel could not act on this request; please reload the page.") from None


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Django's CSRF refusal, in the API's words for the panel and the API; its own page elsewhere."""
    if request.path.startswith(JSON_PATHS):
        return error_response(
            request,
            SceneWebError(
                "This request did not come from this site's page (missing or stale security token); "
                "reload the page and try again.",
                code="csrf_failed",
            ),
        )
    return csrf_views.csrf_failure(request, reason)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(JSON_PATHS):
        return JsonResponse({"error": f"There is nothing at {request.path}.", "code": "not_found"}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """Unexpected failures: logged by Django with the traceback; the client gets only plain words."""
    if request.path.startswith(JSON_PATHS):
        return JsonResponse(
            {"error": "Something went wrong on our side; please try again.", "code": "internal"}, status=500
        )
    return defaults.server_error(request)
