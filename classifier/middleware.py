"""Middleware in front of every answer: the request-size limit, framing, the Content-Security-Policy,
and the missing-collectstatic answer."""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from classifier.checks import missing_static_manifest, static_files_hint
from classifier.engine.errors import SceneWebError
from classifier.http_errors import error_response

PANEL_PATH = "/django_plotly_dash/"
log = logging.getLogger("sceneweb")


class RequestTooLarge(SceneWebError):
    code = "request_too_large"


class LengthRequired(SceneWebError):
    code = "length_required"


class RequestSizeLimit:
    """Answers 413 before Django reads a body larger than any image may come in (declared length).

    Django itself reads no more than the declared length, so an undeclared body is no way around it:
    a chunked body (no Content-Length) would be read as empty, so it is answered 411 instead of
    "no image"."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            return error_response(
                request,
                LengthRequired(
                    "Send the request with a Content-Length header (this server does not read chunked bodies); "
                    "curl -F image=@photo.jpg does."
                ),
            )
        limit = settings.SCENEWEB_MAX_REQUEST_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads no body for a malformed length
        if length > limit:
            return error_response(
                request,
                RequestTooLarge(
                    f"The request is {length / 2**20:.1f} MB; images may be at most "
                    f"{settings.SCENEWEB_MAX_UPLOAD_MB} MB."
                ),
            )
        return self.get_response(request)


class PanelFramesSameOrigin:
    """The site refuses to be framed (X_FRAME_OPTIONS = "DENY"), except the Dash panel's own pages:
    django-plotly-dash serves them into an iframe of our page, so they say SAMEORIGIN.

    Listed after XFrameOptionsMiddleware, so its header is set first and that one keeps it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(PANEL_PATH):
            response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        return response


# The one inline script the page runs: django-plotly-dash's launcher of Dash's renderer (its
# `plotly_direct` tag writes it). The policy allows exactly this text by its hash; a test checks
# that every inline script of the page is allowed, and the browser tests that the page runs.
DASH_RENDERER_LAUNCHER = "var renderer = new DashRenderer();"


def script_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode("ascii") + "'"


def content_security_policy(frame_ancestors: str) -> str:
    """Scripts, styles, fonts and API calls from this site only (the panel loads nothing from elsewhere);
    images also as data: URIs (the photo and its heatmap come back inline). Dash's components write
    a few `<style>` elements and style attributes at run time, hence 'unsafe-inline' for styles
    only: styles cannot run code. No eval, no plugins, no `<base>`, forms post only here."""
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' {script_hash(DASH_RENDERER_LAUNCHER)}",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data: blob:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            f"frame-ancestors {frame_ancestors}",
        ]
    )


class ContentSecurityPolicy:
    """Django 5.2 has no CSP of its own: every answer gets the policy above (framing as X-Frame-Options
    says: nobody, or this site for the panel's own pages)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.page_policy = content_security_policy("'none'")
        self.panel_policy = content_security_policy("'self'")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = self.panel_policy if request.path.startswith(PANEL_PATH) else self.page_policy
        response.headers.setdefault("Content-Security-Policy", policy)
        return response


class StaticFilesNotCollected:
    """A page that cannot link its static files answers 503 with the missing step, not a bare 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if "staticfiles manifest" not in str(exception) or (manifest := missing_static_manifest()) is None:
            return None
        hint = static_files_hint(manifest)
        log.error("sceneweb: %s", hint)
        return HttpResponse(hint, status=503, content_type="text/plain; charset=utf-8")
