"""Guards in front of the analysis: per-client rate limit, request-size limit, a log line per
refusal, and a deploy check for the test-only URL switch.

The answers themselves are made where every `SceneWebError` becomes JSON (`views.error_response`).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.core.checks import Tags, Warning, register
from django.http import HttpRequest, HttpResponse

from classifier.engine.errors import SceneWebError

logger = logging.getLogger("sceneweb.security")

RATE_WINDOW_S = 60
PANEL_PATH = "/django_plotly_dash/"


class RateLimited(SceneWebError):
    code = "rate_limited"
    status = 429

    def __init__(self, retry_after: int):
        super().__init__(f"Too many analyses from your address; please wait {retry_after} s.")
        self.retry_after = retry_after


class RequestTooLarge(SceneWebError):
    code = "request_too_large"
    status = 413


def client_address(request: HttpRequest) -> str:
    """Who is asking. Behind our TLS proxy (DJANGO_BEHIND_TLS_PROXY) the last X-Forwarded-For entry
    is the address the proxy itself saw; entries before it are whatever the client claimed."""
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        if forwarded:
            return forwarded
    return request.META.get("REMOTE_ADDR") or "unknown"


def log_refusal(request: HttpRequest, error: SceneWebError) -> None:
    """One line per refusal, key=value, the reason JSON-quoted so it stays on that line."""
    logger.warning(
        "refused code=%s status=%s client=%s method=%s path=%s reason=%s",
        error.code,
        error.status,
        client_address(request),
        request.method,
        request.path,
        json.dumps(error.message),
    )


def take_rate_slot(client: str, now: float | None = None) -> None:
    """Count one analysis for ``client`` in the current minute; raise `RateLimited` past the limit.

    A fixed one-minute window in Django's cache: cheap and shared by every thread of the
    process (and by every worker when the cache is shared).
    """
    limit = settings.SCENEWEB_RATE_LIMIT
    if limit <= 0:
        return
    now = time.time() if now is None else now
    window = int(now // RATE_WINDOW_S)
    key = f"sceneweb:rate:{window}:{client}"
    cache.add(key, 0, timeout=2 * RATE_WINDOW_S)
    try:
        count = cache.incr(key)
    except ValueError:  # the key expired between add and incr
        cache.set(key, 1, timeout=2 * RATE_WINDOW_S)
        count = 1
    if count > limit:
        raise RateLimited(retry_after=max(1, math.ceil((window + 1) * RATE_WINDOW_S - now)))


def rate_limited(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Analysis views: each call takes a slot of the client's per-minute allowance."""

    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        take_rate_slot(client_address(request))
        return view(request, *args, **kwargs)

    return guarded


class RequestSizeLimit:
    """Answers 413 before Django reads a body larger than any image may come in (declared length).

    Django itself reads no more than the declared length, so an undeclared body is no way around it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.SCENEWEB_MAX_REQUEST_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django reads no body for a malformed length
        if length > limit:
            from classifier.views import error_response  # the one place errors become answers

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


@register(Tags.security, deploy=True)
def check_private_urls_are_off(app_configs, **kwargs) -> list[Warning]:
    if not settings.SCENEWEB_ALLOW_PRIVATE_URLS:
        return []
    return [
        Warning(
            "SCENEWEB_ALLOW_PRIVATE_URLS is on: visitors' image URLs may reach this server's loopback address.",
            hint="It exists for tests; unset it (or set it to 0) in production.",
            id="sceneweb.W001",
        )
    ]
