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
from django.shortcuts import render
from django.urls import reverse
from django.views import csrf as csrf_views
from django.views import defaults
from django.views.decorators.csrf import ensure_csrf_cookie
from django_plotly_dash import views as dash_views

from classifier import gallery, metrics
from classifier.api_request import AnalyzeOptions, Photo, analyze_options, json_body, parsed_json, request_photos
from classifier.apikeys import api_client
from classifier.apps import PROCESS_STARTED
from classifier.clients import client_address
from classifier.decorators import api_view
from classifier.engine.analyzer import SceneAnalyzer
from classifier.engine.errors import SceneWebError
from classifier.engine.imaging import decode_image
from classifier.http_errors import error_body, error_response, http_status, suspicious_request_error
from classifier.openapi import openapi_document
from classifier.panel.app import APP_NAME
from classifier.ratelimit import take_rate_slot
from classifier.readiness import OK, readiness
from classifier.requestlog import log_field, log_refusal
from classifier.runtime import get_analyzer, image_limits

logger = logging.getLogger("sceneweb.panel")

JSON_PATHS = ("/api/", "/django_plotly_dash/")  # machine endpoints: errors as JSON, never an HTML page
VERSIONED_PACKAGES = ("torch", "torchvision", "django", "dash", "django-plotly-dash", "pillow")


# -- the API -----------------------------------------------------------------------------------


@api_view("POST")
def analyze(request: HttpRequest) -> JsonResponse:
    """One photo answers its analysis; several answer {"results": [...]}, each an analysis or its own
    error. Each photo takes a slot of the client's rate limit (its API key's, when keys are required)
    when its turn comes."""
    client = api_client(request) or client_address(request)
    analyzer = get_analyzer()
    body = json_body(request) if request.content_type == "application/json" else None
    options = analyze_options(request, body, analyzer)
    photos, several = request_photos(request, body)
    if not several:
        return JsonResponse(analyze_photo(analyzer, photos[0], options, client))
    results = []
    for photo in photos:
        try:
            results.append(analyze_photo(analyzer, photo, options, client))
        except SceneWebError as exc:
            results.append({"error": exc.message, "code": exc.code, "status": http_status(exc)})
    return JsonResponse({"results": results})


def analyze_photo(analyzer: SceneAnalyzer, photo: Photo, options: AnalyzeOptions, client: str) -> dict:
    take_rate_slot(client)
    with metrics.analysis_in_flight():
        decoded = decode_image(photo(), image_limits())
        analysis = analyzer.analyze(
            decoded, heatmap=options.heatmap, cam_class=options.cam_class, outputs=options.outputs, top_k=options.top_k
        )
    metrics.observe_timings(analysis.timings_ms)
    return options.select(analysis.to_dict())


@api_view("GET", "HEAD")
def openapi_json(request: HttpRequest) -> JsonResponse:
    return JsonResponse(openapi_document())


def api_docs(request: HttpRequest) -> HttpResponse:
    """Swagger UI over /api/openapi.json; its settings travel as JSON data, not as an inline script."""
    swagger = {"url": reverse("openapi"), "layout": "BaseLayout", "deepLinking": True}
    return render(request, "api_docs.html", {"swagger_settings": json.dumps(swagger).replace("<", "\\u003c")})


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


@api_view("GET", "HEAD")
def ready(request: HttpRequest) -> JsonResponse:
    """Readiness, for the load balancer: 503 until the models are loaded and the shared cache answers."""
    checks = readiness()
    is_ready = all(result == OK for result in checks.values())
    answer = {"status": "ready" if is_ready else "not_ready", "checks": checks}
    return JsonResponse(answer, status=200 if is_ready else 503)


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, for SCENEWEB_METRICS_ALLOWED addresses or the token; nobody else sees it."""
    if request.method not in ("GET", "HEAD") or not metrics.may_read(request):
        return not_found(request, None)
    analyzer = get_analyzer()
    metrics.record_models(analyzer.models, analyzer.inference.mode)
    return metrics.exposition()


# -- the page ----------------------------------------------------------------------------------


@ensure_csrf_cookie  # the panel's renderer sends it back with every update (settings.CSRF_COOKIE_NAME)
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "index.html")


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
    if not well_formed_update(parsed_json(request.body)):
        raise PanelRequestRefused("This is not a panel update the page would send; please reload the page.")
    try:
        return dash_views.update(request, ident, stateless=True)
    except (DashException, KeyError, IndexError, TypeError, ValueError, AttributeError, RecursionError) as exc:
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


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's own refusals (a Host not allowed, too many form fields or file parts): one log line,
    no traceback (settings.LOGGING quiets django.security), and JSON on the machine endpoints."""
    error = suspicious_request_error(exception)
    if request.path.startswith(JSON_PATHS):
        return error_response(request, error)
    log_refusal(request, error, 400)
    return defaults.bad_request(request, exception)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(JSON_PATHS):
        return JsonResponse(error_body(f"There is nothing at {request.path}.", "not_found"), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """Unexpected failures: logged by Django with the traceback; the client gets only plain words."""
    if request.path.startswith(JSON_PATHS):
        return JsonResponse(error_body("Something went wrong on our side; please try again.", "internal"), status=500)
    return defaults.server_error(request)
