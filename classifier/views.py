"""HTTP: the page, the JSON API, the gallery thumbnails, and the error pages (the panel's own door is
`classifier.panel.door`).

Views validate, call the engine, answer. Every `SceneWebError` becomes a JSON answer in one
place (`http_errors.error_response`, through `decorators.api_view`); nothing else reaches a
client, least of all a traceback.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict
from importlib.metadata import version

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views import csrf as csrf_views
from django.views import defaults
from django.views.decorators.csrf import ensure_csrf_cookie

from classifier import gallery, metrics
from classifier.api_request import AnalyzeOptions, Photo, analyze_options, json_body, request_photos
from classifier.apikeys import api_client
from classifier.apps import PROCESS_STARTED
from classifier.clients import client_address
from classifier.decorators import api_view
from classifier.engine.errors import SceneWebError
from classifier.http_errors import error_body, error_response, http_status, suspicious_request_error
from classifier.openapi import openapi_document
from classifier.ratelimit import take_rate_slot
from classifier.readiness import OK, readiness
from classifier.requestlog import log_refusal
from classifier.runtime import analyse_bytes, get_analyzer

JSON_PATHS = ("/api/", "/django_plotly_dash/")  # machine endpoints: errors as JSON, never an HTML page
VERSIONED_PACKAGES = ("torch", "torchvision", "django", "dash", "django-plotly-dash", "pillow")


# -- the API -----------------------------------------------------------------------------------


@api_view("POST")
def analyze(request: HttpRequest) -> JsonResponse:
    """One photo answers its analysis; several answer {"results": [...]}, each an analysis or its own
    error. Each photo takes a slot of the client's rate limit (its API key's, when keys are required)
    when its turn comes."""
    client = api_client(request) or client_address(request)
    take_rate_slot(client)  # every call takes a slot, as before; each further photo one more
    body = json_body(request) if request.content_type == "application/json" else None
    options = analyze_options(request, body, get_analyzer())
    photos, several = request_photos(request, body)
    if not several:
        return JsonResponse(analyze_photo(photos[0], options))
    results = []
    for number, photo in enumerate(photos):
        try:
            if number:  # the first photo's slot was taken with the call
                take_rate_slot(client)
            results.append(analyze_photo(photo, options))
        except SceneWebError as exc:
            results.append({"error": exc.message, "code": exc.code, "status": http_status(exc)})
    return JsonResponse({"results": results})


def analyze_photo(photo: Photo, options: AnalyzeOptions) -> dict:
    with metrics.analysis_in_flight():
        analysis = analyse_bytes(photo(), **asdict(options)).analysis
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
    """Liveness: 200 when the models are loaded, 503 with the reason when not (a load balancer asks
    `ready`, which also checks the shared cache).

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
    limits = {"max_upload_mb": settings.SCENEWEB_MAX_UPLOAD_MB, "max_photos": settings.SCENEWEB_PAGE_MAX_PHOTOS}
    return render(request, "index.html", limits)


@api_view("GET", "HEAD")
def sample_thumbnail(request: HttpRequest, name: str) -> HttpResponse:
    response = HttpResponse(gallery.sample_thumbnail(name), content_type="image/jpeg")
    response["Cache-Control"] = "public, max-age=3600"
    return response


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
